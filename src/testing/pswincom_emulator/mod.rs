//! A loopback `PSWinCom` XML gateway for tests and examples: it checks
//! requests as strictly as the documentation and DTDs describe them, answers
//! with the documented `SESSION` bodies, can be told to fail, and pushes
//! delivery reports and incoming SMS to a URL like the real gateway.
//!
//! What it checks: `POST /`; `Content-Type` `text/xml` or `application/xml`;
//! the declared encoding against the bytes (a body declared ISO-8859-1 that
//! is really UTF-8 is refused, as is invalid UTF-8 declared UTF-8); a
//! well-formed `SESSION` with only the DTD's elements (plus `SD` and
//! `SERVICECODE`, which the official clients send); `CLIENT`/`PW`; at most
//! 100 `MSG`s with unique `ID`s — those four answer HTTP 400. Per message
//! (`STATUS FAIL` with an `INFO` naming the field): `RCV` digits only, no
//! `+`/`00`, at least 9; `SND` numeric ≤ 15 or alphanumeric ≤ 11 from the
//! allowed set; plain `TEXT` only GSM-7 characters and at most 2144; `OP` 9
//! `TEXT` valid UTF-16BE hex; `RCPREQ` `Y`; `TTL` a number;
//! `DELIVERYTIME` `yyyyMMddHHmm`.

//!
//! The files: `reading.rs` reads and checks a request as the gateway does
//! (with its own XML reading, never the client's), `answer.rs` answers it,
//! `push.rs` pushes reports and incoming SMS; this file holds the
//! gateway's state and ties them to the loopback core. The Intelecom
//! emulator is laid out the same way.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use axum::http::HeaderMap;

mod answer;
mod push;
mod reading;

use push::{Kind, push};
pub use push::{PswincomPushTransport, PswincomPushedDr, PswincomPushedMo, ack_reading};
use reading::{field, parse, recorded};

pub use super::loopback::MAX_RECORDED;
use super::loopback::{self, Answer, LoopbackGateway, Recorded, Wire, WireMessage};
pub use super::push::{PushResult, PushTarget};

/// A running `PSWinCom` emulator: the [loopback core](super::loopback) with
/// `PSWinCom`'s [`PswincomWire`].
pub type PswincomEmulator = LoopbackGateway<PswincomWire>;

/// What the emulator does with the next request: the transport faults
/// every loopback gateway has, or one of `PSWinCom`'s [`PswincomAnswerFault`]s.
pub type PswincomFault = loopback::Fault<PswincomAnswerFault>;

/// A request the emulator received, password masked.
pub type PswincomReceived = loopback::Received<PswincomRequest>;

/// `PSWinCom`'s own answer faults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PswincomAnswerFault {
    /// Answer `LOGON FAIL` with this `REASON`, whatever the credentials.
    LogonFail(String),
    /// Answer `STATUS FAIL` (with `INFO` "scripted failure") for these IDs.
    FailIds(Vec<String>),
    /// Leave these IDs out of the answer.
    MissingIds(Vec<String>),
    /// Answer these IDs twice, once OK and once FAIL.
    RepeatedIds(Vec<String>),
    /// Answer 200 with a body that is not well-formed XML.
    MalformedXml,
}

/// One `MSG` the emulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMsg {
    /// `ID`.
    pub id: String,
    /// `RCV`.
    pub receiver: String,
    /// The text, decoded from hex for `OP` 9.
    pub text: String,
    /// `OP`, if given.
    pub op: Option<String>,
    /// Every element of the `MSG`, in order, as sent.
    pub fields: Vec<(String, String)>,
    /// The `REF` the gateway answered this message with (`None`: refused,
    /// left out of the answer, or the request was not answered).
    pub reference: Option<String>,
}

impl ReceivedMsg {
    /// The message in the shape every gateway shares (`PSWinCom` has no
    /// priority and no client reference on the wire).
    #[must_use]
    pub fn wire_message(&self) -> WireMessage {
        let mut w = WireMessage::new(self.receiver.as_str(), self.text.as_str())
            .with_delivery_report(field(&self.fields, "RCPREQ") == Some("Y"));
        if let Some(s) = field(&self.fields, "SND") {
            w = w.with_sender(s);
        }
        if let Some(r) = &self.reference {
            w = w.with_gateway_reference(r.as_str());
        }
        w
    }
}

/// What a `PSWinCom` request carries, as the emulator read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PswincomRequest {
    /// The messages, in order.
    pub messages: Vec<ReceivedMsg>,
}

/// `PSWinCom`'s wire for the loopback core: `POST /` of a `SESSION`
/// document, read with the emulator's own XML reading (never the
/// client's), answered with the documented `SESSION` bodies.
#[derive(Debug)]
pub struct PswincomWire {
    user: String,
    password: crate::sms::Secret,
    next_ref: AtomicU64,
    dr_state: Mutex<String>,
}

impl PswincomWire {
    /// A gateway that accepts `user`/`password` and reports delivery with
    /// `STATE` `DELIVRD`.
    #[must_use]
    pub fn new(user: &str, password: &str) -> Self {
        PswincomWire {
            user: user.into(),
            password: password.into(),
            next_ref: AtomicU64::new(0x004A_4B00_34DB),
            dr_state: Mutex::new("DELIVRD".into()),
        }
    }
}

impl LoopbackGateway<PswincomWire> {
    /// A client builder pointed at this emulator (plain `http://` on
    /// loopback allowed, no failover to the real gateway), with its
    /// credentials: add what the test varies and `build()`.
    #[must_use]
    pub fn client_builder(&self) -> crate::pswincom::PswincomBuilder {
        let wire = self.wire();
        crate::pswincom::Pswincom::builder()
            .base_url(self.base_url())
            .dangerous_allow_http()
            .credentials(wire.user.clone(), wire.password.clone())
    }

    /// The `STATE` of automatic delivery reports (default `DELIVRD`).
    pub fn set_dr_state(&self, state: &str) {
        *self
            .wire()
            .dr_state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state.into();
    }
}

#[async_trait::async_trait]
impl Wire for PswincomWire {
    type Request = PswincomRequest;
    type AnswerFault = PswincomAnswerFault;
    type PushFormat = PswincomPushTransport;
    type Dr = PswincomPushedDr;
    type Mo = PswincomPushedMo;

    fn path(&self) -> &'static str {
        "/"
    }

    fn read(&self, _headers: &HeaderMap, body: &[u8]) -> Recorded<PswincomRequest> {
        recorded(parse(body, self.password.expose()).ok())
    }

    fn messages(request: &PswincomRequest) -> Vec<WireMessage> {
        request
            .messages
            .iter()
            .map(ReceivedMsg::wire_message)
            .collect()
    }

    // Counted on every recorded request: no conversion of the messages.
    fn recipients(request: &PswincomRequest) -> usize {
        request.messages.len()
    }

    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        fault: Option<&PswincomAnswerFault>,
    ) -> Answer<Self> {
        answer::submit(self, headers, body, fault)
    }

    /// Form pushes are redelivered on anything but 200; XML pushes
    /// redeliver the entries the answer does not acknowledge `OK` (see
    /// [`ack_xml`](crate::testing::wire::pswincom::ack_xml)), up to the target's
    /// retries.
    async fn push_drs(
        &self,
        target: &PushTarget,
        format: &PswincomPushTransport,
        drs: &[PswincomPushedDr],
    ) -> PushResult {
        push(
            target,
            format,
            Kind::Dr,
            drs.iter().map(PswincomPushedDr::fields).collect(),
        )
        .await
    }

    async fn push_mos(
        &self,
        target: &PushTarget,
        format: &PswincomPushTransport,
        mos: &[PswincomPushedMo],
    ) -> PushResult {
        push(
            target,
            format,
            Kind::Mo,
            mos.iter().map(PswincomPushedMo::fields).collect(),
        )
        .await
    }
}
