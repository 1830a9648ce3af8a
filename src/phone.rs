//! Phone numbers: parse what users type, validate, and give the forms the
//! gateways and call links need.
//!
//! [`PhoneNumber`] is a small `Copy` value holding a validated number in
//! E.164 form. Everything else in the crate (call links, SMS recipients)
//! takes a `PhoneNumber`, so a string that is not a number never reaches a
//! gateway or a link.
//!
//! # What "valid" means here
//!
//! A number is accepted when its country calling code exists and the length
//! of its national significant number is one that numbers of that country can
//! have (libphonenumber's "possible number" check). That is deliberately the
//! check SMS gateways themselves make: range-by-range validation rejects
//! numbers in newly opened ranges until the metadata catches up. Callers who
//! want the stricter check can ask [`PhoneNumber::is_valid_strict`].
//!
//! # The default country
//!
//! The CRM's SMS settings have a "default country code for numbers typed
//! without one". Every parse takes it as an explicit [`DefaultCountry`]
//! (a region such as `NO` or a calling code such as `47`); there is no global.
//!
//! # Which `phonenumber` and why
//!
//! The only line of the `phonenumber` crate on crates.io is 0.3; we require
//! 0.3.10, which has the fixes for both RFC 3966 panic advisories
//! (GHSA-whhr-7f2w-qqj2 and GHSA-mjw4-jj88-v687; regression tests for the
//! crafted inputs are in this module). That line keeps its compiled regexes in
//! a cache behind one mutex, so concurrent parses queue on it (upstream issue
//! #103); the fix for that on upstream's main branch loads every regex
//! eagerly, at a reported ~570 MB resident (upstream #107), and is not
//! released. We therefore keep 0.3.10 and avoid the dependency entirely for
//! input that is already canonical E.164 (the usual case for stored numbers):
//! [`PhoneNumber::parse`] recognises it with a table built once from the
//! metadata, giving exactly the result of the full parse (a property test
//! checks this on generated numbers) without touching the mutex.
//! Inputs longer than [`MAX_INPUT_LEN`] are refused before the dependency
//! sees them.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use arrayvec::ArrayString;
use phonenumber::country::Id as RegionId;
use phonenumber::metadata::DATABASE;

/// Longest input accepted by the parsers, in bytes. Longer input is refused
/// with [`PhoneErrorKind::TooLong`] before any parsing happens.
pub const MAX_INPUT_LEN: usize = 64;

/// Most digits an E.164 number can have (country code included).
const MAX_E164_DIGITS: usize = 15;

/// A validated phone number, stored in E.164 form (`+4722334455`).
///
/// Build one with [`PhoneNumber::parse`] (with the CRM's default country for
/// numbers typed without one) or with [`FromStr`], which requires an
/// international number.
///
/// `Display` prints E.164. `Debug` masks the middle digits, so a number that
/// ends up in a log line is not personal data in full.
///
/// ```
/// use crm_comms::phone::{DefaultCountry, PhoneNumber};
///
/// let norway: DefaultCountry = "NO".parse()?;
/// let n = PhoneNumber::parse("22 33 44 55", Some(&norway))?;
/// assert_eq!(n.e164(), "+4722334455");
/// assert_eq!(n.digits(), "4722334455");
/// assert_eq!(n.country_code(), 47);
/// assert_eq!(n.national_significant(), "22334455");
/// assert_eq!(n.rfc3966(), "tel:+47-22-33-44-55");
/// assert_eq!(format!("{n:?}"), "PhoneNumber(+472*****55)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    /// `+` followed by up to 15 ASCII digits.
    e164: ArrayString<{ MAX_E164_DIGITS + 1 }>,
    cc_len: u8,
}

impl PhoneNumber {
    /// Parses what a user typed.
    ///
    /// Accepts international numbers (`+47 22 33 44 55`, `0047 22334455`,
    /// `+47 (0)22 33 44 55`), and national numbers (`22 33 44 55`,
    /// `(0)22-33.44.55`) when a default country is given. Spaces, dots,
    /// dashes and parentheses are visual separators.
    ///
    /// # Errors
    ///
    /// A [`PhoneError`] whose [`kind`](PhoneError::kind) says what is wrong
    /// and whose message names the input with its middle digits masked.
    pub fn parse(input: &str, default: Option<&DefaultCountry>) -> Result<Self, PhoneError> {
        if let Some(fast) = fast_e164(input) {
            return Ok(fast);
        }
        full_parse(input, default)
    }

    /// The number in E.164 form, e.g. `+4722334455`.
    #[must_use]
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The digits without the leading `+`, e.g. `4722334455` (`PSWinCom`'s
    /// receiver form).
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.e164()[1..]
    }

    /// The country calling code, e.g. `47`.
    #[must_use]
    pub fn country_code(&self) -> u16 {
        self.e164()[1..1 + self.cc_len as usize]
            .parse()
            .unwrap_or_default()
    }

    /// The national significant number: the digits after the country code,
    /// e.g. `22334455`.
    #[must_use]
    pub fn national_significant(&self) -> &str {
        &self.e164()[1 + self.cc_len as usize..]
    }

    /// The number as it is written inside its country, e.g. `22 33 44 55`
    /// or `020 7946 0018`.
    #[must_use]
    pub fn national(&self) -> String {
        self.format(phonenumber::Mode::National)
    }

    /// The number in international format with the country's grouping, e.g.
    /// `+47 22 33 44 55`.
    #[must_use]
    pub fn international(&self) -> String {
        self.format(phonenumber::Mode::International)
    }

    /// The number as an RFC 3966 `tel:` URI, e.g. `tel:+47-22-33-44-55`.
    #[must_use]
    pub fn rfc3966(&self) -> String {
        self.format(phonenumber::Mode::Rfc3966)
    }

    /// Whether the number is in a range the metadata knows to be allocated
    /// (libphonenumber's `is_valid`), stricter than the length check every
    /// parse makes.
    #[must_use]
    pub fn is_valid_strict(&self) -> bool {
        self.as_dependency()
            .is_some_and(|n| phonenumber::is_valid(&n))
    }

    fn as_dependency(&self) -> Option<phonenumber::PhoneNumber> {
        phonenumber::parse(None, self.e164()).ok()
    }

    fn format(&self, mode: phonenumber::Mode) -> String {
        match self.as_dependency() {
            Some(n) => n.format().mode(mode).to_string(),
            None => self.e164().to_owned(),
        }
    }

    /// Builds the number from a country code and a national significant
    /// number that have already been validated.
    fn from_parts(code: u16, nsn: &str) -> Option<Self> {
        if !nsn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code = code.to_string();
        let mut e164 = ArrayString::new();
        e164.try_push('+').ok()?;
        e164.try_push_str(&code).ok()?;
        e164.try_push_str(nsn).ok()?;
        Some(PhoneNumber {
            e164,
            cc_len: code.len() as u8,
        })
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.e164())
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", mask(self.e164()))
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;

    /// Parses an international number (no default country).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s, None)
    }
}

impl serde::Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.e164())
    }
}

impl<'de> serde::Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The country assumed for numbers typed without a country code: a region
/// (`NO`) or a country calling code (`47`, `+47`).
///
/// Parsing checks that the region or code exists in the numbering metadata.
///
/// ```
/// use crm_comms::phone::DefaultCountry;
///
/// let by_region: DefaultCountry = "no".parse()?;
/// let by_code: DefaultCountry = "+47".parse()?;
/// assert_eq!(by_region, by_code);
/// assert_eq!(by_code.calling_code(), 47);
/// assert_eq!(by_code.region(), "NO");
/// assert!("XX".parse::<DefaultCountry>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefaultCountry {
    region: RegionId,
    code: u16,
}

impl DefaultCountry {
    /// The default country for a region code such as `NO` or `se`.
    ///
    /// # Errors
    ///
    /// [`PhoneErrorKind::UnknownCountry`] when the region is not in the
    /// numbering metadata.
    pub fn from_region(region: &str) -> Result<Self, PhoneError> {
        let upper = region.trim().to_ascii_uppercase();
        let unknown = || PhoneError::new(PhoneErrorKind::UnknownCountry, region);
        let id: RegionId = upper.parse().map_err(|_| unknown())?;
        let meta = DATABASE.by_id(id.as_ref()).ok_or_else(unknown)?;
        Ok(DefaultCountry {
            region: id,
            code: meta.country_code(),
        })
    }

    /// The default country for a calling code such as `47`: the main region
    /// that uses it (`1` gives `US`, `44` gives `GB`).
    ///
    /// # Errors
    ///
    /// [`PhoneErrorKind::UnknownCountry`] when no region uses the code.
    pub fn from_calling_code(code: u16) -> Result<Self, PhoneError> {
        let unknown = || PhoneError::new(PhoneErrorKind::UnknownCountry, &code.to_string());
        let metas = DATABASE.by_code(&code).ok_or_else(unknown)?;
        let meta = metas
            .iter()
            .find(|m| m.is_main_country_for_code())
            .or(metas.first())
            .ok_or_else(unknown)?;
        let region: RegionId = meta.id().parse().map_err(|_| unknown())?;
        Ok(DefaultCountry { region, code })
    }

    /// The region code, e.g. `NO`.
    #[must_use]
    pub fn region(&self) -> &str {
        self.region.as_ref()
    }

    /// The country calling code, e.g. `47`.
    #[must_use]
    pub fn calling_code(&self) -> u16 {
        self.code
    }
}

impl FromStr for DefaultCountry {
    type Err = PhoneError;

    /// Accepts a region (`NO`, `no`) or a calling code (`47`, `+47`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t.strip_prefix('+').unwrap_or(t);
        if !digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let code = digits
                .parse()
                .map_err(|_| PhoneError::new(PhoneErrorKind::UnknownCountry, s))?;
            return DefaultCountry::from_calling_code(code);
        }
        DefaultCountry::from_region(t)
    }
}

impl fmt::Display for DefaultCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.region())
    }
}

impl serde::Serialize for DefaultCountry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.region())
    }
}

impl<'de> serde::Deserialize<'de> for DefaultCountry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Code(u16),
            Text(std::borrow::Cow<'a, str>),
        }
        match Raw::deserialize(d)? {
            Raw::Code(c) => DefaultCountry::from_calling_code(c),
            Raw::Text(t) => t.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// What is wrong with a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneErrorKind {
    /// The input is empty or only separators.
    Empty,
    /// The input is longer than [`MAX_INPUT_LEN`] bytes or has more digits
    /// than any phone number.
    TooLong,
    /// The input is not a phone number at all (letters, a lone `+`, …).
    NotANumber,
    /// The number has no country code and no default country was given.
    MissingCountry,
    /// The country calling code does not exist.
    InvalidCountryCode,
    /// The number is shorter than any number of its country.
    TooShort,
    /// The number's length is not one that numbers of its country have.
    InvalidLength,
    /// The number has an extension (`ext. 12`), which cannot be dialled or
    /// texted as part of the number.
    HasExtension,
    /// A default country that is not in the numbering metadata.
    UnknownCountry,
}

impl PhoneErrorKind {
    fn describe(self) -> &'static str {
        match self {
            PhoneErrorKind::Empty => "is empty",
            PhoneErrorKind::TooLong => "is too long to be a phone number",
            PhoneErrorKind::NotANumber => "is not a phone number",
            PhoneErrorKind::MissingCountry => {
                "has no country code and no default country code was given"
            }
            PhoneErrorKind::InvalidCountryCode => "has a country code that does not exist",
            PhoneErrorKind::TooShort => "is too short for its country",
            PhoneErrorKind::InvalidLength => "has a length no number of its country has",
            PhoneErrorKind::HasExtension => "has an extension, which cannot be part of the number",
            PhoneErrorKind::UnknownCountry => "is not a known country or calling code",
        }
    }
}

/// A phone number (or default country) that could not be parsed.
///
/// The message names the input with its middle digits masked, since phone
/// numbers are personal data: `phone number "+47*****55" is too short for
/// its country`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("phone number {input:?} {}", kind.describe())]
pub struct PhoneError {
    kind: PhoneErrorKind,
    input: String,
}

impl PhoneError {
    /// Builds an error for `input` (stored masked).
    #[must_use]
    pub fn new(kind: PhoneErrorKind, input: &str) -> Self {
        PhoneError {
            kind,
            input: mask(input),
        }
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> PhoneErrorKind {
        self.kind
    }

    /// The input, with its middle digits masked and cut to 32 characters.
    #[must_use]
    pub fn masked_input(&self) -> &str {
        &self.input
    }
}

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

// ---------------------------------------------------------------------------
// The full parse.

fn full_parse(input: &str, default: Option<&DefaultCountry>) -> Result<PhoneNumber, PhoneError> {
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

// ---------------------------------------------------------------------------
// The fast path for canonical E.164 input.

/// What the fast path needs to know about one calling code.
#[derive(Clone, Default)]
struct CodeEntry {
    /// Bit `n` is set when a national significant number may have `n` digits.
    lengths: u32,
    min_len: u8,
    max_len: u8,
    /// Whether a canonical number of this code can skip the full parse.
    fast: bool,
    /// Bit `d` is set when one of `risky_prefixes` starts with digit `d`: a
    /// one-comparison filter before the prefixes themselves are looked at.
    risky_first_digit: u16,
    /// National prefixes the full parse may strip (`0`, GB's `180020`): a
    /// national number starting with one must take the full parse.
    risky_prefixes: Vec<Box<str>>,
    /// Bit `n` is set when a national number of `n` digits could be
    /// rewritten by the full parse (NANPA-style local-number rules).
    risky_len: u32,
}

struct CodeTable {
    entries: Vec<CodeEntry>,
}

impl CodeTable {
    fn get(&self, code: u16) -> Option<&CodeEntry> {
        self.entries.get(code as usize).filter(|e| e.lengths != 0)
    }
}

fn table() -> &'static CodeTable {
    static TABLE: LazyLock<CodeTable> = LazyLock::new(build_table);
    &TABLE
}

/// When the full parse may rewrite a national number, according to one
/// national-prefix pattern.
#[derive(Default)]
struct Risk {
    first_digits: u16,
    prefixes: Vec<Box<str>>,
    lengths: u32,
}

/// Reads a national-prefix-for-parsing pattern made of alternatives that are
/// either literal digit strings (`0|180020`: risky when the number starts
/// with that string) or whole-number rules such as `([2-9]\d{6})$` (risky
/// when the number has that many digits). Any other pattern gives `None`:
/// numbers of that code always take the full parse.
fn analyse_prefix_pattern(source: &str, risk: &mut Risk) -> Option<()> {
    let s = source.strip_prefix('^').unwrap_or(source);
    let s = s
        .strip_prefix("(?:")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(s);
    for alt in s.split('|') {
        if !alt.is_empty() && alt.bytes().all(|b| b.is_ascii_digit()) {
            risk.first_digits |= 1 << (alt.as_bytes()[0] - b'0');
            if !risk.prefixes.iter().any(|p| **p == *alt) {
                risk.prefixes.push(alt.into());
            }
            continue;
        }
        // `(<one digit or class>\d{N})$`
        let inner = alt.strip_prefix('(')?.strip_suffix(")$")?;
        let rest = if let Some(r) = inner.strip_prefix('[') {
            let close = r.find(']')?;
            if !r[..close].bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return None;
            }
            &r[close + 1..]
        } else if inner.as_bytes().first()?.is_ascii_digit() {
            &inner[1..]
        } else {
            return None;
        };
        let n: u32 = rest.strip_prefix("\\d{")?.strip_suffix('}')?.parse().ok()?;
        if n + 1 >= 32 {
            return None;
        }
        risk.lengths |= 1 << (n + 1);
    }
    Some(())
}

fn build_table() -> CodeTable {
    use phonenumber::Type;
    const TYPES: [Type; 12] = [
        Type::FixedLine,
        Type::Mobile,
        Type::TollFree,
        Type::PremiumRate,
        Type::SharedCost,
        Type::PersonalNumber,
        Type::Voip,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
        Type::FixedLineOrMobile,
        Type::Unknown,
    ];
    let mut entries = vec![CodeEntry::default(); 1000];
    for (code, entry) in entries.iter_mut().enumerate().skip(1) {
        let Some(metas) = DATABASE.by_code(&(code as u16)) else {
            continue;
        };
        let mut fast = true;
        let mut lengths = 0u32;
        let mut risk = Risk::default();
        for meta in &metas {
            for kind in TYPES {
                let Some(desc) = meta.descriptors().get(kind) else {
                    continue;
                };
                for &len in desc.possible_length() {
                    if len < 32 {
                        lengths |= 1 << len;
                    }
                }
            }
            if let Some(prefix) = meta.national_prefix() {
                fast &= analyse_prefix_pattern(prefix, &mut risk).is_some();
            }
            if let Some(parsing) = meta.national_prefix_for_parsing() {
                fast &= analyse_prefix_pattern(parsing.as_str(), &mut risk).is_some();
            }
        }
        if lengths == 0 {
            // Codes without length data: accept any length the full parse
            // accepts (2..=17), as libphonenumber does.
            lengths = (2..=17).fold(0, |acc, n| acc | 1 << n);
        }
        *entry = CodeEntry {
            lengths,
            min_len: lengths.trailing_zeros() as u8,
            max_len: (31 - lengths.leading_zeros()) as u8,
            fast,
            risky_first_digit: risk.first_digits,
            risky_prefixes: risk.prefixes,
            risky_len: risk.lengths,
        };
    }
    CodeTable { entries }
}

/// Recognises canonical E.164 input (`+` then digits, nothing else) whose
/// full parse is known to give the same digits back, and builds the number
/// without calling `phonenumber`. Returns `None` whenever the full parse must
/// decide (including every input the full parse would reject).
fn fast_e164(input: &str) -> Option<PhoneNumber> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn no() -> DefaultCountry {
        "NO".parse().unwrap()
    }

    #[test]
    fn digit_runs_in_gateway_texts_are_masked() {
        let cases = [
            (
                "Invalid recipient 4741000017",
                "Invalid recipient 474*****17",
            ),
            ("to +47 410 00 017.", "to +47 4** ** *17."),
            (
                "4741000017-1000@smsmail.intele.com",
                "474*******-**00@smsmail.intele.com",
            ),
            ("HTTP 503 after 12345 ms", "HTTP 503 after 12345 ms"),
            ("id 123456", "id 123*56"),
            ("", ""),
        ];
        for (input, masked) in cases {
            assert_eq!(mask_digit_runs(input), masked, "{input}");
        }
    }

    #[test]
    fn what_users_type_in_norway() {
        let cases = [
            "+47 22 33 44 55",
            "+4722334455",
            "0047 22334455",
            "0047 22 33 44 55",
            "22 33 44 55",
            "22334455",
            "22-33-44-55",
            "22.33.44.55",
            "(22) 33 44 55",
            "+47 (0)22 33 44 55",
            "+47(0)22334455",
            "tel:+47-22-33-44-55",
        ];
        for c in cases {
            let n = PhoneNumber::parse(c, Some(&no())).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(n.e164(), "+4722334455", "{c}");
        }
    }

    #[test]
    fn trunk_prefix_of_other_countries() {
        let gb: DefaultCountry = "GB".parse().unwrap();
        let n = PhoneNumber::parse("020 7946 0018", Some(&gb)).unwrap();
        assert_eq!(n.e164(), "+442079460018");
        let n = PhoneNumber::parse("+44 (0)20 7946 0018", None).unwrap();
        assert_eq!(n.e164(), "+442079460018");
        assert_eq!(n.national(), "020 7946 0018");
        assert_eq!(n.international(), "+44 20 7946 0018");
        // Italian numbers keep their leading zero.
        let n = PhoneNumber::parse("+39 06 1234 5678", None).unwrap();
        assert_eq!(n.e164(), "+390612345678");
        assert_eq!(n.national_significant(), "0612345678");
    }

    #[test]
    fn default_country_by_code_or_region() {
        let by_code: DefaultCountry = "47".parse().unwrap();
        let n = PhoneNumber::parse("90 12 34 56", Some(&by_code)).unwrap();
        assert_eq!(n.e164(), "+4790123456");
        let us: DefaultCountry = "1".parse().unwrap();
        assert_eq!(us.region(), "US");
        let se = DefaultCountry::from_region("se").unwrap();
        assert_eq!(se.calling_code(), 46);
        assert_eq!(
            "ZZ".parse::<DefaultCountry>().unwrap_err().kind(),
            PhoneErrorKind::UnknownCountry
        );
        assert_eq!(
            "999".parse::<DefaultCountry>().unwrap_err().kind(),
            PhoneErrorKind::UnknownCountry
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        let forty = "1".repeat(40);
        let long = "+".to_string() + &"4".repeat(100);
        let cases: &[(&str, PhoneErrorKind)] = &[
            ("", PhoneErrorKind::Empty),
            ("   ", PhoneErrorKind::Empty),
            ("abc", PhoneErrorKind::NotANumber),
            ("+", PhoneErrorKind::NotANumber),
            ("++", PhoneErrorKind::NotANumber),
            (&forty, PhoneErrorKind::TooLong),
            (&long, PhoneErrorKind::TooLong),
            ("+47 1234", PhoneErrorKind::TooShort),
            ("+47 123456", PhoneErrorKind::InvalidLength),
            ("+47 123456789012", PhoneErrorKind::TooLong),
            ("22334455", PhoneErrorKind::MissingCountry),
            ("+999 1234567", PhoneErrorKind::InvalidCountryCode),
            ("+47 22334455 ext. 12", PhoneErrorKind::HasExtension),
        ];
        for (input, kind) in cases {
            let e = PhoneNumber::parse(input, None).unwrap_err();
            assert_eq!(e.kind(), *kind, "{input:?}: {e}");
        }
    }

    #[test]
    fn errors_mask_the_number() {
        let e = PhoneNumber::parse("+47 1234 5678 9012", None).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains("5678"), "{msg}");
        assert!(
            msg.starts_with("phone number \"+47 1*** **** **12\""),
            "{msg}"
        );
        let n = PhoneNumber::parse("+4722334455", None).unwrap();
        assert_eq!(format!("{n:?}"), "PhoneNumber(+472*****55)");
    }

    #[test]
    fn crafted_rfc3966_inputs_from_the_advisories_do_not_panic() {
        // GHSA-whhr-7f2w-qqj2 and GHSA-mjw4-jj88-v687 shapes.
        let cases = [
            "+dwPAA;phone-context=AA",
            "+dwPAA;phone-context=+AA",
            ";phone-context=",
            "tel:;phone-context=+",
            "+0;phone-context=0",
            "tel:+1;isub=;phone-context=+1",
            "+1;phone-context=+1;phone-context=+1",
            "\u{0}+47\u{0}",
            "٣٣٣٣٣٣٣",
        ];
        for c in cases {
            for d in [None, Some(&no())] {
                let _ = PhoneNumber::parse(c, d);
            }
        }
    }

    #[test]
    fn fast_path_matches_full_parse_on_examples() {
        for c in [
            "+4722334455",
            "+4790123456",
            "+442079460018",
            "+390612345678",
            "+12125551234",
        ] {
            let full = parse_without_fast_path(c, None).unwrap();
            assert_eq!(PhoneNumber::parse(c, None).unwrap(), full, "{c}");
        }
        assert!(takes_fast_path("+4722334455"));
        assert!(!takes_fast_path("+47 22334455"));
        assert!(!takes_fast_path("004722334455"));
    }

    #[test]
    fn serde_round_trip() {
        let n = PhoneNumber::parse("+4722334455", None).unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"+4722334455\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), n);
        assert!(serde_json::from_str::<PhoneNumber>("\"abc\"").is_err());
        let d: DefaultCountry = serde_json::from_str("47").unwrap();
        assert_eq!(d.region(), "NO");
        let d: DefaultCountry = serde_json::from_str("\"NO\"").unwrap();
        assert_eq!(d.calling_code(), 47);
    }
}
