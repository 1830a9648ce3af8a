//! A loopback Intelecom/Puzzel gateway for tests and examples: it checks
//! requests as strictly as the documentation describes them and answers
//! with the documented bodies, can be told to fail, and pushes delivery
//! reports and incoming SMS to a URL like the real gateway
//! ([`IntelecomEmulator::deliver_reports_to`], [`IntelecomEmulator::push_drs`],
//! [`IntelecomEmulator::push_mos`]).

//!
//! The files: `reading.rs` reads and checks a request as the gateway does,
//! `answer.rs` answers it, `push.rs` pushes reports and incoming SMS; this
//! file holds the gateway's state and ties them to the loopback core. The
//! `PSWinCom` emulator is laid out the same way.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::HeaderMap;

mod answer;
mod push;
mod reading;

use push::{Fields, requests};
pub use push::{IntelecomPushTransport, IntelecomPushedDr, IntelecomPushedMo};
use reading::recorded;

pub use super::loopback::MAX_RECORDED;
use super::loopback::{self, Answer, LoopbackGateway, Recorded, Wire, WireMessage};
use super::push::deliver;
pub use super::push::{PushResult, PushTarget};

/// A running Intelecom emulator: the [loopback core](super::loopback) with
/// Intelecom's [`IntelecomWire`].
pub type IntelecomEmulator = LoopbackGateway<IntelecomWire>;

/// What the emulator does with the next request: the transport faults
/// every loopback gateway has, or one of Intelecom's [`IntelecomAnswerFault`]s.
pub type IntelecomFault = loopback::Fault<IntelecomAnswerFault>;

/// A request the emulator received, password masked.
pub type IntelecomReceived = loopback::Received<IntelecomRequest>;

/// Intelecom's own answer faults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntelecomAnswerFault {
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer 200 with these status codes, one per message in turn.
    StatusCodes(Vec<i64>),
    /// Answer 200 but leave the last message out of `messageStatus`.
    DropLastStatus,
}

/// What an Intelecom request carries, as the emulator read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntelecomRequest {
    /// The messages, in order: `recipient`, `content`, the originator,
    /// `priority`, the report flag (`skip_customer_report_delivery` absent
    /// or not `true`), `clientReference`, and the `messageId` answered.
    pub messages: Vec<WireMessage>,
}

impl IntelecomRequest {
    /// The recipients, in order, as sent.
    #[must_use]
    pub fn recipients(&self) -> Vec<&str> {
        self.messages.iter().map(|m| m.recipient.as_str()).collect()
    }
}

/// Intelecom's wire for the loopback core: `POST /gw/rs/sendMessages`,
/// read with the emulator's own serde structs (unknown fields refused),
/// answered as the gateway documents.
#[derive(Debug)]
pub struct IntelecomWire {
    service_id: i64,
    username: String,
    password: crate::sms::Secret,
    max_batch: AtomicU64,
    dr_status: AtomicI64,
    next_id: AtomicU64,
    duplicate_check: std::sync::atomic::AtomicBool,
    ledger: std::sync::Mutex<Ledger>,
}

/// What the gateway has taken, for the record: every acceptance per
/// recipient (unbounded, unlike the request recorder) and the client
/// references its uniqueness check remembers.
#[derive(Debug, Default)]
struct Ledger {
    accepted: std::collections::HashMap<String, u32>,
    references: std::collections::HashMap<String, std::time::Instant>,
}

/// How long the uniqueness check remembers a client reference.
const DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

impl IntelecomWire {
    /// A gateway that accepts service `service_id` with
    /// `username`/`password`, at most 1000 messages a request, and reports
    /// delivery with `statuscode` 0.
    #[must_use]
    pub fn new(service_id: i64, username: &str, password: &str) -> Self {
        IntelecomWire {
            service_id,
            username: username.into(),
            password: password.into(),
            max_batch: AtomicU64::new(1000),
            dr_status: AtomicI64::new(0),
            next_id: AtomicU64::new(0),
            duplicate_check: std::sync::atomic::AtomicBool::new(false),
            ledger: std::sync::Mutex::default(),
        }
    }
}

impl LoopbackGateway<IntelecomWire> {
    /// A client builder pointed at this emulator (plain `http://` on
    /// loopback allowed), with its service ID and credentials: add what the
    /// test varies and `build()`.
    #[must_use]
    pub fn client_builder(&self) -> crate::intelecom::IntelecomBuilder {
        let wire = self.wire();
        crate::intelecom::Intelecom::builder()
            .base_url(self.base_url())
            .dangerous_allow_http()
            .service_id(u32::try_from(wire.service_id).unwrap_or(0))
            .credentials(wire.username.clone(), wire.password.clone())
    }

    /// The `statuscode` of automatic delivery reports (default 0).
    pub fn set_dr_status(&self, code: i64) {
        self.wire().dr_status.store(code, Ordering::Relaxed);
    }

    /// Turns the account's uniqueness check on or off (default off): with
    /// it on, a `clientReference` the gateway took within the last hour is
    /// refused with status 25 (`ERROR_NOT_UNIQUE`) and not sent again.
    pub fn set_duplicate_check(&self, on: bool) {
        self.wire().duplicate_check.store(on, Ordering::Relaxed);
    }

    /// How many times the gateway accepted a message to each recipient
    /// (E.164 as sent), over the emulator's whole life: a number above 1
    /// is a recipient sent twice.
    #[must_use]
    pub fn acceptances(&self) -> std::collections::HashMap<String, u32> {
        self.wire()
            .ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .accepted
            .clone()
    }

    /// Sets the most messages one request may carry (default 1000).
    pub fn set_max_batch(&self, n: usize) {
        self.wire().max_batch.store(n as u64, Ordering::Relaxed);
    }
}

#[async_trait::async_trait]
impl Wire for IntelecomWire {
    type Request = IntelecomRequest;
    type AnswerFault = IntelecomAnswerFault;
    type PushFormat = IntelecomPushTransport;
    type Dr = IntelecomPushedDr;
    type Mo = IntelecomPushedMo;

    fn path(&self) -> &'static str {
        "/gw/rs/sendMessages"
    }

    fn read(&self, _headers: &HeaderMap, body: &[u8]) -> Recorded<IntelecomRequest> {
        let req: Option<reading::Req> = serde_json::from_slice(body).ok();
        recorded(body, req.as_ref(), self.password.expose())
    }

    fn messages(request: &IntelecomRequest) -> Vec<WireMessage> {
        request.messages.clone()
    }

    // Counted on every recorded request: no copy of the messages.
    fn recipients(request: &IntelecomRequest) -> usize {
        request.messages.len()
    }

    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        fault: Option<&IntelecomAnswerFault>,
    ) -> Answer<Self> {
        answer::answer(self, headers, body, fault)
    }

    async fn push_drs(
        &self,
        target: &PushTarget,
        format: &IntelecomPushTransport,
        drs: &[IntelecomPushedDr],
    ) -> PushResult {
        let entries: Vec<Fields> = drs.iter().map(IntelecomPushedDr::fields).collect();
        deliver(target, requests(target, format, "dr", &entries)).await
    }

    async fn push_mos(
        &self,
        target: &PushTarget,
        format: &IntelecomPushTransport,
        mos: &[IntelecomPushedMo],
    ) -> PushResult {
        let entries: Vec<Fields> = mos.iter().map(IntelecomPushedMo::fields).collect();
        deliver(target, requests(target, format, "mo", &entries)).await
    }
}
