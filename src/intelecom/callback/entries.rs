//! The parser behind [`IntelecomPushes`](super::IntelecomPushes): the
//! push's encoding, and its entries read one by one.

// Reachable through `testing::wire::intelecom` when `testing` is on.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use super::json::json_entries;
use super::xml::xml_entries;
use super::{dr_from_fields, mo_from_fields, query_fields};
use crate::sms::push::Fields;
use crate::sms::{CallbackError, DeliveryReceipt, IncomingMessage};

/// How a push's entries are written (its body, or a GET's query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushBody {
    /// `{"dr":[…]}` / `{"mo":[…]}` (POST).
    Json,
    /// `<dr><message>…` / `<mo><message>…` (POST).
    Xml,
    /// A GET template's query string: one entry.
    Query,
}

/// What a push carries: delivery reports or incoming SMS.
pub trait PushedEntry: Sized {
    /// The JSON list's or XML root's name (`dr`, `mo`).
    const ROOT: &'static str;
    /// The entry at `index` from its fields.
    ///
    /// # Errors
    ///
    /// The field that is missing or unreadable.
    fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError>;
}

impl PushedEntry for DeliveryReceipt {
    const ROOT: &'static str = "dr";
    fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError> {
        dr_from_fields(index, fields)
    }
}

impl PushedEntry for IncomingMessage {
    const ROOT: &'static str = "mo";
    fn from_fields(index: usize, fields: Fields) -> Result<Self, CallbackError> {
        mo_from_fields(index, fields)
    }
}

/// The entries of a push written as `encoding` (for
/// [`PushBody::Query`], `input` is the query string), each read on
/// its own: a bad entry is an `Err` in its place, with its raw text.
///
/// # Errors
///
/// A [`CallbackError`] when the body as a whole cannot be read.
pub fn read<T: PushedEntry>(
    encoding: PushBody,
    input: &[u8],
) -> Result<Vec<Result<T, CallbackError>>, CallbackError> {
    Ok(match encoding {
        PushBody::Json => json_entries(input, T::ROOT)?.build(T::from_fields),
        PushBody::Xml => xml_entries(input, T::ROOT)?.build(T::from_fields),
        PushBody::Query => vec![T::from_fields(0, query_fields(input))],
    })
}
