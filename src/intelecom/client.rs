//! The Intelecom/Puzzel web-service client.

use std::fmt;

use super::wire::{self, PROVIDER, SendRequest};
use crate::gateway_http::{GatewayHttp, HttpOptions};
use crate::sms::{Message, Outcome, Secret, SendReport, SmsError, SmsErrorKind};

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
    duplicate_check: bool,
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
            duplicate_check: false,
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

    /// Says that the account has Puzzel's uniqueness check on (off by
    /// default, as accounts are): the gateway then refuses a repeated
    /// `clientReference` for an hour ([`DUPLICATE_WINDOW`](super::DUPLICATE_WINDOW)) with status 25
    /// ([`SmsErrorKind::Duplicate`]), and the provider's capabilities say
    /// [`rejects_duplicates`](crate::sms::Capabilities::rejects_duplicates),
    /// so a mailing resends what a crash left unknown with the same
    /// reference instead of giving it up. Only turn it on when the account
    /// really has it: otherwise such a resend can deliver twice.
    #[must_use]
    pub fn duplicate_check(mut self, on: bool) -> Self {
        self.duplicate_check = on;
        self
    }

    /// Validates and builds the provider.
    ///
    /// # Errors
    ///
    /// [`SmsErrorKind::InvalidConfig`] naming what is missing or wrong: the
    /// service ID, user name, password, or a base URL that is not `https://`
    /// (or `http://` with [`dangerous_allow_http`](Self::dangerous_allow_http)).
    pub fn build(self) -> Result<Intelecom, SmsError> {
        let config = |m: &str| SmsError::new(SmsErrorKind::InvalidConfig, PROVIDER, m.to_owned());
        let service_id = self
            .service_id
            .filter(|id| *id > 0)
            .ok_or_else(|| config("the service ID is missing").with_setting("service_id"))?;
        if self.username.trim().is_empty() {
            return Err(config("the user name is missing").with_setting("username"));
        }
        if self.password.is_empty() {
            return Err(config("the password is missing").with_setting("password"));
        }
        GatewayHttp::check_url(
            PROVIDER,
            "base URL",
            &self.base_url,
            self.options.allow_http,
        )
        .map_err(|e| e.with_setting("base_url"))?;
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
            duplicate_check: self.duplicate_check,
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
    duplicate_check: bool,
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

    fn current_capabilities(&self) -> crate::sms::Capabilities {
        super::CAPABILITIES
            .with_max_batch(self.max_batch)
            .with_rejects_duplicates(if self.duplicate_check {
                Some(super::DUPLICATE_WINDOW)
            } else {
                None
            })
    }

    /// One request with every recipient of `messages` (each message with
    /// its own text); one report per message.
    async fn send_group(&self, messages: Vec<Message>) -> Vec<SendReport> {
        let sent: Vec<_> = messages.iter().flat_map(wire::wire_messages).collect();
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
        crate::gateway_http::reports_per_message(&messages, outcomes, PROVIDER)
    }

    /// Posts the request; the body of a 200 answer, or the outcome every
    /// message gets.
    async fn post(&self, request: &SendRequest<'_>) -> Result<Vec<u8>, Outcome> {
        let body = serde_json::to_vec(request).map_err(|e| {
            Outcome::Rejected(
                SmsError::new(
                    SmsErrorKind::InvalidMessage,
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
