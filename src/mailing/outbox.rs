//! The store seam of mailings: what a backend (the embedded SQLite store,
//! PostgreSQL) does, so the sender and the receiver work on any.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::{MailingId, MailingSpec, MailingStatus, Prepared, RecipientRow, Stats};
use crate::sms::DeliveryReceipt;
use crate::store_error::StoreError;

/// What a resend is kept away from the end of the gateway's duplicate
/// window: the lease, the heartbeat and the request's own time (its
/// timeout) are well inside it. A resend is made only while a send's lease
/// ran out less than the window less this ago.
pub const RESEND_MARGIN: Duration = Duration::from_secs(600);

/// How long ago, at the most, a send's lease may have run out for it to be
/// resent under a duplicate window of `window` (`None`: never).
#[must_use]
pub fn resend_horizon(window: Option<Duration>) -> Option<Duration> {
    window
        .and_then(|w| w.checked_sub(RESEND_MARGIN))
        .filter(|h| !h.is_zero())
}

/// A recipient a worker claimed: what to send, and the attempt number
/// that fences its later writes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claimed {
    /// The row.
    pub id: i64,
    /// This claim's attempt number: a write with an older one is refused.
    pub attempt: i64,
    /// The number (stored in E.164).
    pub number: crate::phone::PhoneNumber,
    /// The rendered text.
    pub text: String,
    /// Its parts.
    pub parts: u32,
    /// The client reference to send (the same on every attempt, so a
    /// gateway's duplicate check and delivery reports recognise it).
    pub client_reference: String,
    /// Whether it was sent before and its outcome is unknown: resent only
    /// because the provider refuses duplicates.
    pub resend: bool,
    /// How often a passing failure put it back already.
    pub retries: i64,
}

/// What became of one claimed recipient's send.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The gateway took it (`reference`: its id for reports). `note` says
    /// why when it is known only indirectly (a duplicate refusal).
    Accepted {
        /// The gateway's reference.
        reference: Option<String>,
        /// Why it counts as accepted, if not by the gateway's plain yes.
        note: Option<String>,
    },
    /// The gateway refused it for good.
    Failed {
        /// Why.
        reason: String,
    },
    /// The gateway may have it.
    Unknown {
        /// Why it is not known.
        reason: String,
    },
    /// Certainly not sent, for a passing reason (429, unreachable): back
    /// to pending.
    Retry {
        /// Why.
        reason: String,
    },
    /// Not sent, and never to be: its number opted out during the mailing
    /// (checked when its turn came).
    Blocked {
        /// Why.
        reason: String,
    },
    /// Not sent, and never to be: the mailing expired before its turn.
    Expired {
        /// Why (when the mailing expired).
        reason: String,
    },
}

/// Which claimed rows wait for their own daytime: `Some((until, why))`
/// holds the row until then ([`Outbox::claim_sending_holding`]).
pub type HoldCheck<'a> = &'a (dyn Fn(&Claimed) -> Option<(Timestamp, String)> + Send + Sync);

/// What a [`recover`](Outbox::recover) found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// Expired claims that were never sent: pending again.
    pub reclaimed: u64,
    /// Expired sends whose outcome is unknown.
    pub unknown: u64,
    /// Expired sends queued again with the same client reference (the
    /// provider refuses duplicates).
    pub resend: u64,
}

/// The answer of a shared rate limit ([`Outbox::take_rate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateTake {
    /// This store has no shared limit: pace in the process.
    Unsupported,
    /// Taken: send now.
    Taken,
    /// Not yet: ask again after this long.
    Wait(Duration),
}

/// What became of a delivery report given to [`Outbox::apply_report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportMatch {
    /// Matched to a settled recipient and applied: which one.
    Applied(MatchedRow),
    /// Kept until its recipient settles or its reference is recorded.
    Parked,
}

impl ReportMatch {
    /// Whether the report was applied to its recipient.
    #[must_use]
    pub fn is_applied(&self) -> bool {
        matches!(self, ReportMatch::Applied(_))
    }
}

/// The recipient a delivery report was applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MatchedRow {
    /// Its mailing.
    pub mailing: MailingId,
    /// Its row.
    pub row: i64,
    /// When it was written down as sending (for the report's latency),
    /// where the store knows.
    pub sent_at: Option<Timestamp>,
}

impl MatchedRow {
    /// Row `row` of `mailing`, sent at `sent_at` (milliseconds since the
    /// epoch, as the stores keep it).
    #[must_use]
    pub fn new(mailing: MailingId, row: i64, sent_at: Option<i64>) -> Self {
        MatchedRow {
            mailing,
            row,
            sent_at: sent_at.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
        }
    }
}

/// A mailing's outbox: one row per recipient, the unit of work. Every
/// method is one short transaction; no lock is held across a gateway
/// request.
///
/// The state machine, which a backend must keep:
///
/// - [`claim`](Self::claim) takes pending rows (and rows queued for resend)
///   of an active mailing: *claimed*, with a lease and a new attempt number.
/// - [`mark_sending`](Self::mark_sending) writes *sending* before the
///   request goes out, only for rows whose claim is still this attempt's.
/// - [`settle`](Self::settle) writes the gateway's answer, only for rows
///   still at this attempt (a late writer is fenced), and applies the
///   delivery reports kept for them.
/// - [`recover`](Self::recover) turns expired claims back to pending and
///   expired sends to *unknown* — or back to pending with the same client
///   reference when the provider refuses duplicates.
#[async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Creates a mailing and enqueues its recipients, in one transaction:
    /// all of them or none.
    async fn create(
        &self,
        spec: &MailingSpec,
        recipients: &mut (dyn Iterator<Item = Prepared> + Send),
    ) -> Result<MailingId, StoreError>;

    /// Removes mailing `id` and everything stored for it (its recipients
    /// and kept reports), in one transaction: for a mailing that must leave
    /// nothing behind (its recipients file changed while it was made).
    async fn remove(&self, id: MailingId) -> Result<(), StoreError>;

    /// The mailing's spec and status.
    async fn mailing(&self, id: MailingId) -> Result<(MailingSpec, MailingStatus), StoreError>;

    /// Pauses, resumes or cancels (cancelling turns pending and held
    /// recipients into cancelled ones; claimed and sending ones finish).
    async fn set_status(&self, id: MailingId, status: MailingStatus) -> Result<(), StoreError>;

    /// Ends every pending or held recipient of mailing `id` as
    /// [`Expired`](super::RecipientState::Expired) with `reason` (the mailing
    /// expired before their turn); claimed and sending ones finish as they
    /// would. Returns how many. One statement on a SQL store, so a million
    /// waiting recipients expire at once, not at the mailing's pace.
    async fn expire_pending(&self, id: MailingId, reason: &str) -> Result<u64, StoreError>;

    /// Puts claimed rows aside until their own daytime: each `(row, until,
    /// reason)` still claimed at this attempt becomes
    /// [`Held`](super::RecipientState::Held) with `reason`, never sent
    /// before [`release_held`](Self::release_held) makes it pending again
    /// at `until`. Returns how many were held.
    async fn hold(&self, rows: &[(Claimed, Timestamp, String)]) -> Result<u64, StoreError>;

    /// Makes the held rows of `id` whose time has come (`until` ≤ `now`:
    /// the runner's clock, not the database's) pending again, their hold
    /// reason cleared. Returns how many.
    async fn release_held(&self, id: MailingId, now: Timestamp) -> Result<u64, StoreError>;

    /// The earliest time a held row of `id` may be sent, or `None` when
    /// none is held.
    async fn next_held(&self, id: MailingId) -> Result<Option<Timestamp>, StoreError>;

    /// Claims up to `max` recipients for `worker`, for `lease`.
    async fn claim(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Claims up to `max` recipients straight into *sending* (for a worker
    /// that sends them at once): [`claim`](Self::claim) then
    /// [`mark_sending`](Self::mark_sending) by default; a backend does it
    /// in one statement.
    async fn claim_sending(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let claimed = self.claim(id, worker, max, lease).await?;
        self.mark_sending(&claimed, lease).await
    }

    /// Claims as [`claim_sending`](Self::claim_sending) does, but rows
    /// `hold` picks (with until when, and why) are
    /// [held](Self::hold) instead, never written down as sending (so a
    /// crash cannot leave them unknown). Returns the rows to send and how
    /// many were held. By default [`claim`](Self::claim), [`hold`](Self::hold)
    /// and [`mark_sending`](Self::mark_sending); a backend does it in one
    /// transaction.
    async fn claim_sending_holding(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
        hold: HoldCheck<'_>,
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        let claimed = self.claim(id, worker, max, lease).await?;
        let (held, send): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .map(|c| {
                let h = hold(&c);
                (c, h)
            })
            .partition(|(_, h)| h.is_some());
        let held: Vec<(Claimed, Timestamp, String)> = held
            .into_iter()
            .filter_map(|(c, h)| h.map(|(at, why)| (c, at, why)))
            .collect();
        let n = self.hold(&held).await?;
        let send: Vec<Claimed> = send.into_iter().map(|(c, _)| c).collect();
        Ok((self.mark_sending(&send, lease).await?, n))
    }

    /// Marks claimed rows *sending*; returns those still this attempt's
    /// (only they may be sent).
    async fn mark_sending(
        &self,
        rows: &[Claimed],
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Extends the lease of rows in flight (a heartbeat).
    async fn extend(&self, rows: &[Claimed], lease: Duration) -> Result<(), StoreError>;

    /// Writes outcomes; a row no longer at its attempt is left alone.
    async fn settle(&self, results: &[(Claimed, Settlement)]) -> Result<(), StoreError>;

    /// [`settle`](Self::settle)s `results`, then claims the next batch
    /// straight into *sending* as [`claim_sending`](Self::claim_sending)
    /// does: a sending worker's steady state, in one transaction where the
    /// backend can (the default makes the two calls). Either both are
    /// written or, on an error, the settle may have been and the claim not:
    /// settling again is harmless (rows already settled are left alone).
    async fn settle_and_claim(
        &self,
        results: &[(Claimed, Settlement)],
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.settle(results).await?;
        self.claim_sending(id, worker, max, lease).await
    }

    /// [`settle`](Self::settle)s `results`, then claims as
    /// [`claim_sending_holding`](Self::claim_sending_holding) does: the
    /// steady state of a worker sending in recipients' own daytime, in one
    /// transaction where the backend can (the default makes the calls).
    async fn settle_and_claim_holding(
        &self,
        results: &[(Claimed, Settlement)],
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
        hold: HoldCheck<'_>,
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        self.settle(results).await?;
        self.claim_sending_holding(id, worker, max, lease, hold)
            .await
    }

    /// Turns expired claims of `id` back into pending rows, and expired
    /// sends into unknown ones — or into pending rows queued for a resend
    /// with the same client reference, when `resend_within` says the
    /// provider refuses duplicates for that long and the send was recent
    /// enough: its lease ran out less than `resend_within` less
    /// [`RESEND_MARGIN`] ago. Rows queued for a resend that have waited
    /// past that turn unknown too (never resent after the gateway forgot
    /// them).
    async fn recover(
        &self,
        id: MailingId,
        resend_within: Option<Duration>,
    ) -> Result<Recovered, StoreError>;

    /// Counts per state.
    async fn stats(&self, id: MailingId) -> Result<Stats, StoreError>;

    /// Whether every recipient is in a final state (as
    /// [`Stats::is_finished`], without counting them all: a backend looks
    /// for one pending or in-flight row).
    async fn is_finished(&self, id: MailingId) -> Result<bool, StoreError> {
        Ok(self.stats(id).await?.is_finished())
    }

    /// Up to `limit` rows after row `after`, in order (for the export).
    async fn rows(
        &self,
        id: MailingId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RecipientRow>, StoreError>;

    /// Notes which gateway sends mailing `id` (the provider's name): a
    /// delivery report that carries no client reference is matched by its
    /// gateway reference among mailings of its own gateway only. The
    /// runner calls it when it starts; the default does nothing.
    async fn note_gateway(&self, id: MailingId, gateway: &str) -> Result<(), StoreError> {
        let _ = (id, gateway);
        Ok(())
    }

    /// Matches a delivery report to its recipient and applies it, or keeps
    /// it until the recipient settles. A report changes only the row its
    /// client reference names; one without a client reference (`PSWinCom`'s)
    /// is matched by gateway reference among rows that still wait for
    /// their report, of mailings sent through the report's gateway (see
    /// [`note_gateway`](Self::note_gateway)), the newest first. The
    /// delivery time is the report's own, or the time it arrived.
    async fn apply_report(&self, receipt: &DeliveryReceipt) -> Result<ReportMatch, StoreError>;

    /// [`apply_report`](Self::apply_report) for the reports of one push (a
    /// shared store does it in one statement); one answer per report.
    async fn apply_reports(
        &self,
        receipts: &[DeliveryReceipt],
    ) -> Result<Vec<ReportMatch>, StoreError> {
        let mut out = Vec::with_capacity(receipts.len());
        for r in receipts {
            out.push(self.apply_report(r).await?);
        }
        Ok(out)
    }

    /// Which of `numbers` (E.164) are on the opt-out list now: the runner
    /// asks when their turn comes, so a STOPP received during a mailing
    /// stops it for that number. The default reads the whole list; a
    /// backend looks up just these.
    async fn opted_out_among(
        &self,
        numbers: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let all = self.opted_out().await?;
        Ok(numbers
            .iter()
            .filter(|n| all.contains(**n))
            .map(|n| (*n).to_owned())
            .collect())
    }

    /// For the rows `asking` (a batch written down as sending), how many
    /// messages their numbers got since `since` from other rows of any
    /// mailing in the store, by number: rows written down as sending at or
    /// after `since` that are accepted, delivered or unknown
    /// ([`RecipientState::counts_as_sent`](super::RecipientState::counts_as_sent)),
    /// and rows still sending that were written down before the asking
    /// row (by `sent_at`, then row id): of two sends to one number at the
    /// same moment the earlier goes first, so two mailings never both hold
    /// back, and a cap is never exceeded. Numbers with none are left out.
    /// For a [`FrequencyCap`](super::FrequencyCap).
    async fn sends_since(
        &self,
        asking: &[i64],
        since: Timestamp,
    ) -> Result<std::collections::HashMap<String, u64>, StoreError>;

    /// Puts `number` (E.164) on the opt-out list.
    async fn opt_out(&self, number: &str, source: &str) -> Result<(), StoreError>;

    /// The opt-out list.
    async fn opted_out(&self) -> Result<std::collections::HashSet<String>, StoreError>;

    /// Takes `cost` units (messages or parts) from the rate limit `key`
    /// shared by every worker on this store (`per_second`, with a burst of
    /// `burst`): a GCRA bucket. A store without one says
    /// [`RateTake::Unsupported`] (the default), and the runner paces in its
    /// own process.
    async fn take_rate(
        &self,
        key: &str,
        cost: u32,
        per_second: std::num::NonZeroU32,
        burst: u32,
    ) -> Result<RateTake, StoreError> {
        let _ = (key, cost, per_second, burst);
        Ok(RateTake::Unsupported)
    }

    /// Pushes the shared rate limit `key` back by `by` (the gateway answered
    /// 429 or 5xx): no worker takes from it until then.
    async fn push_rate(&self, key: &str, by: Duration) -> Result<(), StoreError> {
        let _ = (key, by);
        Ok(())
    }
}
