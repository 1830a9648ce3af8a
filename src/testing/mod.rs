//! Test kit for providers and stores (feature `testing`): the conformance
//! suite every [`SmsProvider`](crate::sms::SmsProvider) must pass, the kit
//! for push formats, the store suites, loopback gateway emulators and a
//! loopback SMTP server.
//!
//! **Stability.** The integrator's surface follows semver:
//! [`conformance`], [`loopback`] ([`Wire`](loopback::Wire),
//! [`LoopbackGateway`](loopback::LoopbackGateway),
//! [`WireMessage`](loopback::WireMessage)), [`push_kit`], [`push`] (what a
//! `Wire` pushes with), [`suite`] and the store suites. This crate's own
//! gateways' emulators (`intelecom_emulator`, `pswincom_emulator`), the
//! [`hostile`] corpus, the SMTP server and [`wire`] (the gateways' wire
//! formats) follow the gateways and may change in any release.

#[cfg(feature = "mailing")]
pub mod admin_suite;
pub mod conformance;
#[cfg(feature = "receiver")]
pub mod dedup_suite;
pub mod hostile;
#[cfg(feature = "intelecom")]
pub mod intelecom_emulator;
pub mod loopback;
#[cfg(feature = "mailing")]
pub mod outbox_suite;
#[cfg(feature = "mailing")]
pub mod privacy_suite;
#[cfg(feature = "pswincom")]
pub mod pswincom_emulator;
pub mod push;
pub mod push_kit;
pub mod sent_store_suite;
mod server;
pub mod smtp_server;
pub mod suite;

/// The gateways' wire formats (request writers, answer readers), for fuzz
/// targets, benchmarks and tests. **Not API**: they follow the gateways'
/// protocols and change without notice; adapters talk to
/// [`SmsProvider`](crate::sms::SmsProvider)s instead.
pub mod wire {
    /// Intelecom's REST JSON request and response, and the push readers.
    #[cfg(feature = "intelecom")]
    pub mod intelecom {
        pub use crate::intelecom::callback::entries::*;
        pub use crate::intelecom::wire::*;
    }
    /// `PSWinCom`'s XML request and response, ISO-8859-1 and `DELIVERYTIME`,
    /// and the push readers and acknowledgement writer.
    #[cfg(feature = "pswincom")]
    pub mod pswincom {
        pub use crate::pswincom::callback::entries::*;
        pub use crate::pswincom::wire::*;
    }
}
