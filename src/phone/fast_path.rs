//! The fast path for canonical E.164 input: the full parse's answer without
//! calling `phonenumber` (and its regex-cache mutex).

use arrayvec::ArrayString;

use super::metadata::table;
use super::parse::full_parse;
use super::{DefaultCountry, MAX_E164_DIGITS, PhoneError, PhoneNumber};

/// Recognises canonical E.164 input (`+` then digits, nothing else) whose
/// full parse is known to give the same digits back, and builds the number
/// without calling `phonenumber`. Returns `None` whenever the full parse must
/// decide (including every input the full parse would reject).
pub(super) fn fast_e164(input: &str) -> Option<PhoneNumber> {
    let bytes = input.as_bytes();
    let digits = bytes.strip_prefix(b"+")?;
    if digits.len() < 4 || digits.len() > MAX_E164_DIGITS || digits[0] == b'0' {
        return None;
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let table = table();
    let mut code: u16 = 0;
    for (i, &d) in digits.iter().take(3).enumerate() {
        code = code * 10 + u16::from(d - b'0');
        if let Some(entry) = table.get(code) {
            let nsn = &digits[i + 1..];
            if !entry.fast
                || entry.lengths & (1u32 << nsn.len()) == 0
                || (entry.risky_first_digit & (1 << (nsn[0] - b'0')) != 0
                    && entry
                        .risky_prefixes
                        .iter()
                        .any(|p| nsn.starts_with(p.as_bytes())))
                || entry.risky_len & (1u32 << nsn.len()) != 0
            {
                return None;
            }
            return Some(PhoneNumber {
                e164: ArrayString::from(input).ok()?,
                cc_len: (i + 1) as u8,
            });
        }
    }
    None
}

/// The full parse, without the fast path; for tests and benchmarks that
/// compare the two.
#[doc(hidden)]
pub fn parse_without_fast_path(
    input: &str,
    default: Option<&DefaultCountry>,
) -> Result<PhoneNumber, PhoneError> {
    full_parse(input, default)
}

/// Whether `input` takes the fast path; for tests.
#[doc(hidden)]
#[must_use]
pub fn takes_fast_path(input: &str) -> bool {
    fast_e164(input).is_some()
}
