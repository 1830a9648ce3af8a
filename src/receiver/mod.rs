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
mod builder;
mod dedup;
mod error;
mod keys;
mod pipeline;
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

pub use builder::ReceiverBuilder;
use pipeline::{Checked, Refusal, refuse};

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
