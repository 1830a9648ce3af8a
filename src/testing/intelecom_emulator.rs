//! A loopback Intelecom/Puzzel gateway for tests and examples: it checks
//! requests as strictly as the documentation describes them and answers
//! with the documented bodies, can be told to fail, and pushes delivery
//! reports and incoming SMS to a URL like the real gateway
//! ([`IntelecomEmulator::deliver_reports_to`], [`IntelecomEmulator::push_drs`],
//! [`IntelecomEmulator::push_mos`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::HeaderMap;
use serde::Deserialize;

pub use super::loopback::MAX_RECORDED;
use super::loopback::{self, Answer, LoopbackGateway, Recorded, Wire, WireMessage};
use super::push::{OutgoingPush, deliver};
pub use super::push::{PushResult, PushTarget};

/// A running Intelecom emulator: the [loopback core](super::loopback) with
/// Intelecom's [`IntelecomWire`].
pub type IntelecomEmulator = LoopbackGateway<IntelecomWire>;

/// What the emulator does with the next request: the transport faults
/// every loopback gateway has, or one of Intelecom's [`AnswerFault`]s.
pub type Fault = loopback::Fault<AnswerFault>;

/// A request the emulator received, password masked.
pub type Received = loopback::Received<Request>;

/// Intelecom's own answer faults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerFault {
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer 200 with these status codes, one per message in turn.
    StatusCodes(Vec<i64>),
    /// Answer 200 but leave the last message out of `messageStatus`.
    DropLastStatus,
}

/// What an Intelecom request carries, as the emulator read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The messages, in order: `recipient`, `content`, the originator,
    /// `priority`, the report flag (`skip_customer_report_delivery` absent
    /// or not `true`), `clientReference`, and the `messageId` answered.
    pub messages: Vec<WireMessage>,
}

impl Request {
    /// The recipients, in order, as sent.
    #[must_use]
    pub fn recipients(&self) -> Vec<&str> {
        self.messages.iter().map(|m| m.recipient.as_str()).collect()
    }
}

impl Msg {
    /// The message in the shape every gateway shares.
    fn wire_message(&self) -> WireMessage {
        let mut w = WireMessage::new(self.recipient.as_str(), self.content.as_str())
            .with_delivery_report(!skips_dr(self));
        if let Some(s) = &self.settings {
            if let Some(o) = &s.originator_settings {
                w = w.with_sender(o.originator.as_str());
            }
            if let Some(p) = s.priority.and_then(|p| u8::try_from(p).ok()) {
                w = w.with_priority(p);
            }
        }
        if let Some(r) = &self.client_reference {
            w = w.with_client_reference(r.as_str());
        }
        w
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

/// The body with the password's JSON string replaced by `"***"`.
/// The body as recorded: the request's password and the emulator's own
/// masked, as JSON strings and as they stand (a body that is not JSON, or
/// not the JSON expected, is recorded too).
fn masked(body: &[u8], req: Option<&Req>, configured: &str) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    let secrets = req
        .map(|r| r.password.as_str())
        .into_iter()
        .chain(Some(configured))
        .filter(|p| !p.is_empty());
    for secret in secrets {
        if let Ok(quoted) = serde_json::to_string(secret) {
            text = text.replace(&quoted, "\"***\"");
        }
        text = text.replace(secret, "***");
    }
    text
}

fn recorded(body: &[u8], req: Option<&Req>, configured: &str) -> Recorded<Request> {
    Recorded {
        request: req
            .map(|r| Request {
                messages: r.message.iter().map(Msg::wire_message).collect(),
            })
            .unwrap_or_default(),
        masked_body: masked(body, req, configured),
    }
}

#[async_trait::async_trait]
impl Wire for IntelecomWire {
    type Request = Request;
    type AnswerFault = AnswerFault;
    type PushFormat = PushTransport;
    type Dr = PushedDr;
    type Mo = PushedMo;

    fn path(&self) -> &'static str {
        "/gw/rs/sendMessages"
    }

    fn read(&self, _headers: &HeaderMap, body: &[u8]) -> Recorded<Request> {
        let req: Option<Req> = serde_json::from_slice(body).ok();
        recorded(body, req.as_ref(), self.password.expose())
    }

    fn messages(request: &Request) -> Vec<WireMessage> {
        request.messages.clone()
    }

    // Counted on every recorded request: no copy of the messages.
    fn recipients(request: &Request) -> usize {
        request.messages.len()
    }

    fn answer(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        fault: Option<&AnswerFault>,
    ) -> Answer<Self> {
        if !loopback::content_type(headers)
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Answer::error_page(415, "Content-Type must be application/json")
                .recorded(recorded(body, None, self.password.expose()));
        }
        let req: Req = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Answer::error_page(400, &format!("invalid request: {e}"))
                    .recorded(recorded(body, None, self.password.expose()));
            }
        };
        let mut record = recorded(body, Some(&req), self.password.expose());
        let auth_ok = req.service_id == self.service_id
            && req.username == self.username
            && req.password == self.password.expose();
        let max_batch = self.max_batch.load(Ordering::Relaxed) as usize;
        if req.message.is_empty() || req.message.len() > max_batch {
            return Answer::error_page(400, "message must have 1 to max-batch entries")
                .recorded(record);
        }
        if matches!(fault, Some(AnswerFault::MalformedJson)) {
            return Answer::new(
                200,
                "application/json",
                "{\"messageStatus\":[{\"statusCode\":1,",
            )
            .recorded(record);
        }
        let scripted = match fault {
            Some(AnswerFault::StatusCodes(codes)) => Some(codes.clone()),
            _ => None,
        };
        let n = req.message.len() as u64;
        let first_id = self.next_id.fetch_add(n, Ordering::Relaxed);
        let duplicate_check = self.duplicate_check.load(Ordering::Relaxed);
        let mut ledger = self
            .ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
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
                } else if duplicate_check
                    && m.client_reference.as_ref().is_some_and(|r| {
                        ledger
                            .references
                            .get(r)
                            .is_some_and(|at| now.duration_since(*at) < DUPLICATE_WINDOW)
                    })
                {
                    (
                        25,
                        "ERROR_NOT_UNIQUE: clientReference is not unique".to_string(),
                    )
                } else {
                    (1, "Message enqueued for sending".to_string())
                };
                if code == 1 {
                    *ledger.accepted.entry(m.recipient.clone()).or_default() += 1;
                    if let Some(r) = &m.client_reference {
                        ledger.references.insert(r.clone(), now);
                    }
                }
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
        drop(ledger);
        let dr_status = self.dr_status.load(Ordering::Relaxed);
        let reports: Vec<PushedDr> = statuses
            .iter()
            .zip(&req.message)
            .filter(|(st, m)| st.status_code == 1 && !skips_dr(m))
            .map(|(st, _)| PushedDr {
                message_id: st.message_id.clone().unwrap_or_default(),
                client_reference: st.client_reference.map(str::to_owned),
                batch_reference: req.batch_reference.clone(),
                status_code: dr_status,
            })
            .collect();
        if matches!(fault, Some(AnswerFault::DropLastStatus)) {
            statuses.pop();
        }
        for (m, st) in record.request.messages.iter_mut().zip(&statuses) {
            m.gateway_reference.clone_from(&st.message_id);
        }
        let answer = serde_json::to_string(&ResponseOut {
            batch_reference: req.batch_reference.as_deref(),
            message_status: statuses,
        })
        .unwrap_or_default();
        Answer::new(200, "application/json", answer)
            .recorded(record)
            .reports(reports)
    }

    async fn push_drs(
        &self,
        target: &PushTarget,
        format: &PushTransport,
        drs: &[PushedDr],
    ) -> PushResult {
        let entries: Vec<Fields> = drs.iter().map(PushedDr::fields).collect();
        deliver(target, requests(target, format, "dr", &entries)).await
    }

    async fn push_mos(
        &self,
        target: &PushTarget,
        format: &PushTransport,
        mos: &[PushedMo],
    ) -> PushResult {
        let entries: Vec<Fields> = mos.iter().map(PushedMo::fields).collect();
        deliver(target, requests(target, format, "mo", &entries)).await
    }
}

/// Whether a message asked the gateway not to report its delivery.
fn skips_dr(m: &Msg) -> bool {
    m.settings.as_ref().is_some_and(|s| {
        s.parameter
            .iter()
            .any(|p| p.key == "skip_customer_report_delivery" && p.value == "true")
    })
}

/// How the emulator formats pushes: the gateway's three transports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushTransport {
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
    format: &PushTransport,
    root: &str,
    entries: &[Fields],
) -> Vec<OutgoingPush> {
    match format {
        PushTransport::Json => {
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
            vec![OutgoingPush {
                url: target.url.clone(),
                body: Some(("application/json".into(), body.into_bytes())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        PushTransport::Xml => {
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
            vec![OutgoingPush {
                url: target.url.clone(),
                body: Some(("application/xml".into(), w.into_inner())),
                headers: Vec::new(),
                ids: Vec::new(),
            }]
        }
        PushTransport::Get => entries
            .iter()
            .map(|f| OutgoingPush {
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
