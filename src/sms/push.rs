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

/// The most fields one pushed entry may have (a documented entry of
/// either gateway has about a dozen): more make the entry fail, which
/// keeps reading it linear in the body.
pub const MAX_FIELDS: usize = 64;

/// One pushed entry's fields, as a gateway's parser reads them: names
/// compared ASCII-case-insensitively, **the first value of a repeated name
/// wins** (a later one is ignored), at most [`MAX_FIELDS`] names (few
/// enough that a list beats a hash map). Both of this crate's gateways read
/// their pushes into it; an integrator's [`PushFormat`] can too.
///
/// ```
/// use crm_comms::sms::push::Fields;
///
/// let mut f: Fields = [("MessageId", "7"), ("statusCode", "0"), ("messageid", "8")]
///     .into_iter()
///     .collect();
/// assert_eq!(f.get("MESSAGEID"), Some("7"));
/// assert_eq!(f.take("statuscode").as_deref(), Some("0"));
/// assert_eq!(f.take("statuscode"), None);
/// assert_eq!(f.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// No fields.
    #[must_use]
    pub fn new() -> Self {
        Fields(Vec::with_capacity(12))
    }

    /// Adds `name` with `value` unless the name is already there (the
    /// first value wins). `false` when it is a new name and the entry
    /// already has [`MAX_FIELDS`]: the entry is then unreadable.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> bool {
        let name = name.into();
        if self.position(&name).is_some() {
            return true;
        }
        if self.0.len() >= MAX_FIELDS {
            return false;
        }
        self.0.push((name, value.into()));
        true
    }

    /// Appends `more` to the value of the field added last, if its name is
    /// `name` (an XML element's text read in several pieces); `false`
    /// otherwise.
    pub fn extend_last(&mut self, name: &str, more: &str) -> bool {
        match self.0.last_mut() {
            Some((k, v)) if k.eq_ignore_ascii_case(name) => {
                v.push_str(more);
                true
            }
            _ => false,
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The value of `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).map(|at| self.0[at].1.as_str())
    }

    /// The value of `name` unless it is absent or blank.
    #[must_use]
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// Removes `name` and gives its value, even a blank one.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let at = self.position(name)?;
        Some(self.0.remove(at).1)
    }

    /// Removes `name` and gives its value unless it was blank.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.remove(name).filter(|v| !v.trim().is_empty())
    }

    /// How many fields there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in the order they were read.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl IntoIterator for Fields {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Fields {
    /// Past [`MAX_FIELDS`] names, the first ones are kept.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut f = Fields::new();
        for (k, v) in iter {
            f.insert(k, v);
        }
        f
    }
}
