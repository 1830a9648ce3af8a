//! The webhook receiver: an [`axum::Router`] the CRM mounts to take the
//! gateways' pushes of incoming SMS (MO) and delivery reports (DR).
//!
//! Each gateway is a [`PushFormat`] (the seam in
//! [`crate::sms::push`]): the built-in ones are mounted when their
//! features are on, and [`ReceiverBuilder::gateway`] mounts any other
//! under `/{name}/mo` and `/{name}/dr` with the same routing, dedup,
//! tracking, limits and answers. For the built-in gateways:
//!
//! | route | gateway | takes | answers |
//! |---|---|---|---|
//! | `POST /intelecom/mo`, `POST /intelecom/dr` | Intelecom | JSON `{"mo":[…]}` / `{"dr":[…]}` or XML | 200 (empty) once every entry is handled; 500 to have the batch redelivered |
//! | `GET /intelecom/mo`, `GET /intelecom/dr` | Intelecom | a GET template's query | 200 / 500 |
//! | `POST /pswincom/mo`, `POST /pswincom/dr` | `PSWinCom` | XML `MSGLST` or a form | XML: 200 with a `MSGLST` ack, `OK` or `FAIL` per `ID`; form: 200 `OK` / 500 |
//!
//! Each message reaches the application once: incoming SMS go through the
//! [`InboundRouter`] (by "SMS endpoint" code), delivery reports become
//! [`DeliveryEvent`]s (matched by the [`DeliveryTracker`] when one is set)
//! for the [`DeliveryHandler`]. Redeliveries are recognised through a
//! [`DedupStore`]. A handler error asks the gateway for redelivery (500, or
//! `FAIL` for that `ID`), so nothing is lost; a redelivery of a message
//! that was handled is acknowledged without handling it again.
//!
//! An entry that cannot be read (a batch with one malformed entry) is
//! reported to [`on_malformed`](ReceiverBuilder::on_malformed) and
//! acknowledged: the gateway resending the same bytes cannot fix it, and
//! the other entries are handled. A body that cannot be read at all gets
//! 400 with the reason.
//!
//! Parsing is linear in the body (nesting and fields per entry are
//! limited; the offending entry fails alone), and bodies over 32 KiB are
//! parsed on Tokio's blocking pool, so no push holds up the others. Every
//! unreadable entry is reported with its raw text
//! ([`CallbackError::raw`]).
//!
//! **Serving.** [`WebhookReceiver::serve`] (and
//! [`serve_with_shutdown`](WebhookReceiver::serve_with_shutdown)) serves
//! the routes with a header timeout, an idle timeout, a connection cap and
//! a graceful shutdown (defaults [`DEFAULT_HEADER_TIMEOUT`],
//! [`DEFAULT_IDLE_TIMEOUT`], [`DEFAULT_MAX_CONNECTIONS`],
//! [`DEFAULT_SHUTDOWN_GRACE`]). The body limit and body timeout live in the
//! router and hold however it is served; when you mount
//! [`router`](WebhookReceiver::router) in your own server, give that server
//! header and idle timeouts and a connection limit too.
//!
//! **Restarts.** The default [`MemoryDedup`] and the tracker's held reports
//! live in memory: after a restart a redelivered push is handled again,
//! and reports held at a crash are lost (a planned stop hands them on).
//! Use a shared, durable [`DedupStore`] where that matters.
//!
//! Callbacks are authenticated as the gateways offer it: a shared secret in
//! a header or a query parameter (compared in constant time; the query
//! parameter is removed before a GET template is read), and optionally an
//! allow-list of source addresses (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` so the receiver
//! sees them). Requests without the secret get 401 and from elsewhere 403,
//! and never reach a handler.
//!
//! ```no_run
//! use crm_comms::receiver::WebhookReceiver;
//! use crm_comms::sms::inbound::{InboundRouter, Routed, HandlerError};
//! use crm_comms::sms::tracking::{DeliveryEvent, DeliveryTracker, MemorySentStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let incoming = InboundRouter::new(|m: Routed| async move {
//!     println!("unrouted SMS from {:?}: {}", m.from, m.text);
//!     Ok::<(), HandlerError>(())
//! });
//! let receiver = WebhookReceiver::builder(incoming, |e: DeliveryEvent| async move {
//!     println!("{:?} is {:?}", e.recipient(), e.state());
//!     Ok::<(), HandlerError>(())
//! })
//! .tracker(DeliveryTracker::new(MemorySentStore::new()))
//! .secret_header("X-API-Key", "s3cret")
//! .build()?;
//! let app = axum::Router::new().nest("/sms", receiver.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! # Ok(()) }
//! ```

mod auth;
mod dedup;
mod error;
mod keys;
mod routes;
mod serve;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use dedup::{DedupStore, MemoryDedup, Seen};
pub use error::{ReceiverError, ReceiverErrorKind};
use ipnet::IpNet;
pub use serve::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE,
};

use crate::sms::inbound::{HandlerError, InboundRouter};
use crate::sms::push::{EntryFate, PushEntry, PushFormat, PushKind, PushRequest, Pushed};
use crate::sms::tracking::{DeliveryEvent, DeliveryHandler, DeliveryTracker};
use crate::sms::{CallbackError, DeliveryReceipt, IncomingMessage, Secret};
use keys::{dr_key, mo_key};
use routes::gateway_routes;

/// The largest body read by default (8 MiB: a vendor-sized push of 10,000
/// delivery reports is about 3 MB; a `PSWin` batch of 100 is about 30 KiB).
/// Peak memory is bounded by about [`DEFAULT_MAX_CONNECTIONS`] bodies of
/// this size, each parsed in at most 10× its size.
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;

/// The highest body limit a receiver accepts (what the parsers read).
pub const MAX_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// How long handled messages with a gateway id are remembered by default
/// (24 hours; the gateways stop redelivering long before).
pub const DEFAULT_DEDUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How long incoming SMS without a gateway id are remembered by default
/// (5 minutes; see [`ReceiverBuilder::dedup_window_without_id`]).
pub const DEFAULT_DEDUP_WINDOW_WITHOUT_ID: std::time::Duration =
    std::time::Duration::from_secs(5 * 60);

/// An entry of a push that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MalformedEntry {
    /// The gateway (`intelecom`, `pswincom`).
    pub provider: &'static str,
    /// `mo` or `dr`.
    pub kind: &'static str,
    /// The entry's `ID` where the format has one.
    pub id: String,
    /// What is wrong.
    pub error: CallbackError,
}

type MalformedHook = Arc<dyn Fn(MalformedEntry) + Send + Sync>;

/// Builds a [`WebhookReceiver`].
pub struct ReceiverBuilder {
    incoming: InboundRouter,
    deliveries: Arc<dyn DeliveryHandler>,
    tracker: Option<DeliveryTracker>,
    dedup: Arc<dyn DedupStore>,
    header_secret: Option<(String, Secret)>,
    query_secret: Option<(String, Secret)>,
    sources: Vec<IpNet>,
    bad_sources: Vec<String>,
    max_body: usize,
    body_timeout: std::time::Duration,
    limits: serve::Limits,
    dedup_window: std::time::Duration,
    dedup_window_without_id: std::time::Duration,
    gateways: Vec<Arc<dyn PushFormat>>,
    on_malformed: MalformedHook,
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("incoming", &self.incoming)
            .field("tracker", &self.tracker.is_some())
            .field("header_secret", &self.header_secret)
            .field("query_secret", &self.query_secret)
            .field("sources", &self.sources)
            .field("max_body", &self.max_body)
            .field("body_timeout", &self.body_timeout)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ReceiverBuilder {
    /// Mounts another gateway's pushes under `/{name}/mo` and
    /// `/{name}/dr` (replacing a built-in one of the same name): routing,
    /// dedup, tracking, limits and answers come with it. The built-in
    /// gateways are mounted when their features are on.
    #[must_use]
    pub fn gateway(mut self, format: impl PushFormat) -> Self {
        let name = format.name();
        self.gateways.retain(|g| g.name() != name);
        self.gateways.push(Arc::new(format));
        self
    }

    /// How long a handled message with a gateway id is remembered, so its
    /// redeliveries are acknowledged without handling (default
    /// [`DEFAULT_DEDUP_WINDOW`]).
    #[must_use]
    pub fn dedup_window(mut self, window: std::time::Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// How long an incoming SMS **without** a gateway id (`PSWinCom`'s MO
    /// without `REF`) is remembered (default
    /// [`DEFAULT_DEDUP_WINDOW_WITHOUT_ID`]). Such a message is told apart
    /// only by sender, number and text, so a second `STOPP` from the same
    /// phone is real traffic once the gateway's redelivery horizon has
    /// passed; keep this short. `PSWinCom` does not document its retry
    /// schedule; redeliveries follow a failed or late answer within
    /// minutes.
    #[must_use]
    pub fn dedup_window_without_id(mut self, window: std::time::Duration) -> Self {
        self.dedup_window_without_id = window;
        self
    }

    /// How long a client may take to send the whole body once the head is
    /// in (default [`DEFAULT_BODY_TIMEOUT`]); slower ones get 408. Holds
    /// wherever the router is served.
    #[must_use]
    pub fn body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// How long a client may take to send a request's head (default
    /// [`DEFAULT_HEADER_TIMEOUT`]); then the connection is closed. Applies
    /// to [`WebhookReceiver::serve`]; configure your own server likewise
    /// when you mount the router yourself.
    #[must_use]
    pub fn header_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.header_timeout = timeout;
        self
    }

    /// How long a new connection may take to send its first byte (default
    /// [`DEFAULT_FIRST_BYTE_TIMEOUT`]). A connection takes one of the
    /// [`max_connections`](Self::max_connections) only once it has sent
    /// something, so sockets that never send a byte cannot shut the
    /// gateway out; at most four times that many wait for their first
    /// byte. Applies to [`WebhookReceiver::serve`].
    #[must_use]
    pub fn first_byte_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.first_byte_timeout = timeout;
        self
    }

    /// How long a connection may sit without a request (default
    /// [`DEFAULT_IDLE_TIMEOUT`]). Applies to [`WebhookReceiver::serve`].
    #[must_use]
    pub fn idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// The most connections served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); one more is closed as soon as it is
    /// accepted, so file descriptors never run out. Applies to
    /// [`WebhookReceiver::serve`].
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// How long requests in flight may take to finish on shutdown (default
    /// [`DEFAULT_SHUTDOWN_GRACE`]). Applies to
    /// [`WebhookReceiver::serve_with_shutdown`].
    #[must_use]
    pub fn shutdown_grace(mut self, grace: std::time::Duration) -> Self {
        self.limits.shutdown_grace = grace;
        self
    }

    /// Matches delivery reports to sent messages (without one, every
    /// [`DeliveryEvent`] has `sent: None`).
    #[must_use]
    pub fn tracker(mut self, tracker: DeliveryTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// Where handled messages are remembered (default [`MemoryDedup::new`];
    /// use a shared store when several processes receive).
    #[must_use]
    pub fn dedup(mut self, store: impl DedupStore + 'static) -> Self {
        self.dedup = Arc::new(store);
        self
    }

    /// Requires the header `name` to carry `secret` (Intelecom's fixed
    /// header, e.g. `X-API-Key`).
    #[must_use]
    pub fn secret_header(mut self, name: &str, secret: impl Into<Secret>) -> Self {
        self.header_secret = Some((name.to_owned(), secret.into()));
        self
    }

    /// Requires the query parameter `name` to carry `secret` (a fixed query
    /// parameter in the URL given to the gateway; the only option for
    /// `PSWinCom`). With a header secret too, either one is enough.
    #[must_use]
    pub fn secret_query(mut self, name: &str, secret: impl Into<Secret>) -> Self {
        self.query_secret = Some((name.to_owned(), secret.into()));
        self
    }

    /// Accepts requests only from these networks (the gateways' published
    /// addresses), in CIDR form: `"185.39.124.0/22"`, `"2001:db8::/32"`, or
    /// a single address. [`WebhookReceiver::serve`] passes the connection's
    /// address; in your own server, serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// A network that cannot be read makes [`build`](Self::build) fail.
    #[must_use]
    pub fn allow_sources<S: AsRef<str>>(mut self, networks: impl IntoIterator<Item = S>) -> Self {
        for n in networks {
            let text = n.as_ref().trim();
            match text
                .parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            {
                Ok(net) => self.sources.push(net),
                Err(_) => self.bad_sources.push(text.to_owned()),
            }
        }
        self
    }

    /// The largest body read (default [`DEFAULT_MAX_BODY`]); larger ones get
    /// 413.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Called for every entry that cannot be read (default: a `tracing`
    /// warning without the entry's content).
    #[must_use]
    pub fn on_malformed(mut self, hook: impl Fn(MalformedEntry) + Send + Sync + 'static) -> Self {
        self.on_malformed = Arc::new(hook);
        self
    }

    /// Validates and builds the receiver.
    ///
    /// # Errors
    ///
    /// An empty secret, a header or parameter name that cannot be used, or
    /// a zero body limit.
    pub fn build(self) -> Result<WebhookReceiver, ReceiverError> {
        let bad = |field: &'static str, m: &str| Err(ReceiverError::invalid(field, m));
        let mut header = None;
        if let Some((name, secret)) = &self.header_secret {
            let Ok(n) = HeaderName::try_from(name.as_str()) else {
                return bad(
                    "secret_header",
                    "the secret header's name is not a valid header name",
                );
            };
            if secret.is_empty() {
                return bad("secret_header", "the header secret is empty");
            }
            header = Some((n, secret.clone()));
        }
        if let Some((name, secret)) = &self.query_secret {
            if name.is_empty() {
                return bad("secret_query", "the secret query parameter's name is empty");
            }
            if secret.is_empty() {
                return bad("secret_query", "the query secret is empty");
            }
        }
        if let Some(n) = self.bad_sources.first() {
            return bad(
                "allow_sources",
                &format!("{n:?} is not a network (CIDR such as 185.39.124.0/22) or an address"),
            );
        }
        if self.max_body == 0 {
            return bad("max_body", "the body limit is zero");
        }
        if self.max_body > MAX_BODY_LIMIT {
            return bad(
                "max_body",
                "the body limit is above 32 MiB, the most the parsers read",
            );
        }
        if self.limits.max_connections == 0 {
            return bad("max_connections", "the connection limit is zero");
        }
        for (field, t) in [
            ("body_timeout", self.body_timeout),
            ("header_timeout", self.limits.header_timeout),
            ("first_byte_timeout", self.limits.first_byte_timeout),
            ("idle_timeout", self.limits.idle_timeout),
        ] {
            if t.is_zero() {
                return bad(field, "the timeout is zero");
            }
        }
        if let Some(t) = &self.tracker {
            t.deliver_held_to(self.deliveries.clone());
        }
        Ok(WebhookReceiver {
            inner: Arc::new(Inner {
                incoming: self.incoming,
                deliveries: self.deliveries,
                tracker: self.tracker,
                dedup: self.dedup,
                header_secret: header,
                query_secret: self.query_secret,
                sources: self.sources,
                max_body: self.max_body,
                body_timeout: self.body_timeout,
                limits: self.limits,
                dedup_window: self.dedup_window,
                dedup_window_without_id: self.dedup_window_without_id,
                gateways: self.gateways,
                on_malformed: self.on_malformed,
                sweeping: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }
}

/// Takes the gateways' pushes; [`router`](Self::router) gives the routes.
#[derive(Clone)]
pub struct WebhookReceiver {
    inner: Arc<Inner>,
}

impl fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("incoming", &self.inner.incoming)
            .field("authenticated", &self.inner.authenticates())
            .finish_non_exhaustive()
    }
}

struct Inner {
    incoming: InboundRouter,
    deliveries: Arc<dyn DeliveryHandler>,
    tracker: Option<DeliveryTracker>,
    dedup: Arc<dyn DedupStore>,
    header_secret: Option<(HeaderName, Secret)>,
    query_secret: Option<(String, Secret)>,
    sources: Vec<IpNet>,
    max_body: usize,
    body_timeout: std::time::Duration,
    limits: serve::Limits,
    dedup_window: std::time::Duration,
    dedup_window_without_id: std::time::Duration,
    gateways: Vec<Arc<dyn PushFormat>>,
    on_malformed: MalformedHook,
    /// Whether the held-report sweeper runs.
    sweeping: std::sync::atomic::AtomicBool,
}

impl WebhookReceiver {
    /// A receiver handing incoming SMS to `incoming` and delivery events to
    /// `deliveries`.
    pub fn builder(
        incoming: InboundRouter,
        deliveries: impl DeliveryHandler + 'static,
    ) -> ReceiverBuilder {
        ReceiverBuilder {
            incoming,
            deliveries: Arc::new(deliveries),
            tracker: None,
            dedup: Arc::new(MemoryDedup::new()),
            header_secret: None,
            query_secret: None,
            sources: Vec::new(),
            bad_sources: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            limits: serve::Limits::default(),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            dedup_window_without_id: DEFAULT_DEDUP_WINDOW_WITHOUT_ID,
            gateways: built_in_gateways(),
            on_malformed: Arc::new(|e: MalformedEntry| {
                tracing::warn!(
                    provider = e.provider,
                    kind = e.kind,
                    id = %e.id,
                    error = %e.error,
                    "a pushed entry could not be read"
                );
            }),
        }
    }

    /// The routes (see the [module docs](self)), to nest where the
    /// gateways are told to push.
    ///
    /// With a tracker, the first call (inside a Tokio runtime) also starts
    /// the task that hands on held delivery reports once a second; it
    /// stops when the receiver is dropped.
    pub fn router(&self) -> Router {
        self.start_sweeper();
        self.inner.gateways.iter().fold(Router::new(), |router, g| {
            router.merge(gateway_routes(&self.inner, g))
        })
    }
}

impl WebhookReceiver {
    fn start_sweeper(&self) {
        let Some(tracker) = self.inner.tracker.clone() else {
            return;
        };
        if self
            .inner
            .sweeping
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner
                .sweeping
                .store(false, std::sync::atomic::Ordering::SeqCst);
            return;
        };
        let alive = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if alive.strong_count() == 0 {
                    tracker.flush_held().await;
                    return;
                }
                tracker.sweep().await;
            }
        });
    }

    /// Hands every delivery report the tracker holds to the delivery
    /// handler, unmatched (call before a planned stop; `crm-comms receive`
    /// does on SIGTERM). Returns how many.
    pub async fn flush_held(&self) -> usize {
        match &self.inner.tracker {
            Some(t) => t.flush_held().await,
            None => 0,
        }
    }
}

/// The gateways this build can read.
#[allow(clippy::vec_init_then_push)]
fn built_in_gateways() -> Vec<Arc<dyn PushFormat>> {
    #[allow(unused_mut)]
    let mut v: Vec<Arc<dyn PushFormat>> = Vec::new();
    #[cfg(feature = "intelecom")]
    v.push(Arc::new(crate::intelecom::callback::IntelecomPushes));
    #[cfg(feature = "pswincom")]
    v.push(Arc::new(crate::pswincom::callback::PswincomPushes));
    v
}

/// A request after the checks every route makes.
#[derive(Clone)]
struct Checked {
    method: Method,
    content_type: String,
    /// The query without the secret parameter.
    query: String,
    body: axum::body::Bytes,
}

/// A request refused before any handler: the status and the reason.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, self.1)
    }
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal(status, reason.into())
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

impl Inner {
    /// Source, secret and body checks; the response to give instead when
    /// one fails.
    async fn check(&self, request: Request) -> Result<Checked, Refusal> {
        let (parts, body) = request.into_parts();
        if !self.sources.is_empty() {
            let from = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            if !from.is_some_and(|ip| self.sources.iter().any(|n| n.contains(&ip))) {
                return Err(refuse(StatusCode::FORBIDDEN, "source address not allowed"));
            }
        }
        let raw_query = parts.uri.query().unwrap_or("");
        let (query, query_ok) = self.strip_query_secret(raw_query);
        if self.authenticates() && !(query_ok || self.header_ok(&parts.headers)) {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "missing or wrong callback secret",
            ));
        }
        let read = axum::body::to_bytes(Body::new(body), self.max_body);
        let body = match tokio::time::timeout(self.body_timeout, read).await {
            Ok(Ok(b)) => b,
            Err(_) => {
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the body did not arrive within {} s",
                        self.body_timeout.as_secs_f32()
                    ),
                ));
            }
            Ok(Err(e)) if too_large(&e) => {
                return Err(refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", self.max_body),
                ));
            }
            // Bad chunked framing, a body cut off: the request is broken,
            // not too large.
            Ok(Err(_)) => {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "the body is malformed (its framing) or was cut off",
                ));
            }
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Checked {
            method: parts.method,
            content_type,
            query,
            body,
        })
    }

    /// Hands one incoming SMS to its handler, once.
    async fn take_mo(&self, message: IncomingMessage) -> EntryFate {
        let key = mo_key(&message);
        let window = if message.unique_id {
            self.dedup_window
        } else {
            self.dedup_window_without_id
        };
        self.once(&key, window, async {
            self.incoming.dispatch(message).await.map(|_| ())
        })
        .await
    }

    /// Hands one delivery report to the delivery handler, once.
    async fn take_dr(&self, receipt: DeliveryReceipt) -> EntryFate {
        let key = dr_key(&receipt);
        self.once(&key, self.dedup_window, async {
            let event = match &self.tracker {
                Some(t) => t.on_receipt(receipt).await.map_err(HandlerError::from)?,
                None => Some(DeliveryEvent::unmatched(receipt)),
            };
            match event {
                Some(event) => self.deliveries.handle(event).await,
                // Held by the tracker until its record arrives; the tracker
                // hands it to the same handler.
                None => Ok(()),
            }
        })
        .await
    }

    /// Hands a push's delivery reports to the delivery handler, each once:
    /// their dedup keys claimed together, the new ones handled together
    /// ([`DeliveryHandler::handle_many`]), and recorded together. One fate
    /// per receipt, in order.
    async fn take_drs(&self, receipts: Vec<DeliveryReceipt>) -> Vec<EntryFate> {
        use futures_util::FutureExt;

        if receipts.len() == 1 {
            let r = receipts.into_iter().next().expect("one receipt");
            return vec![self.take_dr(r).await];
        }
        let keys: Vec<String> = receipts.iter().map(dr_key).collect();
        let seen = match self.dedup.begin_many(&keys, self.dedup_window).await {
            Ok(s) if s.len() == keys.len() => s,
            Ok(_) | Err(_) => {
                tracing::warn!("the dedup store failed; asking for redelivery");
                return vec![EntryFate::Redeliver; keys.len()];
            }
        };
        let mut fates: Vec<EntryFate> = seen
            .iter()
            .map(|s| match s {
                Seen::Done => EntryFate::Acknowledged,
                _ => EntryFate::Redeliver,
            })
            .collect();
        // The new ones, matched by the tracker (held ones are handed on by
        // it later), then handled together.
        let mut new: Vec<usize> = Vec::new();
        let mut events = Vec::new();
        let mut handled: Vec<(String, bool)> = Vec::new();
        for (i, (receipt, s)) in receipts.into_iter().zip(&seen).enumerate() {
            if *s != Seen::New {
                continue;
            }
            let event = match &self.tracker {
                Some(t) => match t.on_receipt(receipt).await {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "the sent-message store failed; asking for redelivery");
                        handled.push((keys[i].clone(), false));
                        continue;
                    }
                },
                None => Some(DeliveryEvent::unmatched(receipt)),
            };
            if let Some(e) = event {
                new.push(i);
                events.push(e);
            } else {
                fates[i] = EntryFate::Acknowledged;
                handled.push((keys[i].clone(), true));
            }
        }
        if !events.is_empty() {
            let results = std::panic::AssertUnwindSafe(self.deliveries.handle_many(events))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!("a handler panicked; asking for redelivery");
                    Vec::new()
                });
            for (k, i) in new.iter().enumerate() {
                let ok = match results.get(k) {
                    Some(Ok(())) => true,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "a handler failed; asking for redelivery");
                        false
                    }
                    None => false,
                };
                fates[*i] = if ok {
                    EntryFate::Acknowledged
                } else {
                    EntryFate::Redeliver
                };
                handled.push((keys[*i].clone(), ok));
            }
        }
        if let Err(e) = self.dedup.finish_many(&handled).await {
            tracing::warn!(error = %e, "the dedup store failed to record entries");
        }
        fates
    }

    /// Runs `handle` unless `key` was handled within `window`; a handler
    /// that fails or panics releases the key, so the redelivery is handled.
    async fn once(
        &self,
        key: &str,
        window: std::time::Duration,
        handle: impl std::future::Future<Output = Result<(), HandlerError>>,
    ) -> EntryFate {
        use futures_util::FutureExt;

        match self.dedup.begin(key, window).await {
            Ok(Seen::New) => {}
            Ok(Seen::Done) => return EntryFate::Acknowledged,
            Ok(Seen::InProgress) => return EntryFate::Redeliver,
            Err(e) => {
                tracing::warn!(error = %e, "the dedup store failed; asking for redelivery");
                return EntryFate::Redeliver;
            }
        }
        let handled = match std::panic::AssertUnwindSafe(handle).catch_unwind().await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "a handler failed; asking for redelivery");
                false
            }
            Err(_) => {
                tracing::error!("a handler panicked; asking for redelivery");
                false
            }
        };
        if let Err(e) = self.dedup.finish(key, handled).await {
            tracing::warn!(error = %e, "the dedup store failed to record an entry");
        }
        if handled {
            EntryFate::Acknowledged
        } else {
            EntryFate::Redeliver
        }
    }

    fn malformed(
        &self,
        provider: &'static str,
        kind: &'static str,
        id: &str,
        error: CallbackError,
    ) {
        (self.on_malformed)(MalformedEntry {
            provider,
            kind,
            id: id.to_owned(),
            error,
        });
    }
}

/// Whether reading a body failed on the size limit (not on its framing).
fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}
