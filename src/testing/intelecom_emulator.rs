//! A loopback Intelecom/Puzzel gateway for tests and examples: it checks
//! requests as strictly as the documentation describes them and answers
//! with the documented bodies, and can be told to fail.

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
    service_id: i64,
    username: String,
    password: String,
    max_batch: usize,
    faults: VecDeque<Fault>,
    received: VecDeque<Received>,
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
        let inner = Arc::new(Mutex::new(Inner {
            service_id,
            username: username.into(),
            password: password.into(),
            max_batch: 1000,
            faults: VecDeque::new(),
            received: VecDeque::new(),
            next_id: 0,
        }));
        let app = Router::new()
            .route("/gw/rs/sendMessages", post(send_messages))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(IntelecomEmulator { addr, inner, task })
    }

    /// The base URL to give the client (`http://127.0.0.1:<port>`).
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

    /// The requests received so far (the last [`MAX_RECORDED`]).
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
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
        .unwrap_or_else(|p| p.into_inner())
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
        let i = inner.lock().unwrap_or_else(|p| p.into_inner());
        (
            req.service_id == i.service_id
                && req.username == i.username
                && req.password == i.password,
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
        let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
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
