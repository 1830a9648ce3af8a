//! The settings page's "send a test SMS" and what it tells the
//! administrator.

use std::fmt;

use super::SmsSettings;
use crate::phone::PhoneNumber;
use crate::sms::{Message, Outcome, SmsErrorKind};

/// The result of "send a test SMS", for a settings page.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// The gateway accepted the message.
    Accepted {
        /// Its reference, if the channel gives one.
        reference: Option<String>,
    },
    /// The settings are incomplete or wrong.
    SettingsInvalid(String),
    /// The number could not be parsed.
    NumberInvalid(String),
    /// The gateway rejected the user name or password.
    CredentialsRejected(String),
    /// The gateway does not accept the sender.
    SenderInvalid(String),
    /// The text cannot be sent.
    TextInvalid(String),
    /// The gateway could not be reached.
    GatewayUnreachable(String),
    /// A TLS connection could not be made.
    TlsFailure(String),
    /// The gateway is rate-limiting or holding messages.
    RateLimited(String),
    /// The gateway refused the message.
    Rejected(String),
    /// The gateway may or may not have accepted it.
    Unknown(String),
}

impl Diagnosis {
    /// Whether the test SMS was accepted.
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        matches!(self, Diagnosis::Accepted { .. })
    }

    /// A stable name for scripts (`accepted`, `settings_invalid`,
    /// `number_invalid`, `credentials_rejected`, `sender_invalid`,
    /// `text_invalid`, `gateway_unreachable`, `tls_failure`,
    /// `rate_limited`, `rejected`, `unknown`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Diagnosis::Accepted { .. } => "accepted",
            Diagnosis::SettingsInvalid(_) => "settings_invalid",
            Diagnosis::NumberInvalid(_) => "number_invalid",
            Diagnosis::CredentialsRejected(_) => "credentials_rejected",
            Diagnosis::SenderInvalid(_) => "sender_invalid",
            Diagnosis::TextInvalid(_) => "text_invalid",
            Diagnosis::GatewayUnreachable(_) => "gateway_unreachable",
            Diagnosis::TlsFailure(_) => "tls_failure",
            Diagnosis::RateLimited(_) => "rate_limited",
            Diagnosis::Rejected(_) => "rejected",
            Diagnosis::Unknown(_) => "unknown",
        }
    }

    /// Whether the gateway may have taken the message although it did not
    /// say so (do not resend blindly).
    #[must_use]
    pub fn is_unknown(&self) -> bool {
        matches!(self, Diagnosis::Unknown(_))
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnosis::Accepted { reference: Some(r) } => {
                write!(f, "accepted by the gateway (reference {r})")
            }
            Diagnosis::Accepted { reference: None } => {
                f.write_str("accepted (this channel gives no gateway reference)")
            }
            Diagnosis::SettingsInvalid(m) => write!(f, "settings are invalid: {m}"),
            Diagnosis::NumberInvalid(m) => write!(f, "the number is invalid: {m}"),
            Diagnosis::CredentialsRejected(m) => {
                write!(f, "the gateway rejected the user name or password: {m}")
            }
            Diagnosis::SenderInvalid(m) => write!(f, "the sender is not accepted: {m}"),
            Diagnosis::TextInvalid(m) => write!(f, "the text cannot be sent: {m}"),
            Diagnosis::GatewayUnreachable(m) => write!(f, "the gateway could not be reached: {m}"),
            Diagnosis::TlsFailure(m) => write!(f, "a secure (TLS) connection failed: {m}"),
            Diagnosis::RateLimited(m) => {
                write!(f, "the gateway is holding or limiting messages: {m}")
            }
            Diagnosis::Rejected(m) => write!(f, "the gateway refused the message: {m}"),
            Diagnosis::Unknown(m) => write!(
                f,
                "no clear answer; the message may have been sent, check before trying again: {m}"
            ),
        }
    }
}

/// The text of a test SMS when none is given.
pub const DEFAULT_TEST_TEXT: &str = "Test SMS from the CRM";

impl SmsSettings {
    /// The settings page's "send a test SMS": builds the provider from
    /// these settings and sends one SMS to `to` (as the administrator typed
    /// it, read with the default country) with the configured sender,
    /// priority and delivery report, and says what happened in terms the
    /// page can show. The one way to send a test SMS; to diagnose a message
    /// sent through a provider of your own, see [`Diagnosis::of`].
    pub async fn send_test_sms(&self, to: &str, text: Option<&str>) -> Diagnosis {
        let checked = match self.check() {
            Ok(c) => c,
            Err(e) => return Diagnosis::SettingsInvalid(e.to_string()),
        };
        let number = match PhoneNumber::parse(to, checked.default_country.as_ref()) {
            Ok(n) => n,
            Err(e) => return Diagnosis::NumberInvalid(e.to_string()),
        };
        let mut builder = Message::builder()
            .to(number)
            .text(text.unwrap_or(DEFAULT_TEST_TEXT))
            .priority(checked.priority)
            .delivery_report(self.delivery_report);
        if let Some(s) = checked.sender {
            builder = builder.sender(s);
        }
        let message = match builder.build() {
            Ok(m) => m,
            Err(e) => return Diagnosis::TextInvalid(e.to_string()),
        };
        let provider = match self.build_provider() {
            Ok(p) => p,
            Err(e) => return Diagnosis::SettingsInvalid(e.to_string()),
        };
        Diagnosis::of(
            provider
                .send(&message)
                .await
                .into_outcomes()
                .pop()
                .map(|o| o.outcome),
        )
    }
}

impl Diagnosis {
    /// What a settings page should say about the outcome of a test
    /// message (`None`: the provider gave no outcome, which is unknown).
    #[must_use]
    pub fn of(outcome: Option<Outcome>) -> Diagnosis {
        let e = match outcome {
            Some(Outcome::Accepted { reference }) => return Diagnosis::Accepted { reference },
            Some(Outcome::Unknown(e)) => return Diagnosis::Unknown(e.to_string()),
            Some(Outcome::Rejected(e)) => e,
            None => return Diagnosis::Unknown("the provider returned no outcome".into()),
        };
        let m = e.to_string();
        match e.kind() {
            SmsErrorKind::Unauthenticated => Diagnosis::CredentialsRejected(m),
            SmsErrorKind::InvalidSender => Diagnosis::SenderInvalid(m),
            SmsErrorKind::InvalidRecipient => Diagnosis::NumberInvalid(m),
            SmsErrorKind::TextTooLong
            | SmsErrorKind::UnsupportedText
            | SmsErrorKind::InvalidMessage => Diagnosis::TextInvalid(m),
            SmsErrorKind::InvalidConfig => Diagnosis::SettingsInvalid(m),
            SmsErrorKind::Unavailable => Diagnosis::GatewayUnreachable(m),
            SmsErrorKind::Tls => Diagnosis::TlsFailure(m),
            SmsErrorKind::RateLimited => Diagnosis::RateLimited(m),
            SmsErrorKind::Timeout => Diagnosis::Unknown(m),
            _ => Diagnosis::Rejected(m),
        }
    }
}
