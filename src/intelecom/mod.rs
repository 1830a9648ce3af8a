//! Intelecom (now Puzzel) SMS Gateway.
//!
//! - [`Intelecom`] (feature `intelecom`): the web-service provider
//!   (`POST {base}/gw/rs/sendMessages`, REST JSON over HTTPS with rustls).
//! - [`IntelecomMail`] (feature `smtp`): the e-mail mode ("use web service"
//!   off), one mail per recipient through an SMTP relay.
//! - [`wire`] (feature `intelecom`): the request and response as pure
//!   functions.
//! - [`callback`] (feature `intelecom`): delivery reports and incoming SMS
//!   (JSON, XML, GET).

/// The provider name in reports of the web-service client: `intelecom`.
pub const PROVIDER: &str = "intelecom";

#[cfg(feature = "intelecom")]
pub mod callback;
#[cfg(feature = "intelecom")]
mod client;
#[cfg(feature = "smtp")]
pub mod mail;
#[cfg(feature = "intelecom")]
pub mod wire;

#[cfg(feature = "intelecom")]
pub use client::{DEFAULT_BASE_URL, Intelecom, IntelecomBuilder, SEND_PATH};
#[cfg(feature = "smtp")]
pub use mail::{
    DEFAULT_MAIL_DOMAIN, IntelecomMail, IntelecomMailBuilder, MAIL_CAPABILITIES, MAIL_PROVIDER,
    SmtpRelay, SmtpRelayError, SmtpSecurity,
};
