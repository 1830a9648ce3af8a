//! # crm-comms
//!
//! What CRM backends keep writing by hand, done once:
//!
//! - [`phone`]: parse and validate what users type as phone numbers, with
//!   the CRM's default country for numbers typed without one.
//! - [`links`]: call links from the "phone link format" preference
//!   (`tel:%p`, `callto:%p`, `facetime:%p`, an ISV's `domycall:%p?c={cuid}`),
//!   rendered safely for a contact's numbers, plus the ISV's side: reading
//!   the link a protocol handler receives and writing the `.reg` file that
//!   registers it.
//! - [`prefs`]: layered preferences where a user's value beats their group's,
//!   which beats the database's and the system's, with locked (mandatory)
//!   values and an answer to "where did this value come from".
//! - [`store`]: the one error every store reports (sent messages, handled
//!   pushes, preference backends, the mailing outbox), and the stores:
//!   `store::memory`, `store::sqlite` (embedded, feature `sqlite`) and
//!   `store::postgres` (shared by many workers and receivers, feature
//!   `postgres`), laid out alike.
//! - `mailing` (feature): SMS mailings — templates, recipients blocked with
//!   reasons, the `Outbox` seam with its state machine, the paced
//!   `MailingRunner`, reports and STOP replies from the store.
//! - [`sms`]: the provider-neutral SMS core (the `SmsProvider` contract,
//!   messages, GSM-7/UCS-2 encoding, one outcome per recipient, receipts,
//!   incoming messages, delivery tracking); it names no gateway.
//! - [`intelecom`], [`pswincom`]: one module per gateway — its documented
//!   facts (capabilities, limits, sender rules) in any build, its client,
//!   wire format and callback parsers behind its feature.
//! - [`settings`]: the CRM's SMS settings page and "send a test SMS",
//!   building the configured gateway's provider.
//! - `gateway_http` (feature `http`): the HTTP side every web-service
//!   gateway shares.
//! - `receiver` (feature): the webhook receiver for the gateways' pushes;
//!   `testing` (feature): the provider conformance suite and push-format
//!   kit, the store suites, one loopback gateway core (`testing::loopback`)
//!   with both gateways' emulators on it, and a loopback SMTP server for
//!   integrators.
//!
//! ## Layering
//!
//! Dependencies run one way: a module only uses those to its left (checked
//! by `scripts/module_graph.py`, which lists every edge and finds no cycle):
//!
//! ```text
//! leaves:  mask, store_error (StoreError), variable ({name} reader), transport, xml_text
//! phone ← links, prefs                      (no HTTP, no async runtime)
//! phone ← sms (the neutral core) ← gateway_http ← intelecom, pswincom ← settings, receiver
//! sms ← mailing                              (names no gateway)
//! mailing, receiver ← store::{memory, sqlite, postgres}
//! intelecom, pswincom, mailing, receiver ← testing ← the CLI (src/bin)
//! every module's error → Error               (at the top; it only converts)
//! ```
//!
//! Data flows the same way: a `Message` is validated and encoded by the
//! core, written to the wire by a gateway, and its answer comes back as
//! one `Outcome` per recipient.
//!
//! ## Features
//!
//! (From the `##` comments in `Cargo.toml`, as the README shows them.)
//!
#![doc = document_features::document_features!()]
//!
//! With `--no-default-features` the crate still gives phone numbers, call
//! links and preferences, and pulls in no HTTP stack or async runtime, so a
//! desktop client can embed call-link rendering.
//!
//! ## Errors
//!
//! Each module has its own typed error ([`phone::PhoneError`],
//! [`links::LinkError`], [`prefs::PrefsError`], …);
//! all of them convert into the crate-wide [`Error`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub, rustdoc::broken_intra_doc_links)]

mod error;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod gateway_http;
pub mod intelecom;
pub mod links;
#[cfg(feature = "mailing")]
#[cfg_attr(docsrs, doc(cfg(feature = "mailing")))]
pub mod mailing;
mod mask;
pub mod phone;
pub mod prefs;
pub mod pswincom;
#[cfg(feature = "receiver")]
#[cfg_attr(docsrs, doc(cfg(feature = "receiver")))]
pub mod receiver;
pub mod settings;
pub mod sms;
pub mod store;
mod store_error;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(any(feature = "http", feature = "smtp"))]
mod transport;
mod variable;
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
mod xml_text;

pub use error::{Error, Result};
pub use links::PhoneLinkFormat;
pub use phone::{DefaultCountry, PhoneNumber};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The integrators' guide's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/integrators.md")]
pub struct IntegratorsDoctests;

#[cfg(test)]
mod readme_tests {
    /// The README's features list is the one in `Cargo.toml` (its `##`
    /// comments, through `document-features`, which rustdoc shows too).
    #[test]
    fn the_readme_lists_the_features_of_cargo_toml() {
        let list = document_features::document_features!();
        assert!(
            include_str!("../README.md").contains(list),
            "README.md's features list differs from Cargo.toml's; paste this in:\n{list}"
        );
    }
}
