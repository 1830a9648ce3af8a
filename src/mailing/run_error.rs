//! Why a mailing run ended with an error: [`RunError`].

use crate::sms::SmsError;
use crate::store_error::StoreError;

/// Why [`MailingRunner::run`](super::MailingRunner::run) ended with an
/// error. What was in flight is settled first; the rows left are
/// recovered by the next run (unknown ones never resent blindly).
///
/// ```
/// use crm_comms::mailing::RunError;
/// use crm_comms::store::{StoreError, StoreErrorKind};
/// let e = RunError::from(StoreError::new(StoreErrorKind::Fenced, "taken over"));
/// assert!(e.is_fenced() && !e.is_auth());
/// // It converts into the crate's error, whose predicates agree.
/// assert!(crm_comms::Error::from(e).is_fenced());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The outbox store failed (other than being away for a moment, which
    /// the run waits out).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway refused the credentials: the run stops rather than fail
    /// every recipient.
    #[error(transparent)]
    Gateway(#[from] SmsError),
}

impl RunError {
    /// Whether the gateway refused the credentials (fix the settings).
    #[must_use]
    pub fn is_auth(&self) -> bool {
        matches!(self, RunError::Gateway(e) if e.is_auth())
    }

    /// Whether the store could not be reached (try again later).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RunError::Store(e) if e.is_unavailable())
    }

    /// Whether another worker owns the mailing's rows now.
    #[must_use]
    pub fn is_fenced(&self) -> bool {
        matches!(self, RunError::Store(e) if e.is_fenced())
    }
}
