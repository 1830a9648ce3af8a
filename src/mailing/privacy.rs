//! Consent and personal data: the opt-out list with a readable log (who,
//! when, by which message), opting in again, erasure that keeps an opt-out
//! as a keyed hash only, access to everything kept about a number, and
//! purging finished mailings after a retention period.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

use super::model::{MailingId, RecipientRow};
use crate::store_error::StoreError;

/// What a consent entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ConsentAction {
    /// Put on the opt-out list (STOPP).
    OptOut,
    /// Taken off it (START).
    OptIn,
}

impl ConsentAction {
    /// `opt-out` or `opt-in`, as stored and printed.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentAction::OptOut => "opt-out",
            ConsentAction::OptIn => "opt-in",
        }
    }

    /// The action named `s`.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        [ConsentAction::OptOut, ConsentAction::OptIn]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// One line of the consent log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConsentEntry {
    /// The number (E.164).
    pub number: String,
    /// What was done.
    pub action: ConsentAction,
    /// How: the keyword (`STOPP`), `import`, `cli`, …
    pub via: String,
    /// The message that did it, as received (when it was one).
    pub message: Option<String>,
    /// When.
    pub at: Timestamp,
}

impl ConsentEntry {
    /// An entry made now.
    #[must_use]
    pub fn now(number: &str, action: ConsentAction, via: &str, message: Option<&str>) -> Self {
        ConsentEntry {
            number: number.to_owned(),
            action,
            via: via.to_owned(),
            message: message.map(str::to_owned),
            at: Timestamp::now(),
        }
    }
}

/// What [`Privacy::erase`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Erased {
    /// Recipient rows, in every mailing.
    pub recipients: u64,
    /// Kept delivery reports of those rows.
    pub kept_reports: u64,
    /// Sent records (delivery tracking).
    pub sent_records: u64,
    /// Consent log entries.
    pub consent_entries: u64,
    /// Whether the number was opted out: then only its keyed hash is kept,
    /// on the suppression list.
    pub suppressed: bool,
}

/// Everything a store keeps about one number (GDPR art. 15), as
/// [`Privacy::access`] exports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct NumberRecord {
    /// The number (E.164).
    pub number: String,
    /// Its rows in every mailing: the mailing, its name, and the row (text
    /// sent, state, references, reason, delivery time).
    pub recipients: Vec<(MailingId, String, RecipientRow)>,
    /// Whether it is on the opt-out list.
    pub opted_out: bool,
    /// Whether its keyed hash is on the suppression list (erased after
    /// opting out).
    pub suppressed: bool,
    /// Its consent log.
    pub consent: Vec<ConsentEntry>,
    /// Sent records (delivery tracking) with it as recipient.
    pub sent_records: u64,
}

/// What [`Privacy::purge_finished`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Purged {
    /// Finished mailings removed.
    pub mailings: u64,
    /// Their recipient rows.
    pub recipients: u64,
}

/// Consent and personal data in a mailing store. Every store of this
/// crate implements it; `testing::outbox_suite` checks it.
#[async_trait]
pub trait Privacy: Send + Sync {
    /// Records `entry`: an opt-out puts the number on the list, an opt-in
    /// takes it off (and off the suppression list); either way the entry is
    /// logged. Returns whether the list changed.
    async fn record_consent(&self, entry: &ConsentEntry) -> Result<bool, StoreError>;

    /// The consent log, newest first: of `number`, or of every number;
    /// at most `limit` entries.
    async fn consent_log(
        &self,
        number: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ConsentEntry>, StoreError>;

    /// Erases `number` (E.164) from every table the store keeps (recipient
    /// rows of every mailing, their kept reports, sent records, the
    /// opt-out list and the consent log), in one transaction. An opted-out
    /// number leaves only its keyed hash ([`suppression_hash`]) on the
    /// suppression list, so a later import of it is still blocked (when
    /// its turn comes: [`Outbox::opted_out_among`](super::Outbox::opted_out_among)).
    async fn erase(&self, number: &str) -> Result<Erased, StoreError>;

    /// Everything the store keeps about `number` (E.164).
    async fn access(&self, number: &str) -> Result<NumberRecord, StoreError>;

    /// Removes mailings created more than `older_than` ago whose every
    /// recipient is final, with their rows and kept reports; on a shared
    /// database in short transactions of at most `batch` rows, so no long
    /// lock is held on a big table.
    async fn purge_finished(
        &self,
        older_than: Duration,
        batch: usize,
    ) -> Result<Purged, StoreError>;
}

/// A mailing store with all it keeps: the [`Outbox`](super::Outbox),
/// [`Privacy`] and the operator's [`MailingAdmin`](super::MailingAdmin).
/// Every store of this crate is one; an `Arc<dyn MailingStore>` gives an
/// `Arc<dyn Outbox>` where one is wanted.
pub trait MailingStore: super::Outbox + Privacy + super::MailingAdmin {}

impl<T: super::Outbox + Privacy + super::MailingAdmin + ?Sized> MailingStore for T {}

/// The keyed hash an erased, opted-out number is remembered by:
/// HMAC-SHA-256 of its E.164 form under the store's own random key, in
/// hex. Without the key a hash cannot be checked against guessed numbers.
///
/// ```
/// use crm_comms::mailing::suppression_hash;
/// let a = suppression_hash(b"key one", "+4741000001");
/// assert_eq!(a.len(), 64);
/// assert_ne!(a, suppression_hash(b"key two", "+4741000001"));
/// ```
#[must_use]
pub fn suppression_hash(key: &[u8], e164: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(e164.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random key for [`suppression_hash`] (32 bytes from the OS), in
/// hex as a store keeps it.
pub(crate) fn privacy_key() -> Result<String, StoreError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        StoreError::new(
            crate::store_error::StoreErrorKind::Other,
            format!("no randomness for the suppression key: {e}"),
        )
    })?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

/// A key kept in hex, read back.
pub(crate) fn key_from_hex(hex: &str) -> Result<Vec<u8>, StoreError> {
    let bad = || {
        StoreError::new(
            crate::store_error::StoreErrorKind::Schema,
            "the stored suppression key cannot be read",
        )
    };
    if hex.len() != 64 {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}
