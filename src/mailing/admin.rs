//! The operator's tools on a mailing store: list the mailings, find one
//! recipient by its client reference, cancel one recipient, and move the
//! send time of a mailing that has not started.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::{MailingId, MailingStatus, RecipientRow};
use crate::store_error::StoreError;

/// One mailing as [`MailingAdmin::list_mailings`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct MailingListing {
    /// Its id.
    pub id: MailingId,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: MailingStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its send time, if it has one.
    pub send_at: Option<Timestamp>,
    /// Its expiry, if it has one.
    pub expires_at: Option<Timestamp>,
}

/// The mailing and row a client reference (`crm12-345`, as sent with each
/// message and echoed by delivery reports) names.
///
/// ```
/// use crm_comms::mailing::{MailingId, parse_client_reference};
/// assert_eq!(parse_client_reference("crm12-345"), Some((MailingId::new(12), 345)));
/// assert_eq!(parse_client_reference("12-345"), None);
/// ```
#[must_use]
pub fn parse_client_reference(s: &str) -> Option<(MailingId, i64)> {
    let (mailing, row) = s.trim().strip_prefix("crm")?.split_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(mailing) || !digits(row) {
        return None;
    }
    Some((MailingId::new(mailing.parse().ok()?), row.parse().ok()?))
}

/// The operator's tools. Every store of this crate implements them; a
/// recipient found by number is [`Privacy::access`](super::Privacy::access).
#[async_trait]
pub trait MailingAdmin: Send + Sync {
    /// The newest `limit` mailings, newest first.
    async fn list_mailings(&self, limit: usize) -> Result<Vec<MailingListing>, StoreError>;

    /// Row `row` of mailing `id`, if it has one.
    async fn recipient(&self, id: MailingId, row: i64) -> Result<Option<RecipientRow>, StoreError>;

    /// Cancels row `row` of mailing `id` with `reason`, if it is not sent
    /// yet (pending or held); returns whether it was. A row claimed or in
    /// flight finishes as it would.
    async fn cancel_recipient(
        &self,
        id: MailingId,
        row: i64,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Moves the send time of mailing `id` (`None`: at once), as long as
    /// none of its recipients has been claimed yet.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Invalid`](crate::store::StoreErrorKind::Invalid)
    /// when the mailing does not exist or has started.
    async fn reschedule(&self, id: MailingId, send_at: Option<Timestamp>)
    -> Result<(), StoreError>;
}

/// Why a mailing cannot be rescheduled: it has started.
pub(crate) fn started(id: MailingId) -> StoreError {
    StoreError::new(
        crate::store_error::StoreErrorKind::Invalid,
        format!("mailing {id} has started: it cannot be rescheduled (pause or cancel it instead)"),
    )
}
