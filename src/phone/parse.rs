//! The full parse through `phonenumber`, re-read until its E.164 form is
//! stable.

use super::metadata::table;
use super::*;

pub(super) fn full_parse(
    input: &str,
    default: Option<&DefaultCountry>,
) -> Result<PhoneNumber, PhoneError> {
    let err = |kind| PhoneError::new(kind, input);
    if input.len() > MAX_INPUT_LEN {
        return Err(err(PhoneErrorKind::TooLong));
    }
    let trimmed = input.trim();
    if trimmed
        .chars()
        .all(|c| c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')' | '/'))
    {
        return Err(err(PhoneErrorKind::Empty));
    }
    let digit_count = trimmed.chars().filter(char::is_ascii_digit).count();
    if digit_count == 0 {
        return Err(err(PhoneErrorKind::NotANumber));
    }
    if digit_count > MAX_E164_DIGITS + 4 {
        // Room for an international prefix ("00", "011") and a "(0)".
        return Err(err(PhoneErrorKind::TooLong));
    }
    let cleaned = drop_trunk_marker(trimmed);
    let international = cleaned.starts_with('+') || cleaned.starts_with("00");
    if !international && default.is_none() && !cleaned.starts_with("tel:") {
        return Err(err(PhoneErrorKind::MissingCountry));
    }
    // An international number is parsed without a region: with one,
    // `phonenumber` keeps a national prefix written after the country code
    // (`+62 0741…` → `+620741…`) that it drops without (`+62741…`), so the
    // result would depend on the default country and its E.164 form would
    // not parse back to it (found by fuzzing).
    let (region, text) = if international {
        let plus = match cleaned.strip_prefix("00") {
            Some(rest) => format!("+{rest}").into(),
            None => cleaned,
        };
        (None, plus)
    } else {
        (default.map(|d| d.region), cleaned)
    };
    let parsed = phonenumber::parse(region, &text).map_err(|e| err(parse_error_kind(e)))?;
    if parsed.extension().is_some() {
        return Err(err(PhoneErrorKind::HasExtension));
    }
    let mut number = from_parsed(&parsed).map_err(err)?;
    if region.is_none() && number.e164() == text.as_ref() {
        // The input was this E.164 form, read without a region: the re-read
        // below would repeat that very parse.
        return Ok(number);
    }
    // The result must be what its own E.164 form parses to (found by
    // fuzzing): `phonenumber` can read a number's E.164 form differently —
    // when the region was given but the country code came from the input
    // (`(+4)6…`), when it strips one national prefix per parse
    // (`+86 0 000…`), or a carrier code (`+55 09…`). Re-read until stable;
    // the fast path answers for most numbers without `phonenumber`.
    for _ in 0..MAX_E164_DIGITS {
        if fast_e164(number.e164()).as_ref() == Some(&number) {
            return Ok(number);
        }
        let again = phonenumber::parse(None, number.e164())
            .map_err(|e| err(parse_error_kind(e)))
            .and_then(|p| from_parsed(&p).map_err(err))?;
        if again == number {
            return Ok(number);
        }
        number = again;
    }
    Err(err(PhoneErrorKind::NotANumber))
}

fn parse_error_kind(e: phonenumber::ParseError) -> PhoneErrorKind {
    use phonenumber::ParseError as P;
    match e {
        P::NoNumber => PhoneErrorKind::NotANumber,
        P::InvalidCountryCode => PhoneErrorKind::InvalidCountryCode,
        P::TooShortAfterIdd | P::TooShortNsn => PhoneErrorKind::TooShort,
        P::TooLong => PhoneErrorKind::TooLong,
        _ => PhoneErrorKind::NotANumber,
    }
}

/// Country code and national significant number of a parse, checked.
fn from_parsed(parsed: &phonenumber::PhoneNumber) -> Result<PhoneNumber, PhoneErrorKind> {
    let code = parsed.code().value();
    let national = parsed.national();
    let nsn = format!(
        "{}{}",
        "0".repeat(national.zeros() as usize),
        national.value()
    );
    check_length(code, nsn.len())?;
    PhoneNumber::from_parts(code, &nsn).ok_or(PhoneErrorKind::TooLong)
}

/// Removes a "(0)" trunk marker written after a country code
/// (`+47 (0)22 …`) or at the start of a national number (`(0)22 …`).
fn drop_trunk_marker(s: &str) -> std::borrow::Cow<'_, str> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(pos) = compact.find("(0)") {
        let before = &compact[..pos];
        let is_prefix = before.is_empty()
            || (before.starts_with('+') || before.starts_with("00"))
                && before[1..].bytes().all(|b| b.is_ascii_digit());
        if is_prefix {
            return format!("{}{}", before, &compact[pos + 3..]).into();
        }
    }
    s.into()
}

/// Checks the national significant number's length against the lengths
/// numbers of the calling code can have.
fn check_length(code: u16, nsn_len: usize) -> Result<(), PhoneErrorKind> {
    let Some(entry) = table().get(code) else {
        return Err(PhoneErrorKind::InvalidCountryCode);
    };
    if entry.lengths & (1u32 << nsn_len.min(31)) != 0 {
        Ok(())
    } else if nsn_len < entry.min_len as usize {
        Err(PhoneErrorKind::TooShort)
    } else if nsn_len > entry.max_len as usize {
        Err(PhoneErrorKind::TooLong)
    } else {
        Err(PhoneErrorKind::InvalidLength)
    }
}
