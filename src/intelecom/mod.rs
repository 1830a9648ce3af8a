//! Intelecom (now Puzzel) SMS Gateway (feature `intelecom`).
//!
//! - [`Intelecom`]: the web-service provider (`POST {base}/gw/rs/sendMessages`,
//!   REST JSON over HTTPS with rustls).
//! - [`wire`]: the request and response as pure functions.
//! - [`callback`]: delivery reports and incoming SMS (JSON, XML, GET).
//!
//! Not yet: the e-mail (SMTP) mode and the bulk benchmark.

pub mod callback;
mod client;
pub mod wire;

pub use client::{DEFAULT_BASE_URL, Intelecom, IntelecomBuilder, SEND_PATH};
