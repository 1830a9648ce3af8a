//! Masking personal data (phone numbers, digit runs in gateway texts) for
//! errors, logs and the emulators' records: one place, one rule.

/// Masks all but the first three and last two digits of `input` (other
/// characters are kept so the shape stays recognisable), and cuts it to 32
/// characters.
pub(crate) fn mask(input: &str) -> String {
    let total = input.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    let mut out = String::with_capacity(input.len().min(40));
    for (i, c) in input.chars().enumerate() {
        if i == 32 {
            out.push('…');
            break;
        }
        if c.is_ascii_digit() {
            seen += 1;
            if seen > 3 && seen + 2 <= total {
                out.push('*');
                continue;
            }
        }
        if c.is_control() {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` with every run of six or more digits masked as [`mask`] does
/// (spaces, dashes and dots inside a run are kept): for gateway answers
/// and transport errors that may quote a phone number, before they are
/// logged.
pub(crate) fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let mut digits = 0;
    let flush = |out: &mut String, run: &mut String, digits: &mut usize| {
        if *digits >= 6 {
            out.push_str(&mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
        *digits = 0;
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            run.push(c);
        } else if !run.is_empty() && matches!(c, ' ' | '-' | '.') {
            run.push(c);
        } else {
            flush(&mut out, &mut run, &mut digits);
            out.push(c);
        }
    }
    flush(&mut out, &mut run, &mut digits);
    out
}
