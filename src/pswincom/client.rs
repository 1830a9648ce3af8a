//! The `PSWin` XML API client.

use std::fmt;
use std::time::SystemTime;

use super::wire::{self, CONTENT_TYPE, PROVIDER};
use crate::gateway_http::{GatewayHttp, HttpOptions};
use crate::sms::{Message, Outcome, Secret, SendReport, SmsError, SmsErrorKind, SmsProvider};

/// The gateway's XML endpoint.
pub const DEFAULT_URL: &str = "https://xml.pswin.com/";

/// The documented failover host.
pub const DEFAULT_FAILOVER_URL: &str = "https://xml2.pswin.com/";

/// The largest batch: the official clients' 100 (the server's own limit
/// is not documented).
pub const MAX_BATCH: usize = 100;

/// Builds a [`Pswincom`] provider; [`build`](Self::build) validates.
///
/// ```
/// use crm_comms::pswincom::Pswincom;
///
/// let provider = Pswincom::builder().credentials("crm", "hunter2").build()?;
/// assert!(!format!("{provider:?}").contains("hunter2"));
/// # Ok::<(), crm_comms::sms::SmsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PswincomBuilder {
    url: String,
    /// `None` until chosen: then the documented host follows the default
    /// URL only.
    failover_url: Option<Option<String>>,
    username: String,
    password: Secret,
    options: HttpOptions,
    max_batch: usize,
    concurrency: usize,
}

impl Default for PswincomBuilder {
    fn default() -> Self {
        PswincomBuilder {
            url: DEFAULT_URL.into(),
            failover_url: None,
            username: String::new(),
            password: Secret::new(""),
            options: HttpOptions::DEFAULT,
            max_batch: MAX_BATCH,
            concurrency: 4,
        }
    }
}

impl PswincomBuilder {
    crate::gateway_http::http_builder_methods!();

    /// The XML endpoint (default [`DEFAULT_URL`]). With another endpoint
    /// (a proxy, an emulator) there is no failover unless
    /// [`failover_url`](Self::failover_url) names one: a request meant for
    /// a test host must never reach the real gateway.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The failover endpoint (default [`DEFAULT_FAILOVER_URL`] when the
    /// URL is the default one, else none), tried only when the first
    /// answer [`is_retryable`](crate::sms::Outcome::is_retryable) (certainly
    /// not sent) — never after a request may have been taken.
    #[must_use]
    pub fn failover_url(mut self, url: impl Into<String>) -> Self {
        self.failover_url = Some(Some(url.into()));
        self
    }

    /// No failover endpoint.
    #[must_use]
    pub fn no_failover(mut self) -> Self {
        self.failover_url = Some(None);
        self
    }

    /// User name (`CLIENT`) and password (`PW`).
    #[must_use]
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.username = user.into();
        self.password = password.into();
        self
    }

    /// Messages per request (default and maximum [`MAX_BATCH`]).
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.clamp(1, MAX_BATCH);
        self
    }

    /// Validates and builds the provider.
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] naming what is missing or wrong: the
    /// user name, the password, or a URL that is not `https://` (or
    /// `http://` with [`dangerous_allow_http`](Self::dangerous_allow_http)).
    pub fn build(self) -> Result<Pswincom, SmsError> {
        let config = |m: &str| SmsError::new(SmsErrorKind::InvalidConfig, PROVIDER, m.to_owned());
        if self.username.trim().is_empty() {
            return Err(config("the user name is missing").with_setting("username"));
        }
        if self.password.is_empty() {
            return Err(config("the password is missing").with_setting("password"));
        }
        let allow = self.options.allow_http;
        GatewayHttp::check_url(PROVIDER, "URL", &self.url, allow)
            .map_err(|e| e.with_setting("base_url"))?;
        let failover_url = match self.failover_url {
            Some(chosen) => chosen,
            None if self.url == DEFAULT_URL => Some(DEFAULT_FAILOVER_URL.to_owned()),
            None => None,
        };
        if let Some(f) = &failover_url {
            GatewayHttp::check_url(PROVIDER, "failover URL", f, allow)
                .map_err(|e| e.with_setting("failover_url"))?;
        }
        Ok(Pswincom {
            http: GatewayHttp::new(PROVIDER, self.options)?,
            url: self.url,
            failover_url,
            username: self.username,
            password: self.password,
            max_batch: self.max_batch,
            concurrency: self.concurrency,
        })
    }
}

/// Sends SMS through the PSWinCom/LINK Mobility XML API.
#[derive(Clone)]
pub struct Pswincom {
    http: GatewayHttp,
    url: String,
    failover_url: Option<String>,
    username: String,
    password: Secret,
    max_batch: usize,
    concurrency: usize,
}

impl fmt::Debug for Pswincom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pswincom")
            .field("url", &self.url)
            .field("failover_url", &self.failover_url)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl Pswincom {
    /// Starts a builder.
    #[must_use]
    pub fn builder() -> PswincomBuilder {
        PswincomBuilder::default()
    }

    fn current_capabilities(&self) -> crate::sms::Capabilities {
        super::CAPABILITIES.with_max_batch(self.max_batch)
    }

    /// One request with every recipient of `messages` (each message with
    /// its own text) that the gateway accepts; one report per message.
    /// Receivers the gateway refuses (fewer than 9 digits) are rejected
    /// here, and a message that cannot be written is rejected whole.
    async fn send_group(&self, messages: Vec<Message>) -> Vec<SendReport> {
        let limits = self.capabilities().limits;
        let now = SystemTime::now();
        // Per message: its recipients' outcomes decided here (`Some`), or
        // `None` for those that go out, in order.
        let mut decided: Vec<Vec<Option<Outcome>>> = Vec::with_capacity(messages.len());
        let mut sent = Vec::new();
        for m in &messages {
            let ok: Vec<_> = m
                .recipients()
                .iter()
                .copied()
                .filter(wire::receiver_allowed)
                .collect();
            let written = if ok.is_empty() {
                Ok(Vec::new())
            } else {
                m.with_recipients(ok)
                    .and_then(|m| wire::wire_messages(&m, &limits, now))
            };
            let mine = m
                .recipients()
                .iter()
                .map(|r| {
                    if !wire::receiver_allowed(r) {
                        return Some(Outcome::Rejected(SmsError::new(
                            SmsErrorKind::InvalidRecipient,
                            PROVIDER,
                            format!(
                                "PSWinCom needs at least 9 digits with the country code; {r:?} has {}",
                                r.digits().len()
                            ),
                        )));
                    }
                    match &written {
                        Ok(_) => None,
                        Err(e) => Some(Outcome::Rejected(e.clone())),
                    }
                })
                .collect();
            decided.push(mine);
            if let Ok(w) = written {
                sent.extend(w);
            }
        }
        // `ID` 1..n across the whole request (each message's own `MSG`s
        // were numbered from 1).
        for (i, m) in sent.iter_mut().enumerate() {
            m.id = i as u32 + 1;
        }
        let mut answers = if sent.is_empty() {
            Vec::new()
        } else {
            let body = wire::to_latin1(&wire::request_xml(&self.username, &self.password, &sent));
            match self.post(body).await {
                Ok(answer) => wire::outcomes(&answer, &sent),
                Err(outcome) => vec![outcome; sent.len()],
            }
        }
        .into_iter();
        let outcomes: Vec<Outcome> = decided
            .into_iter()
            .flatten()
            .map(|d| {
                d.or_else(|| answers.next()).unwrap_or_else(|| {
                    Outcome::Unknown(SmsError::new(
                        SmsErrorKind::Protocol,
                        PROVIDER,
                        "no answer for this recipient; the gateway may have the message",
                    ))
                })
            })
            .collect();
        crate::gateway_http::reports_per_message(&messages, outcomes, PROVIDER)
    }

    /// Posts to the endpoint, and to the failover endpoint when the first
    /// outcome is retryable (certainly not sent); the body of a 200 answer.
    async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, Outcome> {
        let first = self.post_to(&self.url, body.clone()).await;
        match (&first, &self.failover_url) {
            (Err(outcome), Some(failover)) if outcome.is_retryable() => {
                self.post_to(failover, body).await
            }
            _ => first,
        }
    }

    async fn post_to(&self, url: &str, body: Vec<u8>) -> Result<Vec<u8>, Outcome> {
        self.http
            .post_ok(url, CONTENT_TYPE, "text/xml, application/xml", body)
            .await
    }
}

crate::gateway_http::batched_sms_provider!(Pswincom);
