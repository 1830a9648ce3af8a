//! Test kit for providers (feature `testing`): the conformance suite every
//! [`SmsProvider`](crate::sms::SmsProvider) must pass, loopback gateway
//! emulators, and a loopback SMTP server. Not API-stable.

pub mod conformance;
pub mod hostile;
#[cfg(feature = "intelecom")]
pub mod intelecom_emulator;
#[cfg(feature = "pswincom")]
pub mod pswincom_emulator;
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub mod push;
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
mod server;
pub mod smtp_server;
