//! SMS: the provider-neutral core the gateways are built on. Nothing here
//! names a gateway: their facts live in [`crate::intelecom`] and
//! [`crate::pswincom`], the CRM's settings in [`crate::settings`].
//!
//! - [`SmsProvider`]: the object-safe async contract (see its "Contract"
//!   section), with [`SmsProviderExt`] conveniences, [`Capabilities`],
//!   [`check_message`], [`send_in_batches`] and
//!   [`check_and_send_in_batches`] for implementers.
//! - [`Message`] (recipients, text, [`Sender`], [`Priority`], options) in,
//!   [`SendReport`] out: exactly one [`Outcome`] per recipient.
//! - [`SmsError`]: one error type with a kind and predicates.
//! - [`encoding`]: GSM-7/UCS-2 detection, parts per gateway, a typing preview;
//!   [`smart_encoding`]: pasted typography that forces UCS-2, replaced.
//! - [`StubProvider`] (a fake), [`Failover`] and [`WithDefaults`].
//! - [`DeliveryReceipt`] and [`IncomingMessage`]: what gateways push, in
//!   provider-neutral form; [`push`] is the seam a gateway's callback
//!   parser implements; [`inbound`] routes incoming SMS by the CRM's
//!   "SMS endpoint" code, [`tracking`] matches delivery reports to sent
//!   messages.

mod batching;
mod capabilities;
mod defaults;
pub mod encoding;
pub(crate) mod error;
mod failover;
pub mod inbound;
mod message;
mod outcome;
mod provider;
pub mod push;
mod receipt;
mod secret;
mod sender;
pub mod smart_encoding;
mod stub;
pub mod tracking;

/// The attribute [`SmsProvider`] implementations need (re-exported so an
/// adapter does not depend on `async-trait` itself).
pub use async_trait::async_trait;
pub use batching::{
    check_and_send_grouped, check_and_send_in_batches, check_message, send_in_batches,
};
pub use capabilities::Capabilities;
pub use defaults::WithDefaults;
pub use error::{SmsError, SmsErrorKind};
pub use failover::Failover;
pub use message::{Message, MessageBuilder, MessageDefaults, Priority};
pub use outcome::{Outcome, RecipientOutcome, SendReport};
pub use provider::{DynSmsProvider, SmsProvider, SmsProviderExt};
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub(crate) use receipt::gateway_time;
pub use receipt::{CallbackError, DeliveryReceipt, DeliveryState, IncomingMessage, MAX_RAW_ENTRY};
pub use secret::Secret;
pub use sender::{Sender, SenderRules};
pub use stub::StubProvider;
