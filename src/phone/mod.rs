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
//! A number is accepted when libphonenumber would call it valid: its
//! country calling code exists and its national significant number lies in
//! one of the ranges the numbering metadata lists for that country (a
//! mobile, fixed-line, toll-free … range), not only of a possible length.
//! The metadata's own type for the range is kept: [`PhoneNumber::number_type`].
//! A number is never "repaired" into other digits: what libphonenumber
//! reads, we read, or we refuse it with a [`PhoneErrorKind`]. Letters are
//! refused (libphonenumber would read `9000abc1` as keypad digits), and so
//! are extensions.
//!
//! # The default country
//!
//! The CRM's SMS settings have a "default country code for numbers typed
//! without one". Every parse takes it as an explicit [`DefaultCountry`]
//! (a region such as `NO` or a calling code such as `47`); there is no global.
//! As in libphonenumber, the default's calling code typed in front of a
//! national number (`4722334455` with `NO`) is read as the calling code
//! only when the digits are not a national number as they stand: `47 12 34
//! 56` is a Norwegian mobile, `+4747123456`.
//!
//! # The oracle, and why not `phonenumber::parse`
//!
//! `tests/core/phone_oracle.rs` checks every parse against libphonenumber's
//! reference answers (Python `phonenumbers`, the same metadata version as
//! the `phonenumber` crate's) on over 20,000 numbers typed every way people
//! type them (`scripts/phone_oracle.py` writes them). The `phonenumber`
//! crate's own parse disagrees with libphonenumber on everyday numbers (it
//! takes the `47` of the Norwegian mobile `47123456` as the calling code),
//! and keeps its compiled regexes behind one mutex (upstream #103). So we
//! read its metadata only, compile each region's patterns once into a
//! lock-free table, and follow libphonenumber's parse and validation step
//! by step (`parse.rs`). `rlibphonenumber` (a closer port of the C++
//! library) was considered: it brings its own copy of the metadata and a
//! protobuf build step, and a second copy of the data to keep in step with
//! the one formatting uses. Formatting ([`PhoneNumber::national`], …) still
//! uses `phonenumber`, whose formatter agrees with libphonenumber.
//! Inputs longer than [`MAX_INPUT_LEN`] are refused before any parsing.

use std::fmt;
use std::str::FromStr;

use arrayvec::ArrayString;
use phonenumber::country::Id as RegionId;
use phonenumber::metadata::DATABASE;

mod metadata;
mod number_type;
mod parse;
#[cfg(test)]
mod tests;

pub(crate) use crate::mask::mask;
#[cfg(test)]
use crate::mask::mask_digit_runs;
use metadata::{RegionIndex, regions};
pub use number_type::{PhoneNumberType, UnknownPhoneNumberType};

/// Longest input accepted by the parsers, in bytes. Longer input is refused
/// with [`PhoneErrorKind::TooLong`] before any parsing happens.
pub const MAX_INPUT_LEN: usize = 64;

/// Most digits a number can have: a calling code of up to three digits and
/// a national significant number of up to 17 (libphonenumber's limits; a
/// few numbering plans exceed E.164's 15).
const MAX_E164_DIGITS: usize = 20;

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
    /// `+` followed by the calling code and the national significant number.
    e164: ArrayString<{ MAX_E164_DIGITS + 1 }>,
    cc_len: u8,
    /// The region the number belongs to (derived from the digits).
    region: RegionIndex,
    /// The kind of line (derived from the digits).
    kind: PhoneNumberType,
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
        parse::parse(input, default)
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
        self.e164()[1..=(self.cc_len as usize)]
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

    /// The kind of line: mobile, fixed line, toll-free, … (libphonenumber's
    /// number type).
    #[must_use]
    pub fn number_type(&self) -> PhoneNumberType {
        self.kind
    }

    /// The region the number belongs to, e.g. `NO`, or `SJ` for a
    /// Svalbard number under Norway's +47; `001` for non-geographic
    /// numbers (+800, +882, …).
    #[must_use]
    pub fn region(&self) -> &'static str {
        regions().get(self.region).id
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
    fn from_parts(
        code: u16,
        nsn: &str,
        region: RegionIndex,
        kind: PhoneNumberType,
    ) -> Option<Self> {
        if !nsn.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code_digits = parse::code_digits(code);
        let code = code_digits.as_str();
        let mut e164 = ArrayString::new();
        e164.try_push('+').ok()?;
        e164.try_push_str(code).ok()?;
        e164.try_push_str(nsn).ok()?;
        Some(PhoneNumber {
            e164,
            cc_len: u8::try_from(code.len()).ok()?,
            region,
            kind,
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
    /// The number has a possible length but lies in no range of its
    /// country's numbering plan (no such number is in use).
    NotInUse,
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
            PhoneErrorKind::NotInUse => "is in no number range of its country",
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
