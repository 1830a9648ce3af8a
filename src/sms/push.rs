//! The callback seam: how a gateway's pushes (incoming SMS and delivery
//! reports) are read and answered, in provider-neutral terms.
//!
//! A gateway implements [`PushFormat`] once; the webhook receiver
//! (`crm_comms::receiver`, feature `receiver`) mounts it under its
//! [`name`](PushFormat::name) and gives it routing by "SMS endpoint" code,
//! dedup of redeliveries, delivery tracking, body and time limits, and the
//! answer the gateway expects. This crate's Intelecom and `PSWinCom` parsers
//! are implementations; an integrator's third gateway is one more.
//!
//! The contract:
//!
//! - [`parse`](PushFormat::parse) is a pure function of the request, in
//!   time and memory linear in the body. One bad entry is an `Err` in its
//!   place (with its raw text in [`CallbackError::raw`] where possible), so
//!   it never loses the others; an `Err` for the whole push means nothing
//!   in it can be read (answered 400).
//! - [`answer`](PushFormat::answer) writes what the gateway needs to stop
//!   or repeat delivery, given each entry's [`EntryFate`] in order. An
//!   entry that is acknowledged is never redelivered; one marked
//!   [`EntryFate::Redeliver`] must be.

use super::receipt::{CallbackError, DeliveryReceipt, IncomingMessage};

/// What a route takes: incoming SMS or delivery reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushKind {
    /// Incoming SMS (`/{gateway}/mo`).
    Incoming,
    /// Delivery reports (`/{gateway}/dr`).
    Delivery,
}

impl PushKind {
    /// `mo` or `dr`, as in the route.
    #[must_use]
    pub fn route(self) -> &'static str {
        match self {
            PushKind::Incoming => "mo",
            PushKind::Delivery => "dr",
        }
    }
}

/// A push as the receiver hands it over, after authentication and the body
/// limit.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PushRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The `Content-Type` header (empty when there is none).
    pub content_type: &'a str,
    /// The query string, without the callback secret.
    pub query: &'a str,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> PushRequest<'a> {
    /// A request (for tests and other servers).
    #[must_use]
    pub fn new(method: &'a str, content_type: &'a str, query: &'a str, body: &'a [u8]) -> Self {
        PushRequest {
            method,
            content_type,
            query,
            body,
        }
    }

    /// The media type, lower-cased, without parameters
    /// (`application/xml; charset=…` → `application/xml`).
    #[must_use]
    pub fn media_type(&self) -> String {
        self.content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }
}

/// One entry of a push, read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pushed {
    /// An incoming SMS.
    Incoming(IncomingMessage),
    /// A delivery report.
    Delivery(DeliveryReceipt),
}

/// One entry of a push: the id its acknowledgement repeats (empty when the
/// format acknowledges the push as a whole) and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushEntry<T> {
    /// The `ID` the acknowledgement must repeat.
    pub id: String,
    /// The entry, or what is wrong with it.
    pub result: Result<T, CallbackError>,
}

impl<T> PushEntry<T> {
    /// An entry of a format that acknowledges the push as a whole (no id).
    #[must_use]
    pub fn without_id(result: Result<T, CallbackError>) -> Self {
        PushEntry {
            id: String::new(),
            result,
        }
    }

    /// The same entry with its value mapped (`Pushed::Delivery`, …).
    #[must_use]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> PushEntry<U> {
        PushEntry {
            id: self.id,
            result: self.result.map(f),
        }
    }
}

/// What became of one entry, for the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryFate {
    /// Handled now, handled before, or unreadable (and reported): the
    /// gateway must not send it again.
    Acknowledged,
    /// Not handled (a handler failed, or another request is handling it):
    /// the gateway must send it again.
    Redeliver,
}

/// The HTTP answer to a push.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushAnswer {
    /// The status.
    pub status: u16,
    /// The `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
}

impl PushAnswer {
    /// An answer with `status`, no body.
    #[must_use]
    pub fn status(status: u16) -> Self {
        PushAnswer {
            status,
            content_type: None,
            body: Vec::new(),
        }
    }

    /// An answer with `status` and a body of `content_type`.
    #[must_use]
    pub fn with_body(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        PushAnswer {
            status,
            content_type: Some(content_type),
            body: body.into(),
        }
    }

    /// 200 when every entry is acknowledged, 500 to have the push
    /// redelivered otherwise: for formats that acknowledge a push as a
    /// whole.
    #[must_use]
    pub fn all_or_redeliver(fates: &[EntryFate]) -> Self {
        if fates.contains(&EntryFate::Redeliver) {
            PushAnswer::with_body(
                500,
                "text/plain; charset=utf-8",
                "not all entries could be handled; please redeliver",
            )
        } else {
            PushAnswer::status(200)
        }
    }
}

/// How one gateway's pushes are read and answered (see the
/// [module docs](self) for the contract).
pub trait PushFormat: Send + Sync + 'static {
    /// The gateway's name: its routes are `/{name}/mo` and `/{name}/dr`,
    /// and it names the gateway in reports of unreadable entries.
    fn name(&self) -> &'static str;

    /// Whether `GET` pushes (URL templates) are taken as well as `POST`.
    fn accepts_get(&self) -> bool {
        false
    }

    /// The entries of a push, in order.
    ///
    /// # Errors
    ///
    /// A [`CallbackError`] about the whole push when nothing in it can be
    /// read (the receiver answers 400 with its text).
    fn parse(
        &self,
        kind: PushKind,
        request: &PushRequest<'_>,
    ) -> Result<Vec<PushEntry<Pushed>>, CallbackError>;

    /// The answer, given the entries and what became of each, in order.
    fn answer(
        &self,
        kind: PushKind,
        request: &PushRequest<'_>,
        entries: &[(String, EntryFate)],
    ) -> PushAnswer;
}
