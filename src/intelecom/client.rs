//! The Intelecom/Puzzel web-service client.

use std::fmt;

use super::wire::{self, PROVIDER, SendRequest};
use crate::gateway_http::{GatewayHttp, HttpOptions};
use crate::sms::{ErrorKind, Message, Outcome, RecipientOutcome, Secret, SendReport, SmsError};

/// The gateway's current host.
pub const DEFAULT_BASE_URL: &str = "https://smsgw.puzzel.com";

/// The path of the REST send operation.
pub const SEND_PATH: &str = "/gw/rs/sendMessages";

/// Builds an [`Intelecom`] provider; [`build`](Self::build) validates.
///
/// ```
/// use crm_comms::intelecom::Intelecom;
///
/// let provider = Intelecom::builder()
///     .service_id(1234)
///     .credentials("crm", "hunter2")
///     .build()?;
/// assert!(!format!("{provider:?}").contains("hunter2"));
/// # Ok::<(), crm_comms::sms::SmsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct IntelecomBuilder {
    base_url: String,
    service_id: Option<u32>,
    username: String,
    password: Secret,
    options: HttpOptions,
    max_batch: usize,
    concurrency: usize,
}

impl Default for IntelecomBuilder {
    fn default() -> Self {
        IntelecomBuilder {
            base_url: DEFAULT_BASE_URL.into(),
            service_id: None,
            username: String::new(),
            password: Secret::new(""),
            options: HttpOptions::DEFAULT,
            max_batch: 100,
            concurrency: 4,
        }
    }
}

impl IntelecomBuilder {
    crate::gateway_http::http_builder_methods!();

    /// The gateway's base URL (default [`DEFAULT_BASE_URL`]).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The service ID.
    #[must_use]
    pub fn service_id(mut self, id: u32) -> Self {
        self.service_id = Some(id);
        self
    }

    /// User name and password.
    #[must_use]
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.username = user.into();
        self.password = password.into();
        self
    }

    /// Messages per request (default 100; the gateway documents no limit).
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Validates and builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] naming what is missing or wrong: the
    /// service ID, user name, password, or a base URL that is not `https://`
    /// (or `http://` with [`dangerous_allow_http`](Self::dangerous_allow_http)).
    pub fn build(self) -> Result<Intelecom, SmsError> {
        let config = |m: &str| SmsError::new(ErrorKind::InvalidConfig, PROVIDER, m.to_owned());
        let service_id = self
            .service_id
            .filter(|id| *id > 0)
            .ok_or_else(|| config("the service ID is missing"))?;
        if self.username.trim().is_empty() {
            return Err(config("the user name is missing"));
        }
        if self.password.is_empty() {
            return Err(config("the password is missing"));
        }
        GatewayHttp::check_url(
            PROVIDER,
            "base URL",
            &self.base_url,
            self.options.allow_http,
        )?;
        let endpoint = format!("{}{}", self.base_url.trim_end_matches('/'), SEND_PATH);
        let http = GatewayHttp::new(PROVIDER, self.options)?;
        Ok(Intelecom {
            http,
            endpoint,
            service_id,
            username: self.username,
            password: self.password,
            max_batch: self.max_batch,
            concurrency: self.concurrency,
        })
    }
}

/// Sends SMS through the Intelecom/Puzzel REST JSON web service.
#[derive(Clone)]
pub struct Intelecom {
    http: GatewayHttp,
    endpoint: String,
    service_id: u32,
    username: String,
    password: Secret,
    max_batch: usize,
    concurrency: usize,
}

impl fmt::Debug for Intelecom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intelecom")
            .field("endpoint", &self.endpoint)
            .field("service_id", &self.service_id)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl Intelecom {
    /// Starts a builder.
    #[must_use]
    pub fn builder() -> IntelecomBuilder {
        IntelecomBuilder::default()
    }

    async fn send_batch(&self, message: &Message) -> SendReport {
        let sent = wire::wire_messages(message);
        let request = SendRequest {
            service_id: self.service_id,
            username: &self.username,
            password: &self.password,
            batch_reference: None,
            message: sent,
        };
        let outcomes = match self.post(&request).await {
            Ok(body) => wire::outcomes(&body, &request.message),
            Err(outcome) => vec![outcome; request.message.len()],
        };
        SendReport::new(
            message
                .recipients()
                .iter()
                .zip(outcomes)
                .map(|(r, outcome)| RecipientOutcome {
                    recipient: *r,
                    outcome,
                    provider: PROVIDER.to_owned(),
                })
                .collect(),
        )
    }

    /// Posts the request; the body of a 200 answer, or the outcome every
    /// message gets.
    async fn post(&self, request: &SendRequest<'_>) -> Result<Vec<u8>, Outcome> {
        let body = serde_json::to_vec(request).map_err(|e| {
            Outcome::Rejected(
                SmsError::new(
                    ErrorKind::InvalidMessage,
                    PROVIDER,
                    "the request could not be written",
                )
                .with_source(e),
            )
        })?;
        self.http
            .post_ok(&self.endpoint, "application/json", "application/json", body)
            .await
    }
}

crate::gateway_http::batched_sms_provider!(Intelecom);
