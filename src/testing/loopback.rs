//! One loopback gateway core for every emulator: this crate's two and an
//! integrator's own.
//!
//! A [`LoopbackGateway`] listens on `127.0.0.1`, keeps a bounded record of
//! the requests it received (secrets masked by the gateway's [`Wire`]),
//! plays a queue of scripted [`Fault`]s — the transport faults every
//! gateway can suffer (an HTTP error page, a slow answer, a connection
//! reset before or after the body, an answer cut off halfway) and the
//! answer faults of one gateway — and pushes delivery reports for what it
//! accepted to a URL, like the real gateways do. A gateway's [`Wire`]
//! brings only what is its own: how it reads a request (with its own code,
//! never the client's decoder, so a client bug cannot hide behind a
//! matching emulator bug), how it answers, and how it formats pushes.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use crm_comms::testing::loopback::{
//!     Answer, Fault, HeaderMap, LoopbackGateway, Recorded, Wire, WireMessage,
//! };
//! use crm_comms::testing::push::{PushResult, PushTarget};
//!
//! /// A gateway that takes one number per line and answers `OK <id>`.
//! #[derive(Debug, Default)]
//! struct Lines;
//!
//! #[crm_comms::sms::async_trait]
//! impl Wire for Lines {
//!     type Request = Vec<String>;
//!     type AnswerFault = std::convert::Infallible;
//!     type PushFormat = ();
//!     type Dr = String;
//!     type Mo = String;
//!     fn path(&self) -> &'static str { "/send" }
//!     fn read(&self, _: &HeaderMap, body: &[u8]) -> Recorded<Vec<String>> {
//!         let text = String::from_utf8_lossy(body).into_owned();
//!         Recorded { request: text.lines().map(str::to_owned).collect(), masked_body: text }
//!     }
//!     fn messages(request: &Vec<String>) -> Vec<WireMessage> {
//!         request.iter().map(|n| WireMessage::new(n.as_str(), "")).collect()
//!     }
//!     fn answer(&self, _: &HeaderMap, body: &[u8], _: Option<&Self::AnswerFault>)
//!         -> Answer<Self> {
//!         let read = self.read(&Default::default(), body);
//!         let text: String = read.request.iter().enumerate()
//!             .map(|(i, _)| format!("OK {i}\n")).collect();
//!         Answer::new(200, "text/plain", text).recorded(read)
//!     }
//!     async fn push_drs(&self, _: &PushTarget, _: &(), _: &[String]) -> PushResult {
//!         PushResult::default()
//!     }
//!     async fn push_mos(&self, _: &PushTarget, _: &(), _: &[String]) -> PushResult {
//!         PushResult::default()
//!     }
//! }
//!
//! let gateway = LoopbackGateway::start(Lines).await.unwrap();
//! gateway.fail_next(Fault::Http(503));
//! let client = reqwest::Client::new();
//! let url = format!("{}/send", gateway.base_url());
//! let first = client.post(&url).body("+4790000001").send().await.unwrap();
//! assert_eq!(first.status(), 503);
//! let second = client.post(&url).body("+4790000001").send().await.unwrap();
//! assert_eq!(second.text().await.unwrap(), "OK 0\n");
//! assert_eq!(gateway.requests_seen(), 2);
//! assert_eq!(gateway.received()[1].request, ["+4790000001"]);
//! # });
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
pub use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::push::{PushResult, PushTarget};
use super::server::{Reset, ResetHooks, serve};

/// How many requests a loopback gateway remembers (the oldest are
/// forgotten; [`LoopbackGateway::requests_seen`] keeps counting).
pub const MAX_RECORDED: usize = 1000;

/// What a loopback gateway does with the next request instead of answering
/// normally. Faults queue up ([`LoopbackGateway::fail_next`]); each is used
/// by one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault<A> {
    /// Answer with this HTTP status and an HTML error page (the request is
    /// recorded with that status).
    Http(u16),
    /// As [`Http`](Fault::Http), with a `Retry-After` header of this many
    /// seconds (a rate limit, 429, or an overload, 503).
    RetryAfter(u16, u64),
    /// Handle the request at once (recorded, reports pushed) but send the
    /// answer this much later: a client that times out meanwhile has had
    /// its messages taken all the same.
    Slow(Duration),
    /// Close the connection as soon as the request head is read, before
    /// the body: nothing was accepted, but the client cannot tell.
    ResetBeforeBody,
    /// Read the whole request (recorded with status 0, as if the gateway
    /// had queued it), then close the connection without answering.
    ResetAfterBody,
    /// Handle the request (recorded as answered, reports pushed), but close
    /// the connection halfway through the answer's body. The answer is the
    /// one the request would get otherwise — including the next scripted
    /// fault, if any.
    TruncatedAnswer,
    /// Handle the request (recorded, reports pushed) but answer `200 OK`
    /// with a body no gateway would send: the client cannot read what was
    /// accepted, so the messages are unknown — never rejected.
    UnreadableAnswer,
    /// A fault of this gateway's answers (a status code, a malformed body),
    /// given to its [`Wire::answer`].
    Answer(A),
}

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

/// A request a loopback gateway received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received<R> {
    /// What the request carries, as the gateway read it.
    pub request: R,
    /// The body as text with every secret masked (`***`).
    pub body: String,
    /// The request's `Content-Type` (empty when it had none).
    pub content_type: String,
    /// The answer's HTTP status (0: the connection was reset without an
    /// answer).
    pub status: u16,
}

/// A [`Wire`]'s answer to one request.
pub struct Answer<W: Wire + ?Sized> {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    recorded: Option<Recorded<W::Request>>,
    reports: Vec<W::Dr>,
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

struct Book<W: Wire> {
    faults: VecDeque<Fault<W::AnswerFault>>,
    received: VecDeque<Received<W::Request>>,
    seen: u64,
    report_target: Option<(PushTarget, W::PushFormat)>,
    latency: std::time::Duration,
    /// When each request arrived and how many recipients it carried.
    arrivals: Vec<(std::time::Instant, usize)>,
}

struct Core<W: Wire> {
    wire: W,
    book: Mutex<Book<W>>,
}

impl<W: Wire> Core<W> {
    fn book(&self) -> MutexGuard<'_, Book<W>> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, recorded: Recorded<W::Request>, headers: &HeaderMap, status: u16) {
        let content_type = content_type(headers);
        let mut book = self.book();
        book.seen += 1;
        let recipients = W::recipients(&recorded.request);
        book.arrivals.push((std::time::Instant::now(), recipients));
        if book.received.len() >= MAX_RECORDED {
            book.received.pop_front();
        }
        book.received.push_back(Received {
            request: recorded.request,
            body: recorded.masked_body,
            content_type: content_type.to_owned(),
            status,
        });
    }
}

/// A running loopback gateway on `127.0.0.1`; stops when dropped. Needs a
/// running Tokio runtime.
pub struct LoopbackGateway<W: Wire> {
    addr: SocketAddr,
    core: Arc<Core<W>>,
    task: tokio::task::JoinHandle<()>,
}

impl<W: Wire + fmt::Debug> fmt::Debug for LoopbackGateway<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackGateway")
            .field("addr", &self.addr)
            .field("wire", &self.core.wire)
            .finish_non_exhaustive()
    }
}

impl<W: Wire> Drop for LoopbackGateway<W> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<W: Wire> LoopbackGateway<W> {
    /// Starts `wire` on `127.0.0.1:0`.
    ///
    /// # Errors
    ///
    /// If the loopback port cannot be bound.
    pub async fn start(wire: W) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), wire).await
    }

    /// As [`start`](Self::start), listening on `addr` (for the command-line
    /// emulator; keep it on a loopback address).
    ///
    /// # Errors
    ///
    /// If `addr` cannot be bound.
    pub async fn start_on(addr: SocketAddr, wire: W) -> std::io::Result<Self> {
        let path = wire.path();
        let core = Arc::new(Core {
            wire,
            book: Mutex::new(Book {
                faults: VecDeque::new(),
                received: VecDeque::new(),
                seen: 0,
                report_target: None,
                latency: std::time::Duration::ZERO,
                arrivals: Vec::new(),
            }),
        });
        let app = Router::new()
            .route(path, post(handle::<W>))
            .with_state(core.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, app, core.clone()));
        Ok(LoopbackGateway { addr, core, task })
    }

    /// The base URL to give a client (`http://127.0.0.1:<port>`, no
    /// trailing slash).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This gateway's wire (its own settings: the status of reports, the
    /// largest batch).
    #[must_use]
    pub fn wire(&self) -> &W {
        &self.core.wire
    }

    /// Makes the next request meet `fault` (faults queue up); a gateway's
    /// own answer fault converts into [`Fault::Answer`].
    pub fn fail_next(&self, fault: impl Into<Fault<W::AnswerFault>>) {
        self.core.book().faults.push_back(fault.into());
    }

    /// How many requests were recorded since the start (keeps counting
    /// when [`received`](Self::received) drops the oldest).
    #[must_use]
    pub fn requests_seen(&self) -> u64 {
        self.core.book().seen
    }

    /// The requests received so far (the last [`MAX_RECORDED`]), oldest
    /// first.
    #[must_use]
    pub fn received(&self) -> Vec<Received<W::Request>> {
        self.core.book().received.iter().cloned().collect()
    }

    /// From now on, answer every request `latency` after taking it (a real
    /// gateway's round trip; a scripted [`Fault::Slow`] adds to it).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.core.book().latency = latency;
    }

    /// When each request arrived (every one since the start, unlike
    /// [`received`](Self::received)) and how many recipients it carried,
    /// oldest first: for checking a pace on the wire.
    #[must_use]
    pub fn arrivals(&self) -> Vec<(std::time::Instant, usize)> {
        self.core.book().arrivals.clone()
    }

    /// From now on, push a delivery report for every message the gateway
    /// accepts and reports on (in the background, as the gateway's wire
    /// formats them).
    pub fn deliver_reports_to(&self, target: PushTarget, format: W::PushFormat) {
        self.core.book().report_target = Some((target, format));
    }

    /// Stops the automatic delivery reports.
    pub fn stop_reports(&self) {
        self.core.book().report_target = None;
    }

    /// Pushes delivery reports to `target` now, redelivering on failure as
    /// the gateway does; says what each attempt got.
    pub async fn push_drs(
        &self,
        target: &PushTarget,
        format: &W::PushFormat,
        drs: &[W::Dr],
    ) -> PushResult {
        self.core.wire.push_drs(target, format, drs).await
    }

    /// Pushes incoming SMS to `target` now, redelivering on failure as the
    /// gateway does; says what each attempt got.
    pub async fn push_mos(
        &self,
        target: &PushTarget,
        format: &W::PushFormat,
        mos: &[W::Mo],
    ) -> PushResult {
        self.core.wire.push_mos(target, format, mos).await
    }
}

impl<A> From<A> for Fault<A> {
    fn from(answer: A) -> Self {
        Fault::Answer(answer)
    }
}

impl<W: Wire> ResetHooks for Core<W> {
    fn take_reset(&self) -> Option<Reset> {
        let mut book = self.book();
        let reset = match book.faults.front() {
            Some(Fault::ResetBeforeBody) => Reset::BeforeBody,
            Some(Fault::ResetAfterBody) => Reset::AfterBody,
            Some(Fault::TruncatedAnswer) => Reset::TruncateAnswer,
            _ => return None,
        };
        book.faults.pop_front();
        Some(reset)
    }

    fn record_reset(self: Arc<Self>, headers: &HeaderMap, body: &Bytes) {
        let recorded = if body.is_empty() {
            Recorded::default()
        } else {
            self.wire.read(headers, body)
        };
        self.record(recorded, headers, 0);
    }
}

async fn handle<W: Wire>(
    State(core): State<Arc<Core<W>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (fault, latency) = {
        let mut book = core.book();
        (book.faults.pop_front(), book.latency)
    };
    let mut pause = (!latency.is_zero()).then_some(latency);
    let mut unreadable = false;
    let answer_fault = match fault {
        Some(Fault::UnreadableAnswer) => {
            unreadable = true;
            None
        }
        Some(Fault::Slow(late)) => {
            pause = Some(late + latency);
            None
        }
        Some(Fault::Http(status)) => {
            core.record(core.wire.read(&headers, &body), &headers, status);
            let answer = Answer::<W>::error_page(status, "scripted failure");
            return respond(answer.status, &answer.content_type, answer.body);
        }
        Some(Fault::RetryAfter(status, secs)) => {
            core.record(core.wire.read(&headers, &body), &headers, status);
            let answer = Answer::<W>::error_page(status, "scripted failure");
            let mut response = respond(answer.status, &answer.content_type, answer.body);
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
            return response;
        }
        Some(Fault::Answer(f)) => Some(f),
        // Resets were taken by the server loop; one queued behind another
        // fault is taken by the next request.
        _ => None,
    };
    let answer = core.wire.answer(&headers, &body, answer_fault.as_ref());
    let recorded = match answer.recorded {
        Some(r) => r,
        None => core.wire.read(&headers, &body),
    };
    if !answer.reports.is_empty() {
        let target = core.book().report_target.clone();
        if let Some((target, format)) = target {
            let core = core.clone();
            let reports = answer.reports;
            tokio::spawn(async move {
                core.wire.push_drs(&target, &format, &reports).await;
            });
        }
    }
    core.record(recorded, &headers, answer.status);
    // The gateway has taken the request; only its answer is late (a
    // client that gives up meanwhile cannot undo it).
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
    }
    if unreadable {
        return respond(200, &answer.content_type, b"\x01<<not an answer>>".to_vec());
    }
    respond(answer.status, &answer.content_type, answer.body)
}

/// A request's `Content-Type` (empty when it has none or it is not text).
#[must_use]
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
