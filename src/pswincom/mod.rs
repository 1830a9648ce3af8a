//! `PSWinCom` (now LINK Mobility "`PSWin`") SMS gateway (feature `pswincom`).
//!
//! - [`Pswincom`]: the XML API provider (`POST https://xml.pswin.com/`,
//!   ISO-8859-1 XML over HTTPS with rustls, failover host).
//! - [`wire`]: the request and response as pure functions.
//! - [`callback`]: delivery reports and incoming SMS (XML and form), and
//!   the acknowledgements the gateway expects.
//!
//! `PSWinCom` has no priority: the setting is ignored for this provider and
//! its capabilities say `priority: false`.

/// The provider name in reports: `pswincom`.
pub const PROVIDER: &str = "pswincom";

pub mod callback;
mod client;
pub mod wire;

pub use client::{DEFAULT_FAILOVER_URL, DEFAULT_URL, MAX_BATCH, Pswincom, PswincomBuilder};
