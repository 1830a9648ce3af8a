//! The HTTP side of a web-service gateway (feature `http`): a validated
//! base URL (HTTPS unless dangerously allowed), one pooled reqwest client
//! with timeouts, and what a transport failure or a non-200 answer means
//! for the messages in the request. Both built-in gateways use it; an
//! adapter for a third gateway should too (see
//! `examples/custom_provider.rs`).
//!
//! The rule it encodes: **connected → rejected, sent → unknown.** A request
//! that never reached the gateway (refused connection, DNS, TLS) is
//! certainly not sent, so it is [`Outcome::Rejected`] and
//! [`is_retryable`](Outcome::is_retryable); once the request may have been
//! written (a reset, a timeout, a cut-off answer, HTTP 5xx) it is
//! [`Outcome::Unknown`], never to be sent again blindly. 401/403 are
//! `Unauthenticated`, 400/413/415 `InvalidMessage` and 429 `RateLimited`,
//! all rejected. **HTTP 5xx is unknown** everywhere in this crate (the
//! conformance suite, [`Outcome::is_retryable`], the mailing runner): a
//! gateway that failed after reading the request may have taken it. A
//! `Retry-After` header (429, 503) is kept on the error
//! ([`SmsError::retry_after`]).

use std::time::Duration;

use crate::sms::{Outcome, SmsError, SmsErrorKind};
use crate::transport::{error_chain, mentions_tls};

/// A status, the wait a `Retry-After` header asked for, and the body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// The longest `Retry-After` honoured (a gateway asking for more is read
/// as asking for this; the mailing is not stuck for a day on one header).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A `Retry-After` value: delta-seconds, or an HTTP date (`Sun, 06 Nov 1994
/// 08:49:37 GMT`) from `now`; capped at [`MAX_RETRY_AFTER`]. `None` when
/// it is neither.
#[must_use]
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    let wait = if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(v.parse().ok()?)
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A gateway's HTTP client.
#[derive(Clone, Debug)]
pub struct GatewayHttp {
    provider: &'static str,
    client: reqwest::Client,
}

/// Timeouts and the plain-HTTP opt-in, as the builders collect them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// **Dangerous**: allow plain `http://` (loopback emulators only).
    pub allow_http: bool,
    /// Time allowed for a whole request.
    pub timeout: Duration,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions::DEFAULT
    }
}

impl HttpOptions {
    /// **Dangerous**: allows plain `http://` (sends credentials
    /// unencrypted). For loopback emulators and fakes only.
    #[must_use]
    pub const fn dangerous_allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// With this time allowed for a whole request.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With this time allowed to connect.
    #[must_use]
    pub const fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// HTTPS only, 30 s a request, 10 s to connect.
    pub const DEFAULT: HttpOptions = HttpOptions {
        allow_http: false,
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(10),
    };
}

/// The builder methods both web-service gateways share; the builder has
/// the fields `options: HttpOptions` and `concurrency: usize`.
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
macro_rules! http_builder_methods {
    () => {
        /// **Dangerous**: allows plain `http://` gateway URLs, sending the
        /// password unencrypted. For loopback emulators in tests only.
        #[must_use]
        pub fn dangerous_allow_http(mut self) -> Self {
            self.options.allow_http = true;
            self
        }

        /// Time allowed for a whole request (default 30 s). A timeout after
        /// the request was sent is an unknown outcome.
        #[must_use]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.timeout = timeout;
            self
        }

        /// Time allowed to connect (default 10 s).
        #[must_use]
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// Requests in flight at once for a large message (default 4), over
        /// one connection pool.
        #[must_use]
        pub fn concurrency(mut self, n: usize) -> Self {
            self.concurrency = n.max(1);
            self
        }
    };
}
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub(crate) use http_builder_methods;

/// The `SmsProvider` impl both web-service gateways share: their facts'
/// capabilities with the builder's batch size, and `send` through
/// `check_and_send_in_batches` to the type's own `send_batch`. The type has
/// the fields `max_batch` and `concurrency`; its module has `PROVIDER`.
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
macro_rules! batched_sms_provider {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl crate::sms::SmsProvider for $ty {
            fn name(&self) -> &str {
                PROVIDER
            }

            fn capabilities(&self) -> crate::sms::Capabilities {
                self.current_capabilities()
            }

            async fn send(&self, message: &crate::sms::Message) -> crate::sms::SendReport {
                crate::sms::check_and_send_in_batches(
                    message,
                    &crate::sms::SmsProvider::capabilities(self),
                    PROVIDER,
                    self.concurrency,
                    |batch| async move {
                        self.send_group(vec![batch])
                            .await
                            .pop()
                            .unwrap_or_else(|| crate::sms::SendReport::new(vec![]))
                    },
                )
                .await
            }

            async fn send_each(
                &self,
                messages: &[crate::sms::Message],
            ) -> Vec<crate::sms::SendReport> {
                crate::sms::check_and_send_grouped(
                    messages,
                    &crate::sms::SmsProvider::capabilities(self),
                    PROVIDER,
                    self.concurrency,
                    |group| async move { self.send_group(group).await },
                )
                .await
            }
        }
    };
}

/// A group request's outcomes (one per recipient, messages one after
/// another) as one report per message.
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub(crate) fn reports_per_message(
    messages: &[crate::sms::Message],
    outcomes: Vec<crate::sms::Outcome>,
    provider: &str,
) -> Vec<crate::sms::SendReport> {
    let mut outcomes = outcomes.into_iter();
    messages
        .iter()
        .map(|m| {
            crate::sms::SendReport::new(
                m.recipients()
                    .iter()
                    .zip(outcomes.by_ref())
                    .map(|(r, outcome)| crate::sms::RecipientOutcome {
                        recipient: *r,
                        outcome,
                        provider: provider.to_owned(),
                    })
                    .collect(),
            )
        })
        .collect()
}
#[cfg(any(feature = "intelecom", feature = "pswincom"))]
pub(crate) use batched_sms_provider;

impl GatewayHttp {
    /// A client for `provider` (the name its outcomes carry).
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] when the TLS stack cannot be set up.
    pub fn new(provider: &'static str, options: HttpOptions) -> Result<Self, SmsError> {
        let mut http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .https_only(!options.allow_http);
        if options.allow_http {
            // Loopback emulators must not be sent through a proxy.
            http = http.no_proxy();
        }
        let client = http.build().map_err(|e| {
            SmsError::new(
                SmsErrorKind::InvalidConfig,
                provider,
                "the HTTP client could not be built",
            )
            .with_source(e.without_url())
        })?;
        Ok(GatewayHttp { provider, client })
    }

    /// Checks a gateway URL (`what` names it in errors): `https://`, or
    /// `http://` when allowed; never with a user name or password in it.
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] saying what is wrong.
    pub fn check_url(
        provider: &'static str,
        what: &str,
        url: &str,
        allow_http: bool,
    ) -> Result<reqwest::Url, SmsError> {
        let config = |m: String| SmsError::new(SmsErrorKind::InvalidConfig, provider, m);
        let parsed =
            reqwest::Url::parse(url).map_err(|e| config(format!("the {what} is invalid: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Refused rather than shown: the URL is kept (and printed by
            // `Debug`), the credentials have their own setting.
            return Err(config(format!(
                "the {what} must not carry a user name or password; give them as credentials"
            )));
        }
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if allow_http => Ok(parsed),
            "http" => Err(config(format!(
                "the {what} is plain http://, which sends the password unencrypted; use https:// (or dangerous_allow_http for a loopback emulator)"
            ))),
            other => Err(config(format!(
                "the {what}'s scheme {other:?} is not https"
            ))),
        }
    }

    /// Posts `body`; the status and body of any answer, or the outcome
    /// every message gets when no complete answer came.
    ///
    /// # Errors
    ///
    /// The outcome for every message of the request: rejected when the
    /// gateway was never reached, unknown when the request may have been
    /// written.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        accept: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Outcome> {
        self.post_with_headers(
            url,
            &[("content-type", content_type), ("accept", accept)],
            body,
        )
        .await
    }

    /// As [`post`](Self::post), with these headers (an `Authorization`
    /// header is marked sensitive, so it never shows in logs or `Debug`).
    ///
    /// # Errors
    ///
    /// As [`post`](Self::post); a header that cannot be sent is an
    /// [`SmsErrorKind::InvalidConfig`] rejection.
    pub async fn post_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), Outcome> {
        let answer = self.exchange(url, headers, body).await?;
        Ok((answer.status, answer.body))
    }

    /// One request and its whole answer.
    async fn exchange(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, Outcome> {
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            let Ok(mut v) = reqwest::header::HeaderValue::from_str(value) else {
                return Err(Outcome::Rejected(SmsError::new(
                    SmsErrorKind::InvalidConfig,
                    self.provider,
                    format!("the {name} header cannot be sent (a control character in it)"),
                )));
            };
            if name.eq_ignore_ascii_case("authorization") {
                v.set_sensitive(true);
            }
            request = request.header(*name, v);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.classify(e.without_url()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        let body = response.bytes().await.map_err(|e| {
            Outcome::Unknown(
                SmsError::new(
                    SmsErrorKind::Protocol,
                    self.provider,
                    "the answer was cut off",
                )
                .with_source(e.without_url()),
            )
        })?;
        Ok(Answer {
            status,
            retry_after,
            body: body.to_vec(),
        })
    }

    /// Posts `body`; the body of a 200 answer, or the outcome every message
    /// of the request gets (no complete answer, or another status).
    ///
    /// # Errors
    ///
    /// As [`post`](Self::post), and [`status_outcome`](Self::status_outcome)
    /// for an answer other than 200.
    pub async fn post_ok(
        &self,
        url: &str,
        content_type: &str,
        accept: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Outcome> {
        self.post_ok_with_headers(
            url,
            &[("content-type", content_type), ("accept", accept)],
            body,
        )
        .await
    }

    /// As [`post_ok`](Self::post_ok), with these headers.
    ///
    /// # Errors
    ///
    /// As [`post_ok`](Self::post_ok).
    pub async fn post_ok_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Vec<u8>, Outcome> {
        let answer = self.exchange(url, headers, body).await?;
        if answer.status == 200 {
            return Ok(answer.body);
        }
        Err(
            match (self.status_outcome(answer.status), answer.retry_after) {
                (Outcome::Rejected(e), Some(wait)) => Outcome::Rejected(e.with_retry_after(wait)),
                (Outcome::Unknown(e), Some(wait)) => Outcome::Unknown(e.with_retry_after(wait)),
                (outcome, _) => outcome,
            },
        )
    }

    /// What a non-200 answer means for every message of the request
    /// ([`Outcome::for_http_status`], the one rule).
    #[must_use]
    pub fn status_outcome(&self, status: u16) -> Outcome {
        Outcome::for_http_status(self.provider, status)
    }

    /// What a transport error means for the messages: a failed connection
    /// is certainly not sent; anything after the request went out is
    /// unknown.
    fn classify(&self, e: reqwest::Error) -> Outcome {
        let text = error_chain(&e);
        if e.is_connect() {
            let kind = if mentions_tls(&text) {
                SmsErrorKind::Tls
            } else {
                SmsErrorKind::Unavailable
            };
            return Outcome::Rejected(
                SmsError::new(
                    kind,
                    self.provider,
                    format!("could not connect to the gateway: {text}"),
                )
                .with_source(e),
            );
        }
        let kind = if e.is_timeout() {
            SmsErrorKind::Timeout
        } else {
            SmsErrorKind::Protocol
        };
        Outcome::Unknown(
            SmsError::new(
                kind,
                self.provider,
                format!(
                    "no complete answer from the gateway; the messages may have been accepted: {text}"
                ),
            )
            .with_source(e),
        )
    }
}
