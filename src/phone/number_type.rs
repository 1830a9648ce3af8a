//! What kind of line a number is, from the numbering metadata.

use std::fmt;

/// The kind of line a number belongs to, as libphonenumber's metadata
/// tells it (its `PhoneNumberType`, without `UNKNOWN`: a number in no range
/// is refused when parsed).
///
/// ```
/// use crm_comms::phone::{DefaultCountry, PhoneNumber, PhoneNumberType};
///
/// let no: DefaultCountry = "NO".parse()?;
/// let mobile = PhoneNumber::parse("412 34 567", Some(&no))?;
/// assert_eq!(mobile.number_type(), PhoneNumberType::Mobile);
/// assert!(mobile.number_type().can_receive_sms());
/// let office = PhoneNumber::parse("22 33 44 55", Some(&no))?;
/// assert_eq!(office.number_type(), PhoneNumberType::FixedLine);
/// assert!(!office.number_type().can_receive_sms());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PhoneNumberType {
    /// A fixed line (a landline).
    FixedLine,
    /// A mobile number.
    Mobile,
    /// A number the metadata cannot place as fixed or mobile (the United
    /// States, Canada and others share ranges between them).
    FixedLineOrMobile,
    /// A freephone number (Norway's 800).
    TollFree,
    /// A premium-rate number (Norway's 820).
    PremiumRate,
    /// A shared-cost number (some of Norway's 810 range).
    SharedCost,
    /// A voice-over-IP number (Norway's 85).
    Voip,
    /// A personal number, forwarded to a fixed line or a mobile (Norway's
    /// 880, the United Kingdom's 070).
    PersonalNumber,
    /// A pager.
    Pager,
    /// A universal access number: one number for a company's lines
    /// (Norway's five-digit 0xxxx and most of its 810 range).
    Uan,
    /// A voicemail access number.
    Voicemail,
}

impl PhoneNumberType {
    /// Every type, in declaration order.
    pub const ALL: [PhoneNumberType; 11] = [
        PhoneNumberType::FixedLine,
        PhoneNumberType::Mobile,
        PhoneNumberType::FixedLineOrMobile,
        PhoneNumberType::TollFree,
        PhoneNumberType::PremiumRate,
        PhoneNumberType::SharedCost,
        PhoneNumberType::Voip,
        PhoneNumberType::PersonalNumber,
        PhoneNumberType::Pager,
        PhoneNumberType::Uan,
        PhoneNumberType::Voicemail,
    ];

    /// The type's name in `snake_case` (`fixed_line_or_mobile`), as in
    /// stored data and CLI options.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneNumberType::FixedLine => "fixed_line",
            PhoneNumberType::Mobile => "mobile",
            PhoneNumberType::FixedLineOrMobile => "fixed_line_or_mobile",
            PhoneNumberType::TollFree => "toll_free",
            PhoneNumberType::PremiumRate => "premium_rate",
            PhoneNumberType::SharedCost => "shared_cost",
            PhoneNumberType::Voip => "voip",
            PhoneNumberType::PersonalNumber => "personal_number",
            PhoneNumberType::Pager => "pager",
            PhoneNumberType::Uan => "uan",
            PhoneNumberType::Voicemail => "voicemail",
        }
    }

    /// Whether numbers of this type can usually take an SMS: mobiles,
    /// numbers that may be mobiles, personal numbers (forwarded, often to
    /// a mobile), VoIP numbers and pagers. Fixed lines, freephone,
    /// premium-rate, shared-cost, universal access and voicemail numbers
    /// cannot (a fixed line can where the operator runs a text-to-voice
    /// service; mailings can allow those explicitly).
    #[must_use]
    pub fn can_receive_sms(self) -> bool {
        matches!(
            self,
            PhoneNumberType::Mobile
                | PhoneNumberType::FixedLineOrMobile
                | PhoneNumberType::PersonalNumber
                | PhoneNumberType::Voip
                | PhoneNumberType::Pager
        )
    }
}

impl fmt::Display for PhoneNumberType {
    /// A short English description: `fixed line`, `toll-free`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhoneNumberType::FixedLine => "fixed line",
            PhoneNumberType::Mobile => "mobile",
            PhoneNumberType::FixedLineOrMobile => "fixed line or mobile",
            PhoneNumberType::TollFree => "toll-free",
            PhoneNumberType::PremiumRate => "premium rate",
            PhoneNumberType::SharedCost => "shared cost",
            PhoneNumberType::Voip => "VoIP",
            PhoneNumberType::PersonalNumber => "personal number",
            PhoneNumberType::Pager => "pager",
            PhoneNumberType::Uan => "universal access number",
            PhoneNumberType::Voicemail => "voicemail",
        })
    }
}

impl std::str::FromStr for PhoneNumberType {
    type Err = UnknownPhoneNumberType;

    /// Reads [`as_str`](PhoneNumberType::as_str)'s names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumberType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownPhoneNumberType)
    }
}

/// A name that is none of [`PhoneNumberType::as_str`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a phone number type (fixed_line, mobile, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, personal_number, pager, uan, voicemail)"
)]
pub struct UnknownPhoneNumberType;
