//! Who a message appears to come from, and what each gateway accepts as a
//! sender.

use std::fmt;

use crate::phone::PhoneNumber;
use crate::sms::{SmsError, SmsErrorKind};

/// Who a message appears to come from.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sender {
    /// A name such as `Puzzel`: 1–11 ASCII letters, digits, spaces and
    /// `% & - + . , ! " # ' ( ) * / ? < > ;` (each gateway narrows this; see
    /// [`SenderRules`]). Recipients cannot reply to it.
    Alphanumeric(String),
    /// An international number.
    International(PhoneNumber),
    /// A short number such as `1960` (3–8 digits), needed for replies.
    Short(String),
}

impl Sender {
    /// Reads what an administrator typed as the sender: all digits of 3–8
    /// → short number; a `+` or 9+ digits → international number; anything
    /// else → an alphanumeric name.
    ///
    /// ```
    /// use crm_comms::sms::Sender;
    ///
    /// assert!(matches!(Sender::parse("1960")?, Sender::Short(_)));
    /// assert!(matches!(Sender::parse("+4799999999")?, Sender::International(_)));
    /// assert!(matches!(Sender::parse("SuperOffice")?, Sender::Alphanumeric(_)));
    /// assert!(Sender::parse("SuperOffice AS").is_err()); // 14 characters
    /// assert!(Sender::parse("Bjørn").is_err()); // no national letters
    /// # Ok::<(), crm_comms::sms::SmsError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An [`SmsError`] of kind [`SmsErrorKind::InvalidSender`] saying what is wrong.
    pub fn parse(input: &str) -> Result<Self, SmsError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid_sender("the sender is empty".into()));
        }
        let digits = s.bytes().all(|b| b.is_ascii_digit());
        if digits && (3..=8).contains(&s.len()) {
            return Ok(Sender::Short(s.to_owned()));
        }
        if s.starts_with('+') || (digits && s.len() >= 9) {
            let with_plus = if s.starts_with('+') {
                s.to_owned()
            } else {
                format!("+{s}")
            };
            return PhoneNumber::parse(&with_plus, None)
                .map(Sender::International)
                .map_err(|_| {
                    invalid_sender(
                        "the sender looks like a phone number but is not a valid international number"
                            .into(),
                    )
                });
        }
        Sender::alphanumeric(s)
    }

    /// An alphanumeric sender, validated against the widest rules any
    /// gateway accepts.
    ///
    /// # Errors
    ///
    /// An [`SmsError`] of kind [`SmsErrorKind::InvalidSender`]: over 11
    /// characters, or a character not allowed.
    pub fn alphanumeric(name: &str) -> Result<Self, SmsError> {
        SenderRules::ANY.check_alphanumeric(name)?;
        Ok(Sender::Alphanumeric(name.to_owned()))
    }

    /// The sender as text (`+4799999999` for international numbers).
    #[must_use]
    pub fn as_text(&self) -> String {
        match self {
            Sender::Alphanumeric(s) | Sender::Short(s) => s.clone(),
            Sender::International(n) => n.e164().to_owned(),
        }
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Alphanumeric(s) => write!(f, "Alphanumeric({s:?})"),
            Sender::International(n) => write!(f, "International({n:?})"),
            Sender::Short(s) => write!(f, "Short({s:?})"),
        }
    }
}

/// What a gateway accepts as an alphanumeric sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderRules {
    /// Longest alphanumeric sender.
    pub max_alphanumeric: usize,
    /// Punctuation allowed besides ASCII letters and digits.
    pub punctuation: &'static str,
    /// Whether a space is allowed.
    pub space: bool,
}

impl SenderRules {
    /// The union of the gateways' rules: what [`Sender::parse`] accepts.
    pub const ANY: SenderRules = SenderRules {
        max_alphanumeric: 11,
        punctuation: "%&-+.,!\"#'()*/?<>;",
        space: true,
    };
    /// Checks an alphanumeric sender name.
    ///
    /// # Errors
    ///
    /// As [`Sender::alphanumeric`].
    pub fn check_alphanumeric(&self, name: &str) -> Result<(), SmsError> {
        if name.is_empty() {
            return Err(invalid_sender("the sender is empty".into()));
        }
        let len = name.chars().count();
        if len > self.max_alphanumeric {
            return Err(invalid_sender(format!(
                "the sender has {len} characters; at most {} are allowed",
                self.max_alphanumeric
            )));
        }
        if let Some(c) = name.chars().find(|&c| {
            !(c.is_ascii_alphanumeric() || (c == ' ' && self.space) || self.punctuation.contains(c))
        }) {
            return Err(invalid_sender(format!(
                "the sender contains {c:?}, which senders cannot contain"
            )));
        }
        if !name.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(invalid_sender(
                "an alphanumeric sender must contain a letter".into(),
            ));
        }
        Ok(())
    }
}

/// A sender that cannot be used.
fn invalid_sender(what: String) -> SmsError {
    SmsError::before_provider(SmsErrorKind::InvalidSender, what)
}
