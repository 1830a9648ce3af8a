//! The one error type of the SMS contract.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What kind of failure an [`SmsError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SmsErrorKind {
    /// The recipient's number is not accepted by the gateway. Not sent.
    InvalidRecipient,
    /// The sender is not accepted by the gateway. Not sent.
    InvalidSender,
    /// The text is longer than the gateway accepts. Not sent.
    TextTooLong,
    /// The text has characters the gateway cannot send. Not sent.
    UnsupportedText,
    /// Something else about the message is invalid. Not sent.
    InvalidMessage,
    /// The provider's settings are invalid (a missing password, a bad
    /// service ID). Not sent.
    InvalidConfig,
    /// The gateway rejected the credentials. Not sent.
    Unauthenticated,
    /// The gateway refused this message (its reason is in the message).
    Rejected,
    /// The gateway is rate-limiting or holding messages (quota, spam filter).
    RateLimited,
    /// The gateway could not be reached: DNS, connection refused, reset
    /// before the request was written. Certainly not sent.
    Unavailable,
    /// TLS could not be established. Certainly not sent.
    Tls,
    /// No answer in time. Whether the gateway accepted the message is not
    /// known if the request had been written.
    Timeout,
    /// The gateway's answer could not be understood.
    Protocol,
    /// The gateway reported an internal error (HTTP 5xx, Puzzel's status
    /// 6): after it read the request, so the outcome is unknown.
    GatewayInternal,
    /// The provider cannot do what was asked (scheduling, priority, …).
    NotSupported,
    /// The gateway already has a message with this client reference (a
    /// uniqueness check, such as Puzzel's status 25): an earlier send with
    /// it was taken, and this one was not sent again. Never retry it.
    Duplicate,
    /// Anything else.
    Other,
}

/// An error from an [`SmsProvider`](super::SmsProvider): a kind, the
/// provider's name, a message and optionally the underlying error.
///
/// Third-party providers build it with [`SmsError::new`]. It is `Clone`
/// (the source is shared), `Send` and `Sync`. Messages must never contain
/// credentials; build them from gateway answers with care (this crate's
/// gateways mask passwords and phone numbers).
///
/// Errors found before any provider is involved (building a [`Message`],
/// parsing a [`Sender`] or an "SMS endpoint" code) have an empty
/// [`provider`](Self::provider) and print as their message alone.
///
/// [`Message`]: super::Message
/// [`Sender`]: super::Sender
#[derive(Clone, thiserror::Error)]
#[error("{}{message}", if provider.is_empty() { String::new() } else { format!("{provider}: ") })]
pub struct SmsError {
    kind: SmsErrorKind,
    provider: Cow<'static, str>,
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    retry_after: Option<std::time::Duration>,
    setting: Option<&'static str>,
}

impl fmt::Debug for SmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsError")
            .field("kind", &self.kind)
            .field("provider", &self.provider)
            .field("message", &self.message)
            .field(
                "source",
                &self.source.as_ref().map(std::string::ToString::to_string),
            )
            .field("retry_after", &self.retry_after)
            .field("setting", &self.setting)
            .finish()
    }
}

impl PartialEq for SmsError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.provider == other.provider && self.message == other.message
    }
}

impl SmsError {
    /// An error of `kind` from `provider`.
    pub fn new(
        kind: SmsErrorKind,
        provider: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        SmsError {
            kind,
            provider: provider.into(),
            message: message.into(),
            source: None,
            retry_after: None,
            setting: None,
        }
    }

    /// Names the builder setting an [`SmsErrorKind::InvalidConfig`] error
    /// is about (`"service_id"`, `"username"`, `"password"`, `"base_url"`,
    /// `"failover_url"`, `"smtp_host"`, `"smtp_user"`, `"from"`,
    /// `"domain"`, `"subject"`, `"runtime"`), for a settings page to point
    /// at the field without reading the message.
    #[must_use]
    pub fn with_setting(mut self, setting: &'static str) -> Self {
        self.setting = Some(setting);
        self
    }

    /// The builder setting this error is about, if it names one (see
    /// [`with_setting`](Self::with_setting)).
    #[must_use]
    pub fn setting(&self) -> Option<&'static str> {
        self.setting
    }

    /// An error found before any provider is involved (building a
    /// message, parsing a sender or an "SMS endpoint" code): no provider
    /// name.
    pub(crate) fn before_provider(kind: SmsErrorKind, message: impl Into<String>) -> Self {
        SmsError::new(kind, "", message)
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Says how long the gateway asked to wait before the next request (a
    /// 429's `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// How long the gateway asked to wait before the next request, if it
    /// said (HTTP `Retry-After` on a 429 or 503). A mailing waits at least
    /// this long before it sends again.
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> SmsErrorKind {
        self.kind
    }

    /// The provider's name; empty for an error found before any provider.
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The message (no provider prefix).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the credentials were rejected.
    #[must_use]
    pub fn is_auth(&self) -> bool {
        self.kind == SmsErrorKind::Unauthenticated
    }

    /// Whether it is a timeout.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.kind == SmsErrorKind::Timeout
    }

    /// Whether the settings or the message are at fault (fix them, do not
    /// retry).
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self.kind,
            SmsErrorKind::InvalidRecipient
                | SmsErrorKind::InvalidSender
                | SmsErrorKind::TextTooLong
                | SmsErrorKind::UnsupportedText
                | SmsErrorKind::InvalidMessage
                | SmsErrorKind::InvalidConfig
        )
    }
}
