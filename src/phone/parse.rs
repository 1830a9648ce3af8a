//! Reading what a user typed into a number, step for step as
//! libphonenumber's `parse` followed by `is_valid_number` does, on our own
//! compiled metadata (see [`super::metadata`]).
//!
//! Where we deliberately read less than libphonenumber (each refused with a
//! typed error, never turned into other digits):
//! - letters: libphonenumber turns `9000abc1` into keypad digits
//!   (`90002221`) and drops a lone letter (`900 00 00O`); a typo is not a
//!   vanity number, so any letter is [`PhoneErrorKind::NotANumber`];
//! - extensions (`ext. 12`, `x12`, `;ext=12`) are
//!   [`PhoneErrorKind::HasExtension`]: an SMS cannot reach one;
//! - text before the number (`Tel: 22…`) is letters, so refused;
//! - digits of scripts other than ASCII, Arabic-Indic and full-width.
//!
//! `tests/core/phone_oracle.rs` holds this to libphonenumber's answers on
//! over 20,000 numbers typed every way people type them.

use std::borrow::Cow;

use arrayvec::ArrayString;

use super::metadata::{LengthCheck, MAX_NSN_LEN, MIN_NSN_LEN, RegionIndex, regions};
use super::{DefaultCountry, MAX_INPUT_LEN, PhoneError, PhoneErrorKind, PhoneNumber};

/// The digits of an input, normalised to ASCII (at most one per input byte).
type Digits = ArrayString<MAX_INPUT_LEN>;

/// libphonenumber's `VALID_PUNCTUATION` without `x` (a letter here), and
/// its `*`: characters that may stand between digits.
fn is_punctuation(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'..='\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF0D}'..='\u{FF0F}'
            | ' '
            | '\u{A0}'
            | '\u{AD}'
            | '\u{200B}'
            | '\u{2060}'
            | '\u{3000}'
            | '('
            | ')'
            | '\u{FF08}'
            | '\u{FF09}'
            | '\u{FF3B}'
            | '\u{FF3D}'
            | '.'
            | '['
            | ']'
            | '/'
            | '~'
            | '\u{2053}'
            | '\u{223C}'
            | '\u{FF5E}'
            | '*'
    )
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// The value of a decimal digit in the scripts we read.
fn digit_value(c: char) -> Option<u8> {
    let base = match c {
        '0'..='9' => '0',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        _ => return None,
    };
    u8::try_from(c as u32 - base as u32).ok()
}

/// What the text of a number gave: whether it started with a plus, and
/// its digits (the input's own when they need no normalising).
struct Scanned<'a> {
    plus: bool,
    digits: &'a str,
}

/// Parses `input` as libphonenumber would (with the refusals the module
/// documents) and requires the result to be a valid number.
pub(super) fn parse(
    input: &str,
    default: Option<&DefaultCountry>,
) -> Result<PhoneNumber, PhoneError> {
    let err = |kind| PhoneError::new(kind, input);
    if input.len() > MAX_INPUT_LEN {
        return Err(err(PhoneErrorKind::TooLong));
    }
    let text = rfc3966_number(input).map_err(err)?;
    let mut buf = Digits::new();
    let scanned = scan(&text, &mut buf).map_err(err)?;
    let table = regions();
    let default_region = default.and_then(|d| table.by_id(d.region()));
    if !scanned.plus && default_region.is_none() {
        return Err(err(PhoneErrorKind::MissingCountry));
    }
    let (code, nsn, from_number) = country_code(&scanned, default_region).map_err(err)?;
    let main = *table
        .for_code(code)
        .first()
        .ok_or_else(|| err(PhoneErrorKind::InvalidCountryCode))?;
    // A national number is read with the default region's metadata, a
    // number with its calling code with that code's main region's.
    let region = match default_region {
        Some(d) if !from_number => d,
        _ => main,
    };
    let compiled = table.get(region).compiled();
    if nsn.len() < MIN_NSN_LEN {
        return Err(err(PhoneErrorKind::TooShort));
    }
    let nsn: Cow<'_, str> = match compiled.strip_national_prefix(&nsn) {
        Some(stripped)
            if !matches!(
                compiled.test_length(&stripped),
                LengthCheck::TooShort | LengthCheck::LocalOnly | LengthCheck::Invalid
            ) =>
        {
            Cow::Owned(stripped.into_owned())
        }
        _ => nsn,
    };
    if nsn.len() < MIN_NSN_LEN {
        return Err(err(PhoneErrorKind::TooShort));
    }
    if nsn.len() > MAX_NSN_LEN {
        return Err(err(PhoneErrorKind::TooLong));
    }
    let Some((found, kind)) = table.region_and_type(code, &nsn) else {
        let why = match table.get(main).compiled().test_length(&nsn) {
            LengthCheck::TooShort => PhoneErrorKind::TooShort,
            LengthCheck::TooLong => PhoneErrorKind::TooLong,
            LengthCheck::Invalid | LengthCheck::LocalOnly => PhoneErrorKind::InvalidLength,
            LengthCheck::Possible => PhoneErrorKind::NotInUse,
        };
        return Err(err(why));
    };
    PhoneNumber::from_parts(code, &nsn, found, kind).ok_or_else(|| err(PhoneErrorKind::TooLong))
}

/// The number part of an RFC 3966 `tel:` URI (with a global
/// `phone-context` put in front), or the input itself.
fn rfc3966_number(input: &str) -> Result<Cow<'_, str>, PhoneErrorKind> {
    let trimmed = input.trim();
    let Some(rest) = trimmed
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tel:"))
        .map(|_| &trimmed[4..])
    else {
        return Ok(Cow::Borrowed(input));
    };
    let mut parts = rest.split(';');
    let number = parts.next().unwrap_or_default();
    let mut context = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.eq_ignore_ascii_case("ext") {
            return Err(PhoneErrorKind::HasExtension);
        } else if name.eq_ignore_ascii_case("phone-context") {
            context = Some(value);
        } else if !name.eq_ignore_ascii_case("isub") {
            return Err(PhoneErrorKind::NotANumber);
        }
    }
    match context {
        // A global number's context is its calling code.
        Some(c) if c.starts_with('+') => Ok(Cow::Owned(format!("{c}{number}"))),
        // A domain name says nothing about the digits (libphonenumber
        // ignores it too); an empty context is malformed.
        Some("") => Err(PhoneErrorKind::NotANumber),
        _ => Ok(Cow::Borrowed(number)),
    }
}

/// libphonenumber's extraction, viability check and normalisation, with
/// letters refused.
fn scan<'a>(text: &'a str, buf: &'a mut Digits) -> Result<Scanned<'a>, PhoneErrorKind> {
    // What most stored numbers are: `+` and ASCII digits, or ASCII digits
    // only. The general reading below gives the same for them.
    let (plus, rest) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.len() >= 3 && rest.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Scanned { plus, digits: rest });
    }
    if text
        .chars()
        .any(|c| c.is_numeric() && digit_value(c).is_none())
    {
        // Digits of other scripts, fractions, numerals.
        return Err(PhoneErrorKind::NotANumber);
    }
    if text.chars().any(|c| c.is_alphabetic() || c == '#') {
        return Err(if looks_like_extension(text) {
            PhoneErrorKind::HasExtension
        } else {
            PhoneErrorKind::NotANumber
        });
    }
    if text.chars().all(|c| c.is_whitespace() || is_punctuation(c)) {
        return Err(PhoneErrorKind::Empty);
    }
    // From the first plus or digit, without trailing punctuation.
    let start = text
        .find(|c: char| is_plus(c) || digit_value(c).is_some())
        .ok_or(PhoneErrorKind::NotANumber)?;
    let body = text[start..].trim_end_matches(|c: char| digit_value(c).is_none());
    let mut chars = body.chars().peekable();
    let mut plus = false;
    while chars.next_if(|&c| is_plus(c)).is_some() {
        plus = true;
    }
    let digits = buf;
    for c in chars {
        if let Some(d) = digit_value(c) {
            digits
                .try_push(char::from(b'0' + d))
                .map_err(|_| PhoneErrorKind::TooLong)?;
        } else if !is_punctuation(c) {
            return Err(PhoneErrorKind::NotANumber);
        }
    }
    // libphonenumber's `VALID_PHONE_NUMBER`: two digits alone, or at least
    // three among punctuation.
    let two_alone = !plus && digits.len() == 2 && body.chars().count() == 2;
    if digits.len() < 3 && !two_alone {
        return Err(if digits.is_empty() {
            PhoneErrorKind::NotANumber
        } else {
            PhoneErrorKind::TooShort
        });
    }
    Ok(Scanned {
        plus,
        digits: digits.as_str(),
    })
}

/// Whether text with letters reads as a number with an extension
/// (`… ext. 12`, `… x12`, `… #12`, `… anexo 12`).
fn looks_like_extension(text: &str) -> bool {
    let lower = text.to_lowercase();
    let trimmed = lower.trim_end().trim_end_matches('#');
    let head = trimmed.trim_end_matches(|c: char| c.is_ascii_digit());
    if head.len() == trimmed.len() || trimmed.len() - head.len() > 7 {
        return false;
    }
    let head = head.trim_end_matches([' ', '.', ':', '=', '\u{A0}']);
    let Some(before) = [
        "extension",
        "extn",
        "ext",
        "anexo",
        "doml",
        "x",
        "#",
        "int",
        "~",
    ]
    .iter()
    .find_map(|marker| head.strip_suffix(marker)) else {
        return false;
    };
    let before = before.trim_end_matches([' ', ',', ';', '\u{A0}']);
    !before.is_empty()
        && !before.chars().any(char::is_alphabetic)
        && before.chars().filter(|c| digit_value(*c).is_some()).count() >= 3
}

/// libphonenumber's `_maybe_extract_country_code` (with the retry after a
/// plus): the calling code and the national number.
/// The flag says whether the code came from the number (a plus, an IDD or
/// the default's code typed in front) rather than from the default.
fn country_code<'a>(
    scanned: &Scanned<'a>,
    default: Option<RegionIndex>,
) -> Result<(u16, Cow<'a, str>, bool), PhoneErrorKind> {
    let table = regions();
    let digits = scanned.digits;
    if scanned.plus {
        match code_after_idd(digits) {
            Ok((code, nsn)) => return Ok((code, Cow::Borrowed(nsn), true)),
            // libphonenumber reads the digits after a plus once more as if
            // typed without it (`+0047 …` with an IDD of `00`).
            Err(PhoneErrorKind::InvalidCountryCode) => {
                return match without_plus(digits, default)? {
                    Some((code, nsn)) => Ok((code, nsn, true)),
                    None => Err(PhoneErrorKind::InvalidCountryCode),
                };
            }
            Err(e) => return Err(e),
        }
    }
    if let Some((code, nsn)) = without_plus(digits, default)? {
        return Ok((code, nsn, true));
    }
    let region = default.ok_or(PhoneErrorKind::MissingCountry)?;
    Ok((table.get(region).code, Cow::Borrowed(digits), false))
}

/// The calling code of digits typed without a plus: after the default
/// region's international prefix, or the default's own code typed in front
/// of a national number. `None` when the digits are a national number.
fn without_plus(
    digits: &str,
    default: Option<RegionIndex>,
) -> Result<Option<(u16, Cow<'_, str>)>, PhoneErrorKind> {
    let table = regions();
    let Some(region) = default else {
        return Ok(None);
    };
    let region = table.get(region);
    let compiled = region.compiled();
    if let Some(idd) = compiled.idd_len(digits) {
        let (code, nsn) = code_after_idd(&digits[idd..])?;
        return Ok(Some((code, Cow::Borrowed(nsn))));
    }
    // The default's calling code typed without a plus (`4722334455`) is
    // taken as one only when the number is not a national number as it
    // stands (`47123456` is a Norwegian mobile) or is too long to be one.
    let code_str = code_digits(region.code);
    if let Some(rest) = digits.strip_prefix(code_str.as_str()) {
        let national = compiled
            .strip_national_prefix(rest)
            .unwrap_or(Cow::Borrowed(rest));
        if (!compiled.matches_general(digits) && compiled.matches_general(&national))
            || compiled.test_length(digits) == LengthCheck::TooLong
        {
            return Ok(Some((region.code, national)));
        }
    }
    Ok(None)
}

/// The calling code at the start of digits that followed a plus or an
/// international prefix, and the national number after it (libphonenumber:
/// too short after the prefix, or no such code).
fn code_after_idd(rest: &str) -> Result<(u16, &str), PhoneErrorKind> {
    if rest.len() <= MIN_NSN_LEN {
        return Err(PhoneErrorKind::TooShort);
    }
    let (code, len) = regions()
        .extract_code(rest)
        .ok_or(PhoneErrorKind::InvalidCountryCode)?;
    Ok((code, &rest[len..]))
}

/// A calling code's digits, without allocating or formatting machinery.
pub(super) fn code_digits(n: u16) -> ArrayString<5> {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..])
        .ok()
        .and_then(|s| ArrayString::from(s).ok())
        .unwrap_or_default()
}
