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

mod gateway;
mod wire;

pub use gateway::LoopbackGateway;
pub use wire::{Answer, Recorded, Wire, WireMessage};

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

impl<A> From<A> for Fault<A> {
    fn from(answer: A) -> Self {
        Fault::Answer(answer)
    }
}

/// A request's `Content-Type` (empty when it has none or it is not text).
#[must_use]
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
