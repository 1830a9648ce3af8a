//! SMS: the provider-neutral core the gateways are built on.
//!
//! Today: [`encoding`] (which alphabet a text needs, how many parts it
//! takes under each gateway's limits), the message model ([`Message`],
//! [`Sender`], [`Priority`]) and [`Secret`] for credentials. The provider
//! contract and the gateways follow.

pub mod encoding;
mod message;
mod secret;

pub use message::{
    Message, MessageBuilder, MessageError, Priority, Sender, SenderError, SenderRules,
};
pub use secret::Secret;
