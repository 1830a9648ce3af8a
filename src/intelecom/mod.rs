//! Intelecom (now Puzzel) SMS Gateway.
//!
//! - [`Intelecom`] (feature `intelecom`): the web-service provider
//!   (`POST {base}/gw/rs/sendMessages`, REST JSON over HTTPS with rustls).
//! - [`IntelecomMail`] (feature `smtp`): the e-mail mode ("use web service"
//!   off), one mail per recipient through an SMTP relay.
//! - [`callback`] (feature `intelecom`): delivery reports and incoming SMS
//!   (JSON, XML, GET).

//!
//! The gateway's documented facts ([`CAPABILITIES`], [`MAIL_CAPABILITIES`],
//! [`LIMITS`], [`SENDER_RULES`], [`SmtpSecurity`]) need no feature, so
//! settings pages and previews can use them in any build.

use crate::sms::encoding::Limits;
use crate::sms::{Capabilities, SenderRules};

/// The provider name in reports of the web-service client: `intelecom`.
pub const PROVIDER: &str = "intelecom";

/// How long Puzzel's uniqueness check remembers a `clientReference` (one
/// hour, as documented): a resend with it within this time is refused as
/// a duplicate (status 25), after it is sent again.
pub const DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// At most 6 parts (918 GSM-7 characters, 402 UCS-2 units).
pub const LIMITS: Limits = Limits::standard(6);

/// Alphanumeric senders: `a–z`, `0–9`, space, `% & - + . ,` (upper case
/// letters accepted: the documentation's "a–z" is read as letters).
pub const SENDER_RULES: SenderRules = SenderRules {
    max_alphanumeric: 11,
    punctuation: "%&-+.,",
    space: true,
};

/// What the web service can do, as documented (no scheduling).
pub const CAPABILITIES: Capabilities = Capabilities::none()
    .with_limits(LIMITS)
    .with_sender_rules(SENDER_RULES)
    .with_unicode(true)
    .with_delivery_reports(true)
    .with_priority(true)
    .with_custom_sender(true)
    .with_references(true)
    .with_client_references(true)
    .with_max_batch(100);

/// What the e-mail mode ("use web service" off) can do: one recipient per
/// mail, GSM-7 only, the service's own sender, no priority, reports or
/// references (see `mail`, feature `smtp`, for why each).
pub const MAIL_CAPABILITIES: Capabilities = Capabilities::none()
    .with_limits(LIMITS)
    .with_sender_rules(SENDER_RULES);

/// How the connection to an SMTP relay is secured (the e-mail mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain connection upgraded with `STARTTLS`, which is required
    /// (default; port 587).
    #[default]
    StartTls,
    /// TLS from the first byte ("SMTPS"; port 465).
    Tls,
    /// **Dangerous**: no encryption at all (port 25). Mail and any SMTP
    /// password travel in clear text. For loopback test servers only.
    DangerousPlaintext,
}

impl SmtpSecurity {
    /// The usual port for this kind of connection.
    #[must_use]
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::DangerousPlaintext => 25,
        }
    }
}

#[cfg(test)]
mod facts_tests {
    use super::*;

    #[test]
    fn sender_rules() {
        assert!(SENDER_RULES.check_alphanumeric("Puzzel AS").is_ok());
        assert_eq!(
            SENDER_RULES
                .check_alphanumeric("Hi!")
                .unwrap_err()
                .message(),
            "the sender contains '!', which senders cannot contain"
        );
        const { assert!(!CAPABILITIES.scheduling && CAPABILITIES.priority) };
        const { assert!(!MAIL_CAPABILITIES.unicode && MAIL_CAPABILITIES.max_batch == 1) };
    }
}

#[cfg(feature = "intelecom")]
pub mod callback;
#[cfg(feature = "intelecom")]
mod client;
#[cfg(feature = "smtp")]
pub mod mail;
// Not API: reach it through `testing::wire` (fuzz targets, benches).
#[cfg(feature = "intelecom")]
#[allow(unreachable_pub)]
// Parts only tests and fuzz targets read (documented answer fields).
#[cfg_attr(not(feature = "testing"), allow(dead_code, unused_imports))]
pub(crate) mod wire;

#[cfg(feature = "intelecom")]
pub use client::{DEFAULT_BASE_URL, Intelecom, IntelecomBuilder, SEND_PATH};
#[cfg(feature = "smtp")]
pub use mail::{
    DEFAULT_MAIL_DOMAIN, IntelecomMail, IntelecomMailBuilder, MAIL_PROVIDER, SmtpRelay,
};
