//! The webhook receiver's own error: an option of its builder that is
//! wrong.

/// What kind of [`ReceiverError`] it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverErrorKind {
    /// An option is missing or its value is wrong.
    Invalid,
}

/// A webhook receiver option that cannot be used: which, and why.
///
/// ```
/// use crm_comms::receiver::{ReceiverErrorKind, WebhookReceiver};
/// use crm_comms::sms::inbound::{HandlerError, InboundRouter, Routed};
/// use crm_comms::sms::tracking::DeliveryEvent;
///
/// let err = WebhookReceiver::builder(
///     InboundRouter::new(|_: Routed| async { Ok::<(), HandlerError>(()) }),
///     |_: DeliveryEvent| async { Ok::<(), HandlerError>(()) },
/// )
/// .secret_header("X-Secret", "")
/// .build()
/// .unwrap_err();
/// assert_eq!(err.field, "secret_header");
/// assert_eq!(err.kind(), ReceiverErrorKind::Invalid);
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[error("webhook receiver setting `{field}`: {reason}")]
#[non_exhaustive]
pub struct ReceiverError {
    /// The builder option (`secret_header`, `max_body`, …).
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
    kind: ReceiverErrorKind,
}

impl ReceiverError {
    /// An option that is wrong.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ReceiverError {
            field,
            reason: reason.into(),
            kind: ReceiverErrorKind::Invalid,
        }
    }

    /// What kind of error it is.
    #[must_use]
    pub fn kind(&self) -> ReceiverErrorKind {
        self.kind
    }

    /// Whether an option is wrong (fix the configuration).
    #[must_use]
    pub fn is_invalid(&self) -> bool {
        self.kind == ReceiverErrorKind::Invalid
    }
}
