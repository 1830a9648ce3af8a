//! `PSWinCom` (now LINK Mobility "`PSWin`") SMS gateway (the client and
//! parsers need feature `pswincom`; the facts below need none).
//!
//! - [`Pswincom`]: the XML API provider (`POST https://xml.pswin.com/`,
//!   ISO-8859-1 XML over HTTPS with rustls, failover host).
//! - [`callback`]: delivery reports and incoming SMS (XML and form), and
//!   the acknowledgements the gateway expects.
//!
//! `PSWinCom` has no priority: the setting is ignored for this provider and
//! its capabilities say `priority: false`.

use crate::sms::encoding::Limits;
use crate::sms::{Capabilities, SenderRules};

/// The provider name in reports: `pswincom`.
pub const PROVIDER: &str = "pswincom";

/// At most 16 parts of 134 characters (2144), as documented. The UCS-2
/// part size is not documented; we take the safe reading of half the GSM-7
/// budget (67 units a part).
pub const LIMITS: Limits = Limits {
    gsm_single: 160,
    gsm_part: 134,
    ucs2_single: 70,
    ucs2_part: 67,
    max_parts: 16,
};

/// Alphanumeric senders: `a–z A–Z 0–9` and `!"#%&'()*+ -./?><;`.
pub const SENDER_RULES: SenderRules = SenderRules {
    max_alphanumeric: 11,
    punctuation: "!\"#%&'()*+-./?><;",
    space: true,
};

/// What the XML API can do, as documented: no priority; `REF` comes back
/// only when the account has references on or a report was asked for.
pub const CAPABILITIES: Capabilities = Capabilities::none()
    .with_limits(LIMITS)
    .with_sender_rules(SENDER_RULES)
    .with_unicode(true)
    .with_delivery_reports(true)
    .with_scheduling(true)
    .with_custom_sender(true)
    .with_max_batch(100);

#[cfg(feature = "pswincom")]
pub mod callback;
#[cfg(feature = "pswincom")]
mod client;
// Not API: reach it through `testing::wire` (fuzz targets, benches).
#[cfg(feature = "pswincom")]
#[allow(unreachable_pub)]
// Parts only tests and fuzz targets read (documented answer fields).
#[cfg_attr(not(feature = "testing"), allow(dead_code, unused_imports))]
pub(crate) mod wire;

#[cfg(feature = "pswincom")]
pub use client::{DEFAULT_FAILOVER_URL, DEFAULT_URL, MAX_BATCH, Pswincom, PswincomBuilder};

#[cfg(test)]
mod facts_tests {
    use super::*;

    #[test]
    fn sender_rules() {
        assert!(SENDER_RULES.check_alphanumeric("Hi!").is_ok());
        assert_eq!(
            SENDER_RULES
                .check_alphanumeric("a,b")
                .unwrap_err()
                .message(),
            "the sender contains ',', which senders cannot contain"
        );
        assert_eq!(LIMITS.max_units(crate::sms::encoding::Encoding::Gsm7), 2144);
        const { assert!(!CAPABILITIES.priority && CAPABILITIES.scheduling && !CAPABILITIES.references) };
    }
}
