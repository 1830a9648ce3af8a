//! A loopback Intelecom/Puzzel gateway for tests and examples: it checks
//! requests as strictly as the documentation describes them and answers
//! with the documented bodies, can be told to fail, and pushes delivery
//! reports and incoming SMS to a URL like the real gateway
//! ([`IntelecomEmulator::deliver_reports_to`], [`IntelecomEmulator::push_drs`],
//! [`IntelecomEmulator::push_mos`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::push::{PushRequest, deliver};
pub use super::push::{PushResult, PushTarget};
use super::server::{Reset, ResetHooks, serve};

/// What the emulator does with the next request instead of answering
/// normally.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this HTTP status and an HTML error page.
    Http(u16),
    /// Wait this long before answering normally.
    Slow(Duration),
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer 200 with these status codes, one per message in turn.
    StatusCodes(Vec<i64>),
    /// Answer 200 but leave the last message out of `messageStatus`.
    DropLastStatus,
    /// Close the connection as soon as the request line and headers are
    /// read, before the body: nothing was accepted, but the client cannot
    /// tell.
    ResetBeforeBody,
    /// Read the whole request (it is recorded with status 0, as if the
    /// gateway had queued it), then close the connection without answering.
    ResetAfterBody,
    /// Handle the request (it is recorded as answered), but close the
    /// connection halfway through the answer's body. The answer is the one the request
    /// would get otherwise — including the next scripted fault, if any
    /// (script this and then a partial answer to cut that one off).
    TruncatedAnswer,
}

/// How many requests the emulator remembers (the oldest are forgotten).
pub const MAX_RECORDED: usize = 1000;

/// A request the emulator received, password masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The recipients, in order.
    pub recipients: Vec<String>,
    /// The texts, in order.
    pub contents: Vec<String>,
    /// The request body with the password replaced by `***`.
    pub body: String,
    /// The answer's HTTP status.
    pub status: u16,
}

#[derive(Debug)]
struct Inner {
    dr_target: Option<(PushTarget, PushFormat)>,
    dr_status: i64,
    service_id: i64,
    username: String,
    password: crate::sms::Secret,
    max_batch: usize,
    faults: VecDeque<Fault>,
    received: VecDeque<Received>,
    /// Requests recorded since the start.
    seen: u64,
    next_id: u64,
}

/// A running emulator on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct IntelecomEmulator {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for IntelecomEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IntelecomEmulator {
    /// Starts an emulator on `127.0.0.1:0` that accepts service `service_id`
    /// with `username`/`password`. Needs a running tokio runtime.
    ///
    /// # Errors
    ///
    /// If the loopback port cannot be bound.
    pub async fn start(service_id: i64, username: &str, password: &str) -> std::io::Result<Self> {
        Self::start_on(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            service_id,
            username,
            password,
        )
        .await
    }

    /// As [`start`](Self::start), listening on `addr` (for the command-line
    /// emulator; keep it on a loopback address).
    ///
    /// # Errors
    ///
    /// If `addr` cannot be bound.
    pub async fn start_on(
        addr: SocketAddr,
        service_id: i64,
        username: &str,
        password: &str,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            dr_target: None,
            dr_status: 0,
            service_id,
            username: username.into(),
            password: password.into(),
            max_batch: 1000,
            faults: VecDeque::new(),
            received: VecDeque::new(),
            seen: 0,
            next_id: 0,
        }));
        let app = Router::new()
            .route("/gw/rs/sendMessages", post(send_messages))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, app, inner.clone()));
        Ok(IntelecomEmulator { addr, inner, task })
    }

    /// From now on, push a delivery report for every message the emulator
    /// accepts (unless it was sent with `skip_customer_report_delivery`),
    /// like a service with DRs enabled. The DR's `statuscode` is 0
    /// (delivered) unless [`set_dr_status`](Self::set_dr_status) says
    /// otherwise. Pushes happen in the background, one request per
    /// accepted batch (one per message for GET templates).
    pub fn deliver_reports_to(&self, target: PushTarget, format: PushFormat) {
        self.lock().dr_target = Some((target, format));
    }

    /// The `statuscode` of automatic delivery reports (default 0).
    pub fn set_dr_status(&self, code: i64) {
        self.lock().dr_status = code;
    }

    /// Pushes delivery reports to `target` now, redelivering on failure as
    /// configured; says what each attempt got.
    pub async fn push_drs(
        &self,
        target: &PushTarget,
        format: &PushFormat,
        drs: &[PushedDr],
    ) -> PushResult {
        let entries: Vec<Fields> = drs.iter().map(PushedDr::fields).collect();
        deliver(target, requests(target, format, "dr", &entries)).await
    }

    /// Pushes incoming SMS to `target` now, redelivering on failure as
    /// configured; says what each attempt got.
    pub async fn push_mos(
        &self,
        target: &PushTarget,
        format: &PushFormat,
        mos: &[PushedMo],
    ) -> PushResult {
        let entries: Vec<Fields> = mos.iter().map(PushedMo::fields).collect();
        deliver(target, requests(target, format, "mo", &entries)).await
    }

    /// The base URL to give the client (`http://127.0.0.1:<port>`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes the next request fail with `fault` (faults queue up).
    pub fn fail_next(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Sets the most messages one request may carry (default 1000).
    pub fn set_max_batch(&self, n: usize) {
        self.lock().max_batch = n;
    }

    /// How many requests were recorded since the start (keeps counting
    /// when [`received`](Self::received) drops the oldest).
    #[must_use]
    pub fn requests_seen(&self) -> u64 {
        self.lock().seen
    }

    /// The requests received so far (the last [`MAX_RECORDED`]).
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Req {
    service_id: i64,
    username: String,
    password: String,
    #[serde(default)]
    batch_reference: Option<String>,
    message: Vec<Msg>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Msg {
    recipient: String,
    content: String,
    #[serde(default)]
    price: Option<i64>,
    #[serde(default)]
    client_reference: Option<String>,
    #[serde(default)]
    settings: Option<Settings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Settings {
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    validity: Option<i64>,
    #[serde(default)]
    originator_settings: Option<Originator>,
    #[serde(default)]
    parameter: Vec<Param>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    new_session: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Originator {
    originator_type: String,
    originator: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Param {
    key: String,
    value: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    batch_reference: Option<&'a str>,
    message_status: Vec<StatusOut<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusOut<'a> {
    status_code: i64,
    status_message: String,
    client_reference: Option<&'a str>,
    recipient: &'a str,
    message_id: Option<String>,
    session_id: Option<&'a str>,
    sequence_index: usize,
}

const KNOWN_PARAMETERS: &[&str] = &[
    "businessModel",
    "dcs",
    "udh",
    "pid",
    "flash",
    "parsing-type",
    "skip_customer_report_delivery",
];

/// Why one message is a syntax error (statusCode 5), if it is.
fn syntax_error(m: &Msg) -> Option<String> {
    let r = m.recipient.as_bytes();
    if !(r.first() == Some(&b'+')
        && (9..=16).contains(&r.len())
        && r[1..].iter().all(u8::is_ascii_digit)
        && r[1] != b'0')
    {
        return Some(format!("recipient {:?} is not E.164 with +", m.recipient));
    }
    // "Must be a mobile MSISDN": Norwegian mobile numbers are 8 digits
    // starting with 4 or 9 (other countries are not checked).
    let mobile =
        |national: &str| national.len() == 8 && matches!(national.as_bytes()[0], b'4' | b'9');
    if m.recipient.strip_prefix("+47").is_some_and(|n| !mobile(n)) {
        return Some(format!(
            "recipient {:?} is not a mobile number",
            m.recipient
        ));
    }
    if m.content.is_empty() {
        return Some("content is empty".into());
    }
    if m.content.chars().count() > 918 {
        return Some("content is longer than 918 characters".into());
    }
    if m.price.is_some_and(|p| p < 0) {
        return Some("price is negative".into());
    }
    if let Some(s) = &m.settings {
        if s.priority.is_some_and(|p| !(1..=3).contains(&p)) {
            return Some("priority must be 1, 2 or 3".into());
        }
        if s.validity.is_some_and(|v| !(0..=173).contains(&v)) {
            return Some("validity must be 0-173".into());
        }
        if let Some(o) = &s.originator_settings {
            let ok = match o.originator_type.as_str() {
                "ALPHANUMERIC" | "Alphanumeric" => {
                    !o.originator.is_empty()
                        && o.originator.chars().count() <= 11
                        && o.originator
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || " %&-+.,".contains(c))
                }
                "INTERNATIONAL" | "International" => {
                    o.originator.starts_with('+')
                        && o.originator[1..].bytes().all(|b| b.is_ascii_digit())
                }
                "NETWORK" | "Network" => {
                    !o.originator.is_empty() && o.originator.bytes().all(|b| b.is_ascii_digit())
                }
                _ => false,
            };
            if !ok {
                return Some(format!(
                    "originatorSettings {:?}/{:?} is invalid",
                    o.originator_type, o.originator
                ));
            }
        }
        for p in &s.parameter {
            if !KNOWN_PARAMETERS.contains(&p.key.as_str()) {
                return Some(format!("unknown parameter {:?}", p.key));
            }
            if p.key == "skip_customer_report_delivery"
                && !matches!(p.value.as_str(), "true" | "false")
            {
                return Some("skip_customer_report_delivery must be true or false".into());
            }
        }
        // `sessionId` together with `newSession` is documented as allowed
        // (a new session wins), so it is not checked.
        let _ = (&s.session_id, s.new_session);
    }
    None
}

fn error_page(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html")],
        format!(
            "<html><body><h1>{}</h1><p>{reason}</p></body></html>",
            status.as_u16()
        ),
    )
        .into_response()
}

fn record(inner: &Arc<Mutex<Inner>>, body: &Bytes, req: Option<&Req>, status: u16) {
    let mut masked: String = String::from_utf8_lossy(body).into_owned();
    if let Some(r) = req.filter(|r| !r.password.is_empty()) {
        masked = masked.replace(&format!("\"{}\"", r.password), "\"***\"");
    }
    let (recipients, contents) = req
        .map(|r| {
            (
                r.message.iter().map(|m| m.recipient.clone()).collect(),
                r.message.iter().map(|m| m.content.clone()).collect(),
            )
        })
        .unwrap_or_default();
    let mut g = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    g.seen += 1;
    if g.received.len() >= MAX_RECORDED {
        g.received.pop_front();
    }
    g.received.push_back(Received {
        recipients,
        contents,
        body: masked,
        status,
    });
}

async fn send_messages(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .faults
        .pop_front();
    if let Some(Fault::Slow(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    if let Some(Fault::Http(code)) = fault {
        record(&inner, &body, None, code);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error_page(status, "scripted failure");
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        record(&inner, &body, None, 415);
        return error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let req: Req = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            record(&inner, &body, None, 400);
            return error_page(StatusCode::BAD_REQUEST, &format!("invalid request: {e}"));
        }
    };
    let (auth_ok, max_batch) = {
        let i = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            req.service_id == i.service_id
                && req.username == i.username
                && req.password == i.password.expose(),
            i.max_batch,
        )
    };
    if req.message.is_empty() || req.message.len() > max_batch {
        record(&inner, &body, Some(&req), 400);
        return error_page(
            StatusCode::BAD_REQUEST,
            "message must have 1 to max-batch entries",
        );
    }
    if matches!(fault, Some(Fault::MalformedJson)) {
        record(&inner, &body, Some(&req), 200);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"messageStatus\":[{\"statusCode\":1,",
        )
            .into_response();
    }
    let scripted = match &fault {
        Some(Fault::StatusCodes(codes)) => Some(codes.clone()),
        _ => None,
    };
    let first_id = {
        let mut g = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.next_id += req.message.len() as u64;
        g.next_id - req.message.len() as u64
    };
    let mut statuses: Vec<StatusOut<'_>> = req
        .message
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (code, text) = if !auth_ok {
                (
                    2,
                    "Access error: invalid service, user name or password".to_string(),
                )
            } else if let Some(codes) = &scripted {
                (
                    codes.get(i).copied().unwrap_or(1),
                    "scripted status".to_string(),
                )
            } else if let Some(reason) = syntax_error(m) {
                (5, format!("Syntax error: {reason}"))
            } else {
                (1, "Message enqueued for sending".to_string())
            };
            StatusOut {
                status_code: code,
                status_message: text,
                client_reference: m.client_reference.as_deref(),
                recipient: &m.recipient,
                message_id: (code == 1)
                    .then(|| format!("{:012x}", 0x7600_0000_0000u64 + first_id + i as u64 + 1)),
                session_id: None,
                sequence_index: i + 1,
            }
        })
        .collect();
    let dr_target = inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .dr_target
        .clone();
    if let Some((target, format)) = dr_target {
        let status = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dr_status;
        let drs: Vec<Fields> = statuses
            .iter()
            .zip(&req.message)
            .filter(|(st, m)| st.status_code == 1 && !skips_dr(m))
            .map(|(st, _)| {
                PushedDr {
                    message_id: st.message_id.clone().unwrap_or_default(),
                    client_reference: st.client_reference.map(str::to_owned),
                    batch_reference: req.batch_reference.clone(),
                    status_code: status,
                }
                .fields()
            })
            .collect();
        if !drs.is_empty() {
            let requests = requests(&target, &format, "dr", &drs);
            tokio::spawn(async move {
                deliver(&target, requests).await;
            });
        }
    }
    if matches!(fault, Some(Fault::DropLastStatus)) {
        statuses.pop();
    }
    let answer = serde_json::to_string(&ResponseOut {
        batch_reference: req.batch_reference.as_deref(),
        message_status: statuses,
    })
    .unwrap_or_default();
    record(&inner, &body, Some(&req), 200);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}

/// Whether a message asked the gateway not to report its delivery.
fn skips_dr(m: &Msg) -> bool {
    m.settings.as_ref().is_some_and(|s| {
        s.parameter
            .iter()
            .any(|p| p.key == "skip_customer_report_delivery" && p.value == "true")
    })
}

impl ResetHooks for Mutex<Inner> {
    fn take_reset(&self) -> Option<Reset> {
        let mut g = self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let reset = match g.faults.front() {
            Some(Fault::ResetBeforeBody) => Reset::BeforeBody,
            Some(Fault::ResetAfterBody) => Reset::AfterBody,
            Some(Fault::TruncatedAnswer) => Reset::TruncateAnswer,
            _ => return None,
        };
        g.faults.pop_front();
        Some(reset)
    }

    fn record_reset(self: Arc<Self>, body: &Bytes) {
        let parsed: Option<Req> = serde_json::from_slice(body).ok();
        record(&self, body, parsed.as_ref(), 0);
    }
}

/// How the emulator formats pushes: the gateway's three transports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushFormat {
    /// `POST` `{"dr":[…]}` / `{"mo":[…]}`, `application/json`.
    Json,
    /// `POST` `<dr><message>…</message></dr>` / `<mo>…`, `application/xml`.
    Xml,
    /// One `GET` per entry to the target's URL, its `[field]` tokens
    /// replaced by the percent-encoded values (unknown tokens become empty).
    Get,
}

/// A delivery report the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedDr {
    /// The MT `messageId` it reports on.
    pub message_id: String,
    /// The sender's `clientReference`.
    pub client_reference: Option<String>,
    /// The sender's `batchReference`.
    pub batch_reference: Option<String>,
    /// `statuscode` (0 delivered; see the gateway's table).
    pub status_code: i64,
}

/// An incoming SMS the emulator pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedMo {
    /// `messageid` (the same on redelivery).
    pub message_id: String,
    /// The short number it was sent to (`sno`).
    pub short_number: String,
    /// The sender, `+47…`.
    pub originator: String,
    /// The whole text.
    pub content: String,
    /// The keyword that routed it, if the service has one.
    pub command: Option<String>,
    /// The session it replies to, if any.
    pub session_id: Option<String>,
}

/// One field value, typed as the gateway types it in JSON.
#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Text(t) => t.clone(),
        }
    }
}

type Fields = Vec<(&'static str, Value)>;

const DR_STATUS_TEXT: &[(i64, &str)] = &[
    (0, "OK. Message processed successfully."),
    (351, "Unknown recipient"),
    (361, "Validity expired"),
    (364, "Subscriber temporarily unreachable"),
];

impl PushedDr {
    fn fields(&self) -> Fields {
        let description = DR_STATUS_TEXT
            .iter()
            .find(|(c, _)| *c == self.status_code)
            .map_or("Error", |(_, t)| t);
        let mut f: Fields = vec![("messageid", Value::Text(self.message_id.clone()))];
        if let Some(b) = &self.batch_reference {
            f.push(("customerbatchreference", Value::Text(b.clone())));
        }
        if let Some(r) = &self.client_reference {
            f.push(("customermessagereference", Value::Text(r.clone())));
        }
        f.extend([
            ("serviceid", Value::Int(123)),
            ("servicename", Value::Text("Emulator".into())),
            ("mcc", Value::Int(242)),
            ("mnc", Value::Int(1)),
            ("type", Value::Int(6)),
            ("statuscode", Value::Int(self.status_code)),
            ("statusdescription", Value::Text(description.into())),
            (
                "extstatuscode",
                Value::Text(if self.status_code == 0 { "0" } else { "1" }.into()),
            ),
            (
                "extstatusdescription",
                Value::Text(
                    if self.status_code == 0 {
                        "Delivered"
                    } else {
                        "Failed"
                    }
                    .into(),
                ),
            ),
        ]);
        f
    }
}

impl PushedMo {
    fn fields(&self) -> Fields {
        let stripped = match &self.command {
            Some(c) => {
                let rest = self.content.trim_start();
                match rest.get(..c.len()) {
                    Some(head) if head.eq_ignore_ascii_case(c) => rest[c.len()..].trim_start(),
                    _ => rest,
                }
            }
            None => self.content.as_str(),
        };
        vec![
            ("messageid", Value::Text(self.message_id.clone())),
            ("serviceid", Value::Int(123)),
            ("servicename", Value::Text("Emulator".into())),
            ("sno", Value::Text(self.short_number.clone())),
            ("originator", Value::Text(self.originator.clone())),
            ("mcc", Value::Int(242)),
            ("mnc", Value::Int(1)),
            ("content", Value::Text(self.content.clone())),
            (
                "command",
                Value::Text(self.command.clone().unwrap_or_default()),
            ),
            ("strippedcontent", Value::Text(stripped.to_owned())),
            ("type", Value::Int(1)),
            ("timestamp", Value::Text("20261124 12:00:00".into())),
            ("sctimestamp", Value::Text("20261124 12:00:00".into())),
            (
                "sessionid",
                Value::Text(self.session_id.clone().unwrap_or_default()),
            ),
        ]
    }
}

/// The HTTP requests that push `entries` under `root` (`dr` or `mo`).
fn requests(
    target: &PushTarget,
    format: &PushFormat,
    root: &str,
    entries: &[Fields],
) -> Vec<PushRequest> {
    match format {
        PushFormat::Json => {
            let list: Vec<serde_json::Value> = entries
                .iter()
                .map(|f| {
                    serde_json::Value::Object(
                        f.iter()
                            .map(|(k, v)| {
                                let v = match v {
                                    Value::Int(i) => serde_json::Value::from(*i),
                                    Value::Text(t) => serde_json::Value::from(t.as_str()),
                                };
                                ((*k).to_owned(), v)
                            })
                            .collect(),
                    )
                })
                .collect();
            let body = serde_json::json!({ root: list }).to_string();
            vec![PushRequest {
                url: target.url.clone(),
                body: Some(("application/json".into(), body.into_bytes())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        PushFormat::Xml => {
            let mut w = quick_xml::Writer::new(Vec::new());
            let _ = w.write_event(quick_xml::events::Event::Decl(
                quick_xml::events::BytesDecl::new("1.0", Some("UTF-8"), None),
            ));
            let _ = w.create_element(root).write_inner_content(|w| {
                for f in entries {
                    w.create_element("message").write_inner_content(|w| {
                        for (k, v) in f {
                            w.create_element(*k)
                                .write_text_content(quick_xml::events::BytesText::new(&v.text()))?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            });
            vec![PushRequest {
                url: target.url.clone(),
                body: Some(("application/xml".into(), w.into_inner())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        PushFormat::Get => entries
            .iter()
            .map(|f| PushRequest {
                url: fill_template(&target.url, f),
                body: None,
                headers: Vec::new(),
                ids: Vec::new(),
            })
            .collect(),
    }
}

/// Replaces each `[name]` in `template` (case-insensitively) with the
/// percent-encoded value; unknown names become empty.
fn fill_template(template: &str, fields: &Fields) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        if let Some((_, v)) = fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            out.extend(form_urlencoded::byte_serialize(v.text().as_bytes()));
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}
