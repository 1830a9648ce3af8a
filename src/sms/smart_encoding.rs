//! Smart encoding: the typographic characters a word processor pastes
//! (’ ‘ “ ” – — … « » and the non-breaking space) force a whole text into
//! UCS-2, which more than halves what a part holds (a single ’ can double
//! a bill). [`smart_gsm7`] replaces exactly those, from [`SMART_TABLE`],
//! with their plain GSM-7 equivalents — and only when that makes the text
//! GSM-7 and take fewer parts; otherwise the text is sent as written. No
//! other character is ever changed.

use super::encoding::{Encoding, Limits, detect, preview};

/// Every character smart encoding replaces, with what replaces it.
pub const SMART_TABLE: &[(char, &str)] = &[
    ('\u{2019}', "'"),   // ’ right single quotation mark (apostrophe)
    ('\u{2018}', "'"),   // ‘ left single quotation mark
    ('\u{201C}', "\""),  // “ left double quotation mark
    ('\u{201D}', "\""),  // ” right double quotation mark
    ('\u{2013}', "-"),   // – en dash
    ('\u{2014}', "-"),   // — em dash
    ('\u{2026}', "..."), // … horizontal ellipsis
    ('\u{00AB}', "\""),  // « left-pointing double angle quotation mark
    ('\u{00BB}', "\""),  // » right-pointing double angle quotation mark
    ('\u{00A0}', " "),   // non-breaking space
];

fn replacement(c: char) -> Option<&'static str> {
    SMART_TABLE.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
}

/// What smart encoding does to one text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmartText {
    /// The text to send: GSM-7 with the table's characters replaced.
    pub text: String,
    /// Its parts.
    pub parts: usize,
    /// The parts the text took as written (UCS-2).
    pub parts_before: usize,
}

/// `text` with [`SMART_TABLE`]'s characters replaced, when that makes it
/// GSM-7 and take fewer parts under `limits`; `None` when it would not
/// (already GSM-7, none of the table's characters, another character that
/// needs UCS-2 anyway, or no part saved). Linear in the text.
///
/// ```
/// use crm_comms::sms::encoding::Limits;
/// use crm_comms::sms::smart_encoding::smart_gsm7;
///
/// let limits = Limits::standard(6);
/// let pasted = "Vi har åpent i dag – velkommen til Kari’s kafé!".repeat(2);
/// let smart = smart_gsm7(&pasted, &limits).unwrap();
/// assert_eq!((smart.parts_before, smart.parts), (2, 1));
/// assert!(smart.text.starts_with("Vi har åpent i dag - velkommen til Kari's kafé!"));
/// // An emoji needs UCS-2 anyway: the text is left as written.
/// assert_eq!(smart_gsm7("Kari’s kafé 🎉", &limits), None);
/// ```
#[must_use]
pub fn smart_gsm7(text: &str, limits: &Limits) -> Option<SmartText> {
    if text.is_ascii() || !text.chars().any(|c| replacement(c).is_some()) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match replacement(c) {
            Some(r) => out.push_str(r),
            None => out.push(c),
        }
    }
    if detect(&out) != Encoding::Gsm7 {
        return None;
    }
    let before = preview(text, limits).parts;
    let after = preview(&out, limits).parts;
    (after < before).then_some(SmartText {
        text: out,
        parts: after,
        parts_before: before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_table_changes_and_only_when_parts_are_saved() {
        let limits = Limits::standard(6);
        // Each table character alone in a text of 100 GSM characters:
        // UCS-2 (2 parts) becomes GSM-7 (1 part).
        for (c, r) in SMART_TABLE {
            let text = format!("{}{c}", "a".repeat(100));
            let smart = smart_gsm7(&text, &limits).unwrap_or_else(|| panic!("{c:?}"));
            assert_eq!(smart.text, format!("{}{r}", "a".repeat(100)));
            assert_eq!((smart.parts_before, smart.parts), (2, 1));
        }
        // Short texts take one part either way: nothing saved, unchanged.
        assert_eq!(smart_gsm7("Kari’s", &limits), None);
        // Characters outside the table (‚ „ ′ Cyrillic) are never touched:
        // the text stays UCS-2, as written.
        for other in ['\u{201A}', '\u{201E}', '\u{2032}', 'Ж'] {
            let text = format!("{}’{other}", "a".repeat(100));
            assert_eq!(smart_gsm7(&text, &limits), None, "{other:?}");
        }
        // Already GSM-7: nothing to do.
        assert_eq!(smart_gsm7(&"æøå ".repeat(50), &limits), None);
    }

    #[test]
    fn an_ellipsis_that_would_cost_a_part_is_left_alone() {
        let limits = Limits::standard(6);
        // 140 ellipses: 140 UCS-2 units (3 parts of 67) become 420
        // septets (3 parts of 153): nothing saved, so nothing replaced.
        let text = "…".repeat(140);
        assert_eq!(smart_gsm7(&text, &limits), None);
    }
}
