//! Test kit for providers (feature `testing`): the conformance suite every
//! [`SmsProvider`](crate::sms::SmsProvider) must pass, and loopback gateway
//! emulators. Not API-stable.

pub mod conformance;
#[cfg(feature = "intelecom")]
pub mod intelecom_emulator;
#[cfg(feature = "intelecom")]
pub mod push;
pub mod smtp_server;
