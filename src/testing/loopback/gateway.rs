//! The loopback core: a server on 127.0.0.1 that records requests, plays
//! queued faults, answers through its [`Wire`], and pushes reports.

use super::*;

struct Book<W: Wire> {
    faults: VecDeque<Fault<W::AnswerFault>>,
    received: VecDeque<Received<W::Request>>,
    seen: u64,
    report_target: Option<(PushTarget, W::PushFormat)>,
    latency: std::time::Duration,
    /// When each request arrived and how many recipients it carried.
    arrivals: Vec<(std::time::Instant, usize)>,
    /// Delivery reports the gateway's answers said it would push.
    reports_promised: u64,
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
                reports_promised: 0,
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

    /// How many delivery reports the gateway has decided to push, over its
    /// whole life: counted when it answers a send, before the answer is
    /// written, so once a send has returned this says whether it will be
    /// reported on, without waiting to see that nothing arrives.
    #[must_use]
    pub fn reports_promised(&self) -> u64 {
        self.core.book().reports_promised
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
        let target = {
            let mut book = core.book();
            book.reports_promised += answer.reports.len() as u64;
            book.report_target.clone()
        };
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

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
