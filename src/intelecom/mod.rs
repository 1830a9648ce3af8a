//! Intelecom (now Puzzel) SMS Gateway (feature `intelecom`).
//!
//! So far: [`wire`], the REST JSON request and response of
//! `POST {base}/gw/rs/sendMessages` as pure functions (request from a
//! [`Message`](crate::sms::Message), one outcome per recipient from the
//! answer). The HTTP client, e-mail mode, delivery-report and incoming-SMS
//! parsing and the loopback emulator are being built on it.

pub mod callback;
pub mod wire;
