//! What one gateway brings to the loopback core: its reading of a request
//! ([`Recorded`], [`WireMessage`]), its [`Answer`], and the [`Wire`] trait
//! that ties them together.

use super::*;

/// What a [`Wire`] read from a request, for the record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded<R> {
    /// What the request carries, as the gateway reads it (the default
    /// when it could not be read).
    pub request: R,
    /// The body as text with every secret masked.
    pub masked_body: String,
}

/// One message as the gateway read it off the wire, in the shape every
/// gateway shares: what the conformance suite compares with what was sent.
/// A field is `None` when the gateway's wire has no such field or the
/// request did not give it.
///
/// ```
/// use crm_comms::testing::loopback::WireMessage;
/// let m = WireMessage::new("4790000001", "Hei")
///     .with_sender("CRM")
///     .with_delivery_report(true)
///     .with_gateway_reference("msg-17");
/// assert_eq!(m.gateway_reference.as_deref(), Some("msg-17"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WireMessage {
    /// The recipient as the request gives it (`+4790000001`,
    /// `004790000001` and `4790000001` all read as the same number).
    pub recipient: String,
    /// The whole text, decoded (as the recipient will read it).
    pub text: String,
    /// The sender (originator) as the request gives it.
    pub sender: Option<String>,
    /// The priority as the CRM numbers it
    /// ([`Priority::number`](crate::sms::Priority::number): 1 slowest, 3
    /// fastest); a gateway with another scale maps it back.
    pub priority: Option<u8>,
    /// Whether a delivery report was asked for.
    pub delivery_report: Option<bool>,
    /// The client's reference for this message.
    pub client_reference: Option<String>,
    /// The reference the gateway gave this message in its answer (`None`:
    /// refused, or left out of the answer). Set it in
    /// [`Wire::answer`] through [`Answer::recorded`]: the suite
    /// checks each accepted outcome's reference against it.
    pub gateway_reference: Option<String>,
}

impl WireMessage {
    /// A message to `recipient` with `text`, nothing else read.
    #[must_use]
    pub fn new(recipient: impl Into<String>, text: impl Into<String>) -> Self {
        WireMessage {
            recipient: recipient.into(),
            text: text.into(),
            ..WireMessage::default()
        }
    }

    /// With the sender as given.
    #[must_use]
    pub fn with_sender(mut self, sender: impl Into<String>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// With the priority (1 slowest – 3 fastest).
    #[must_use]
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// With whether a delivery report was asked for.
    #[must_use]
    pub fn with_delivery_report(mut self, asked: bool) -> Self {
        self.delivery_report = Some(asked);
        self
    }

    /// With the client's reference.
    #[must_use]
    pub fn with_client_reference(mut self, reference: impl Into<String>) -> Self {
        self.client_reference = Some(reference.into());
        self
    }

    /// With the reference the gateway answered with.
    #[must_use]
    pub fn with_gateway_reference(mut self, reference: impl Into<String>) -> Self {
        self.gateway_reference = Some(reference.into());
        self
    }

    /// The recipient's digits in international form (`4790000001`): the
    /// request's digits with a leading `00` dropped.
    #[must_use]
    pub fn recipient_digits(&self) -> String {
        let digits: String = self
            .recipient
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        match digits.strip_prefix("00") {
            Some(rest) if !self.recipient.trim_start().starts_with('+') => rest.to_owned(),
            _ => digits,
        }
    }
}

/// A [`Wire`]'s answer to one request.
pub struct Answer<W: Wire + ?Sized> {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
    pub(super) recorded: Option<Recorded<W::Request>>,
    pub(super) reports: Vec<W::Dr>,
}

impl<W: Wire + ?Sized> fmt::Debug for Answer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .field("reports", &self.reports.len())
            .finish_non_exhaustive()
    }
}

impl<W: Wire + ?Sized> Answer<W> {
    /// An answer with this status, `Content-Type` and body.
    #[must_use]
    pub fn new(status: u16, content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Answer {
            status,
            content_type: content_type.into(),
            body: body.into(),
            recorded: None,
            reports: Vec::new(),
        }
    }

    /// An HTML error page with this status and reason (escaped).
    #[must_use]
    pub fn error_page(status: u16, reason: &str) -> Self {
        let escaped = reason
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        Answer::new(
            status,
            "text/html",
            format!("<html><body><h1>{status}</h1><p>{escaped}</p></body></html>"),
        )
    }

    /// Records the request as read while answering (otherwise the core
    /// calls [`Wire::read`] for the record).
    #[must_use]
    pub fn recorded(mut self, recorded: Recorded<W::Request>) -> Self {
        self.recorded = Some(recorded);
        self
    }

    /// Delivery reports for what this request got accepted; pushed in the
    /// background when [`LoopbackGateway::deliver_reports_to`] set a target.
    #[must_use]
    pub fn reports(mut self, reports: Vec<W::Dr>) -> Self {
        self.reports = reports;
        self
    }
}

/// What one gateway brings to a [`LoopbackGateway`]: its reading of
/// requests, its answers and its pushes. Implementations keep their own
/// state (credentials, the next message ID, the status of reports) behind
/// `&self`.
#[async_trait::async_trait]
pub trait Wire: Send + Sync + 'static {
    /// What a request carries, as this gateway reads it (for the record).
    type Request: Clone + fmt::Debug + Default + Send + Sync + 'static;
    /// This gateway's own answer faults (beyond [`Fault`]'s transport
    /// faults).
    type AnswerFault: Clone + fmt::Debug + Send + Sync + 'static;
    /// How this gateway formats pushes (its transports).
    type PushFormat: Clone + fmt::Debug + Send + Sync + 'static;
    /// A delivery report this gateway pushes.
    type Dr: Clone + fmt::Debug + Send + Sync + 'static;
    /// An incoming SMS this gateway pushes.
    type Mo: Clone + fmt::Debug + Send + Sync + 'static;

    /// The path requests are `POST`ed to.
    fn path(&self) -> &'static str;

    /// Reads a request for the record, with this gateway's own code: what
    /// it carries and its body with every secret masked. Also called for
    /// requests that are reset before they are answered.
    fn read(&self, headers: &HeaderMap, body: &[u8]) -> Recorded<Self::Request>;

    /// The messages `request` carries, in order, in the shape every
    /// gateway shares: the conformance suite checks what arrived (each
    /// recipient once, the exact text, sender, priority, report flag and
    /// references) with it. Read with the gateway's own code.
    fn messages(request: &Self::Request) -> Vec<WireMessage>;

    /// How many messages `request` carries (the conformance suite checks
    /// batches against the provider's `max_batch` with it); by default
    /// the length of [`messages`](Self::messages). Called for every
    /// request recorded: override it when counting is cheaper than
    /// converting.
    fn recipients(request: &Self::Request) -> usize {
        Self::messages(request).len()
    }

    /// Answers a request, as strictly as the real gateway; `fault` is the
    /// scripted answer fault for this request, if any.
    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        fault: Option<&Self::AnswerFault>,
    ) -> Answer<Self>;

    /// Pushes delivery reports to `target` as the gateway does,
    /// redelivering as it does.
    async fn push_drs(
        &self,
        target: &PushTarget,
        format: &Self::PushFormat,
        drs: &[Self::Dr],
    ) -> PushResult;

    /// Pushes incoming SMS to `target` as the gateway does.
    async fn push_mos(
        &self,
        target: &PushTarget,
        format: &Self::PushFormat,
        mos: &[Self::Mo],
    ) -> PushResult;
}
