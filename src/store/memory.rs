//! An [`Outbox`] in memory: the reference the store contract
//! (`testing::outbox_suite`) is written against, and a fast store for a
//! user's own tests (as lettre's `StubTransport` is for mail). Nothing
//! survives the value; one mutex guards it all, so it is no store for
//! production sending.

// Why one file above 500 lines: it is a whole store, the reference
// implementation of the `Outbox` contract in one place (one trait impl is
// one block), laid out in the trait's order like the SQL stores.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::rows::{
    ReportTarget, claimed_number, client_reference, delivery_time, receipt_state, report_effect,
    settlement_row, status_change,
};
use super::{StoreError, StoreErrorKind};
use crate::mailing::outbox::{Claimed, MatchedRow, Outbox, Recovered, ReportMatch, Settlement};
use crate::mailing::{
    ConsentAction, ConsentEntry, Erased, MailingAdmin, MailingId, MailingListing, MailingSpec,
    MailingStatus, NumberRecord, Prepared, Privacy, Purged, RecipientRow, RecipientState, Stats,
    resend_horizon, suppression_hash,
};
use crate::sms::DeliveryReceipt;

/// How long a kept report waits for its row, by default (as the SQL
/// stores).
const KEEP_REPORTS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// An [`Outbox`] held in memory. Cheap to clone (the clones share it).
///
/// ```
/// # async fn demo() -> Result<(), crm_comms::store::StoreError> {
/// use crm_comms::mailing::{MailingSpec, Outbox, Preparer, Recipient};
/// use crm_comms::store::memory::MemoryOutbox;
///
/// let store = MemoryOutbox::new();
/// let spec = MailingSpec::new("t", "Hei {name}".parse().unwrap())
///     .with_default_country("NO".parse().unwrap());
/// let none = Default::default();
/// let mut p = Preparer::new(&spec, &none);
/// let list = [Recipient::new("41000001").with("name", "Kari")];
/// let id = store.create(&spec, &mut list.iter().map(|r| p.prepare(r))).await?;
/// assert_eq!(store.stats(id).await?.total(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryOutbox {
    inner: Arc<Mutex<State>>,
    keep_reports_for: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    next_mailing: i64,
    next_row: i64,
    mailings: BTreeMap<MailingId, Mailing>,
    rows: BTreeMap<i64, Row>,
    kept: Vec<Kept>,
    next_kept: i64,
    opt_out: HashMap<String, String>,
    consent: Vec<ConsentEntry>,
    suppression: HashSet<String>,
    key: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Mailing {
    spec: MailingSpec,
    status: MailingStatus,
    gateway: Option<String>,
    created: Instant,
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    mailing: MailingId,
    line: Option<u64>,
    number: String,
    text: String,
    parts: u32,
    state: RecipientState,
    attempt: i64,
    resend: bool,
    retries: i64,
    lease_until: Option<Instant>,
    not_before: Option<jiff::Timestamp>,
    sent_at: Option<jiff::Timestamp>,
    gateway_ref: Option<String>,
    reason: Option<String>,
    done_at: Option<String>,
}

#[derive(Debug, Clone)]
struct Kept {
    id: i64,
    client_ref: Option<String>,
    gateway_ref: String,
    state: &'static str,
    code: String,
    description: Option<String>,
    done_at: String,
    received: Instant,
    mailing: Option<MailingId>,
    recipient: Option<i64>,
    provider: String,
}

impl MemoryOutbox {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        MemoryOutbox::default()
    }

    /// Keeps a report whose row has not settled for `how_long`, then
    /// forgets it when mailings are recovered (default seven days).
    #[must_use]
    pub fn keep_reports_for(mut self, how_long: Duration) -> Self {
        self.keep_reports_for = Some(how_long);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A row as the export writes it.
fn row_of(r: &Row) -> RecipientRow {
    RecipientRow {
        id: r.id,
        line: r.line,
        number: r.number.clone(),
        state: r.state,
        parts: r.parts,
        client_reference: client_reference(r.mailing, r.id),
        reference: r.gateway_ref.clone(),
        reason: r.reason.clone(),
        done_at: r.done_at.clone(),
    }
}

fn no_mailing(id: MailingId) -> StoreError {
    StoreError::new(StoreErrorKind::Invalid, format!("there is no mailing {id}"))
}

impl State {
    /// Applies a report (a stored state, code, text and time) to row `id`.
    fn apply(&mut self, id: i64, state: &str, code: &str, description: Option<&str>, at: &str) {
        let (new_state, reason) = report_effect(state, code, description);
        if let Some(row) = self.rows.get_mut(&id) {
            row.state = new_state;
            if reason.is_some() {
                row.reason = reason;
            }
            row.done_at = Some(at.to_owned());
        }
    }

    /// Applies and forgets the kept reports `pick` chooses, to the row it
    /// names, in the order they came.
    fn apply_kept(&mut self, mut pick: impl FnMut(&Kept, &State) -> Option<i64>) {
        let mut chosen = Vec::new();
        for k in &self.kept {
            if let Some(row) = pick(k, self) {
                chosen.push((k.id, row));
            }
        }
        for (kid, row) in chosen {
            if let Some(pos) = self.kept.iter().position(|k| k.id == kid) {
                let k = self.kept.remove(pos);
                self.apply(row, k.state, &k.code, k.description.as_deref(), &k.done_at);
            }
        }
    }

    fn gateway_of(&self, row: &Row) -> Option<&str> {
        self.mailings
            .get(&row.mailing)
            .and_then(|m| m.gateway.as_deref())
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn create(
        &self,
        spec: &MailingSpec,
        recipients: &mut (dyn Iterator<Item = Prepared> + Send),
    ) -> Result<MailingId, StoreError> {
        // Prepared first, outside the lock (the iterator may be slow).
        let prepared: Vec<Prepared> = recipients.collect();
        let mut s = self.state();
        s.next_mailing += 1;
        let id = MailingId::new(s.next_mailing);
        s.mailings.insert(
            id,
            Mailing {
                spec: spec.clone(),
                status: MailingStatus::Active,
                gateway: None,
                created: Instant::now(),
            },
        );
        for p in prepared {
            s.next_row += 1;
            let row = s.next_row;
            let (state, reason) = match &p.blocked {
                None => (RecipientState::Pending, None),
                Some(r) => (RecipientState::Blocked, Some(r.to_string())),
            };
            s.rows.insert(
                row,
                Row {
                    id: row,
                    mailing: id,
                    line: p.line,
                    number: p.number,
                    text: p.text,
                    parts: p.parts,
                    state,
                    attempt: 0,
                    resend: false,
                    retries: 0,
                    lease_until: None,
                    not_before: None,
                    sent_at: None,
                    gateway_ref: None,
                    reason,
                    done_at: None,
                },
            );
        }
        Ok(id)
    }

    async fn remove(&self, id: MailingId) -> Result<(), StoreError> {
        let mut s = self.state();
        s.mailings.remove(&id);
        s.rows.retain(|_, r| r.mailing != id);
        s.kept.retain(|k| k.mailing != Some(id));
        Ok(())
    }

    async fn mailing(&self, id: MailingId) -> Result<(MailingSpec, MailingStatus), StoreError> {
        let s = self.state();
        let m = s.mailings.get(&id).ok_or_else(|| no_mailing(id))?;
        Ok((m.spec.clone(), m.status))
    }

    async fn set_status(&self, id: MailingId, status: MailingStatus) -> Result<(), StoreError> {
        let mut s = self.state();
        let current = s.mailings.get(&id).map(|m| m.status.as_str());
        status_change(id, current, status)?;
        if let Some(m) = s.mailings.get_mut(&id) {
            m.status = status;
        }
        if status == MailingStatus::Cancelled {
            for r in s.rows.values_mut().filter(|r| r.mailing == id) {
                if matches!(r.state, RecipientState::Pending | RecipientState::Held) {
                    r.state = RecipientState::Cancelled;
                    r.reason = Some("the mailing was cancelled".into());
                    r.not_before = None;
                }
            }
        }
        Ok(())
    }

    async fn expire_pending(&self, id: MailingId, reason: &str) -> Result<u64, StoreError> {
        let mut s = self.state();
        let mut n = 0;
        for r in s.rows.values_mut().filter(|r| r.mailing == id) {
            if matches!(r.state, RecipientState::Pending | RecipientState::Held) {
                r.state = RecipientState::Expired;
                r.reason = Some(reason.to_owned());
                r.resend = false;
                r.not_before = None;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn hold(&self, rows: &[(Claimed, jiff::Timestamp, String)]) -> Result<u64, StoreError> {
        let mut s = self.state();
        let mut n = 0;
        for (c, until, reason) in rows {
            if let Some(r) = s.rows.get_mut(&c.id)
                && r.attempt == c.attempt
                && r.state == RecipientState::Claimed
            {
                r.state = RecipientState::Held;
                r.sent_at = None;
                r.not_before = Some(*until);
                r.reason = Some(reason.clone());
                r.lease_until = None;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn release_held(&self, id: MailingId, now: jiff::Timestamp) -> Result<u64, StoreError> {
        let mut s = self.state();
        let mut n = 0;
        for r in s.rows.values_mut().filter(|r| r.mailing == id) {
            if r.state == RecipientState::Held && r.not_before.is_some_and(|t| t <= now) {
                r.state = RecipientState::Pending;
                r.not_before = None;
                r.reason = None;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn next_held(&self, id: MailingId) -> Result<Option<jiff::Timestamp>, StoreError> {
        Ok(self
            .state()
            .rows
            .values()
            .filter(|r| r.mailing == id && r.state == RecipientState::Held)
            .filter_map(|r| r.not_before)
            .min())
    }

    async fn claim(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let _ = worker;
        let mut s = self.state();
        if s.mailings.get(&id).map(|m| m.status) != Some(MailingStatus::Active) {
            return Ok(Vec::new());
        }
        let until = Instant::now() + lease;
        let mut out = Vec::new();
        for r in s.rows.values_mut() {
            if out.len() >= max {
                break;
            }
            if r.mailing != id || r.state != RecipientState::Pending {
                continue;
            }
            r.state = RecipientState::Claimed;
            r.attempt += 1;
            r.lease_until = Some(until);
            r.sent_at = None;
            out.push(Claimed {
                id: r.id,
                attempt: r.attempt,
                number: claimed_number(r.id, &r.number)?,
                text: r.text.clone(),
                parts: r.parts,
                client_reference: client_reference(id, r.id),
                resend: r.resend,
                retries: r.retries,
            });
        }
        Ok(out)
    }

    async fn mark_sending(
        &self,
        rows: &[Claimed],
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut s = self.state();
        let until = Instant::now() + lease;
        let mut out = Vec::new();
        for c in rows {
            if let Some(r) = s.rows.get_mut(&c.id)
                && r.attempt == c.attempt
                && r.state == RecipientState::Claimed
            {
                r.state = RecipientState::Sending;
                r.lease_until = Some(until);
                r.sent_at = Some(jiff::Timestamp::now());
                out.push(c.clone());
            }
        }
        Ok(out)
    }

    async fn extend(&self, rows: &[Claimed], lease: Duration) -> Result<(), StoreError> {
        let mut s = self.state();
        let until = Instant::now() + lease;
        for c in rows {
            if let Some(r) = s.rows.get_mut(&c.id)
                && r.attempt == c.attempt
                && matches!(r.state, RecipientState::Claimed | RecipientState::Sending)
            {
                r.lease_until = Some(until);
            }
        }
        Ok(())
    }

    async fn settle(&self, results: &[(Claimed, Settlement)]) -> Result<(), StoreError> {
        let mut s = self.state();
        for (c, settlement) in results {
            let (state, reference, reason, retry) = settlement_row(settlement);
            let Some(r) = s.rows.get_mut(&c.id) else {
                continue;
            };
            // Fenced: only this attempt's rows, sending (or made unknown
            // by a recovery while the answer was late).
            if r.attempt != c.attempt
                || !matches!(r.state, RecipientState::Sending | RecipientState::Unknown)
            {
                continue;
            }
            r.state = state;
            if reference.is_some() {
                r.gateway_ref = reference.map(str::to_owned);
            }
            r.reason = reason.map(str::to_owned);
            r.lease_until = None;
            r.resend = false;
            if retry {
                r.retries += 1;
            }
            if matches!(state, RecipientState::Accepted | RecipientState::Unknown) {
                let (row, client, gref) = (r.id, c.client_reference.clone(), r.gateway_ref.clone());
                s.apply_kept(|k, st| {
                    let by_client = k.client_ref.as_deref() == Some(client.as_str());
                    let by_ref = k.client_ref.is_none()
                        && gref.as_deref() == Some(k.gateway_ref.as_str())
                        && st
                            .rows
                            .get(&row)
                            .and_then(|r| st.gateway_of(r))
                            .is_none_or(|g| g == k.provider);
                    (by_client || by_ref).then_some(row)
                });
            }
        }
        Ok(())
    }

    async fn recover(
        &self,
        id: MailingId,
        resend_within: Option<Duration>,
    ) -> Result<Recovered, StoreError> {
        let mut s = self.state();
        let now = Instant::now();
        let horizon = resend_horizon(resend_within);
        let expired = |r: &Row| r.lease_until.is_some_and(|t| t < now);
        let mut out = Recovered::default();
        for r in s.rows.values_mut().filter(|r| r.mailing == id) {
            match r.state {
                RecipientState::Claimed if expired(r) => {
                    r.state = RecipientState::Pending;
                    r.lease_until = None;
                    out.reclaimed += 1;
                }
                RecipientState::Sending if expired(r) => {
                    let recent = horizon.is_some_and(|h| {
                        r.lease_until
                            .is_some_and(|t| now.saturating_duration_since(t) <= h)
                    });
                    if recent {
                        r.state = RecipientState::Pending;
                        r.resend = true;
                        r.reason = Some("sent before a crash; resent with the same client reference (the gateway refuses duplicates)".into());
                        out.resend += 1;
                    } else {
                        r.state = RecipientState::Unknown;
                        r.lease_until = None;
                        r.reason = Some(
                            "the sender stopped while the request was out; the gateway may have it"
                                .into(),
                        );
                        out.unknown += 1;
                    }
                }
                RecipientState::Pending
                    if r.resend
                        && r.lease_until.is_some_and(|t| {
                            horizon.is_none_or(|h| now.saturating_duration_since(t) > h)
                        }) =>
                {
                    r.state = RecipientState::Unknown;
                    r.lease_until = None;
                    r.resend = false;
                    r.reason = Some("queued for a resend past the gateway's duplicate window; the gateway may have it".into());
                    out.unknown += 1;
                }
                _ => {}
            }
        }
        // Kept reports for rows now unknown or queued for a resend (they
        // prove what became of them), and those without a client
        // reference for a gateway reference a row has settled with.
        s.apply_kept(|k, st| {
            if let (Some(m), Some(row)) = (k.mailing, k.recipient)
                && m == id
                && st.rows.get(&row).is_some_and(|r| {
                    r.state == RecipientState::Unknown
                        || (r.state == RecipientState::Pending && r.resend)
                })
            {
                return Some(row);
            }
            if k.client_ref.is_none() {
                return st
                    .rows
                    .values()
                    .filter(|r| {
                        r.mailing == id
                            && r.gateway_ref.as_deref() == Some(k.gateway_ref.as_str())
                            && matches!(r.state, RecipientState::Accepted | RecipientState::Unknown)
                            && st.gateway_of(r).is_none_or(|g| g == k.provider)
                    })
                    .map(|r| r.id)
                    .max();
            }
            None
        });
        let keep = self.keep_reports_for.unwrap_or(KEEP_REPORTS_FOR);
        let final_rows: HashSet<i64> = s
            .rows
            .values()
            .filter(|r| {
                r.mailing == id
                    && matches!(r.state, RecipientState::Cancelled | RecipientState::Blocked)
            })
            .map(|r| r.id)
            .collect();
        s.kept.retain(|k| {
            now.saturating_duration_since(k.received) < keep
                && !(k.mailing == Some(id) && k.recipient.is_some_and(|r| final_rows.contains(&r)))
        });
        Ok(out)
    }

    async fn stats(&self, id: MailingId) -> Result<Stats, StoreError> {
        let s = self.state();
        let m = s.mailings.get(&id).ok_or_else(|| no_mailing(id))?;
        let mut per: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
        for r in s.rows.values().filter(|r| r.mailing == id) {
            let e = per.entry(r.state.as_str()).or_default();
            e.0 += 1;
            e.1 += i64::from(r.parts);
        }
        let unmatched = s.kept.iter().filter(|k| k.mailing == Some(id)).count() as i64;
        super::rows::stats_from(
            m.status.as_str(),
            per.into_iter().map(|(st, (n, p))| (st.to_owned(), n, p)),
            unmatched,
        )
    }

    async fn rows(
        &self,
        id: MailingId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RecipientRow>, StoreError> {
        let s = self.state();
        Ok(s.rows
            .range(after + 1..)
            .map(|(_, r)| r)
            .filter(|r| r.mailing == id)
            .take(limit)
            .map(row_of)
            .collect())
    }

    async fn note_gateway(&self, id: MailingId, gateway: &str) -> Result<(), StoreError> {
        if let Some(m) = self.state().mailings.get_mut(&id) {
            m.gateway = Some(gateway.to_owned());
        }
        Ok(())
    }

    async fn apply_report(&self, receipt: &DeliveryReceipt) -> Result<ReportMatch, StoreError> {
        let target = ReportTarget::of(receipt);
        let at = delivery_time(receipt);
        let state = receipt_state(receipt.state);
        let mut s = self.state();
        let row = match target {
            ReportTarget::Row { mailing, id } => s
                .rows
                .get(&id)
                .filter(|r| r.mailing == mailing)
                .map(|r| (r.id, r.state)),
            ReportTarget::GatewayRef {
                reference,
                provider,
            } => s
                .rows
                .values()
                .filter(|r| {
                    r.gateway_ref.as_deref() == Some(reference)
                        && matches!(r.state, RecipientState::Accepted | RecipientState::Unknown)
                        && s.gateway_of(r).is_none_or(|g| g == provider)
                })
                .map(|r| (r.id, r.state))
                .max_by_key(|(id, _)| *id),
            ReportTarget::Foreign => None,
        };
        let settled = row.filter(|(_, st)| {
            matches!(
                st,
                RecipientState::Accepted
                    | RecipientState::Unknown
                    | RecipientState::Delivered
                    | RecipientState::Failed
            )
        });
        if let Some((id, _)) = settled {
            s.apply(
                id,
                state,
                &receipt.status_code,
                receipt.description.as_deref(),
                &at,
            );
            let matched = s.rows.get(&id).map(|r| MatchedRow {
                mailing: r.mailing,
                row: r.id,
                sent_at: r.sent_at,
            });
            if let Some(m) = matched {
                return Ok(ReportMatch::Applied(m));
            }
        }
        let (mailing, recipient) = target.row();
        s.next_kept += 1;
        let kid = s.next_kept;
        s.kept.push(Kept {
            id: kid,
            client_ref: super::rows::report_client_ref(receipt).map(str::to_owned),
            gateway_ref: receipt.reference.clone(),
            state,
            code: receipt.status_code.clone(),
            description: receipt.description.clone(),
            done_at: at,
            received: Instant::now(),
            mailing,
            recipient,
            provider: receipt.provider.to_owned(),
        });
        Ok(ReportMatch::Parked)
    }

    async fn sends_since(
        &self,
        asking: &[i64],
        since: jiff::Timestamp,
    ) -> Result<HashMap<String, u64>, StoreError> {
        let s = self.state();
        let mine: HashSet<i64> = asking.iter().copied().collect();
        // One pass over the rows for the asking numbers (not one per
        // asking row), then each asking row's count from its number's.
        let wanted: HashSet<&str> = asking
            .iter()
            .filter_map(|id| s.rows.get(id))
            .map(|a| a.number.as_str())
            .collect();
        let mut by_number: HashMap<&str, Vec<&Row>> = HashMap::new();
        for r in s.rows.values() {
            if wanted.contains(r.number.as_str())
                && !mine.contains(&r.id)
                && r.sent_at.is_some_and(|t| t >= since)
            {
                by_number.entry(r.number.as_str()).or_default().push(r);
            }
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        for a in asking.iter().filter_map(|id| s.rows.get(id)) {
            let n = by_number.get(a.number.as_str()).map_or(0, |rows| {
                rows.iter()
                    .filter(|r| match r.state {
                        RecipientState::Sending => (r.sent_at, r.id) < (a.sent_at, a.id),
                        other => other.counts_as_sent(),
                    })
                    .count()
            }) as u64;
            let c = counts.entry(a.number.clone()).or_insert(0);
            *c = (*c).max(n);
        }
        counts.retain(|_, n| *n > 0);
        Ok(counts)
    }

    async fn opt_out(&self, number: &str, source: &str) -> Result<(), StoreError> {
        self.record_consent(&ConsentEntry::now(
            number,
            ConsentAction::OptOut,
            source,
            None,
        ))
        .await
        .map(|_| ())
    }

    async fn opted_out_among(&self, numbers: &[&str]) -> Result<HashSet<String>, StoreError> {
        let key = self.key()?;
        let s = self.state();
        Ok(numbers
            .iter()
            .filter(|n| {
                s.opt_out.contains_key(**n) || s.suppression.contains(&suppression_hash(&key, n))
            })
            .map(|n| (*n).to_owned())
            .collect())
    }

    async fn opted_out(&self) -> Result<HashSet<String>, StoreError> {
        Ok(self.state().opt_out.keys().cloned().collect())
    }
}

impl MemoryOutbox {
    /// The store's key for [`suppression_hash`], made on first use.
    fn key(&self) -> Result<Vec<u8>, StoreError> {
        let mut s = self.state();
        if s.key.is_none() {
            s.key = Some(crate::mailing::key_from_hex(
                &crate::mailing::privacy_key()?
            )?);
        }
        Ok(s.key.clone().unwrap_or_default())
    }
}

#[async_trait]
impl Privacy for MemoryOutbox {
    async fn record_consent(&self, e: &ConsentEntry) -> Result<bool, StoreError> {
        let key = self.key()?;
        let mut s = self.state();
        let changed = match e.action {
            ConsentAction::OptIn => {
                let listed = s.opt_out.remove(&e.number).is_some();
                let suppressed = s.suppression.remove(&suppression_hash(&key, &e.number));
                listed || suppressed
            }
            _ => {
                if s.opt_out.contains_key(&e.number) {
                    false
                } else {
                    s.opt_out.insert(e.number.clone(), e.via.clone());
                    true
                }
            }
        };
        s.consent.push(e.clone());
        Ok(changed)
    }

    async fn consent_log(
        &self,
        number: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ConsentEntry>, StoreError> {
        Ok(self
            .state()
            .consent
            .iter()
            .rev()
            .filter(|e| number.is_none_or(|n| e.number == n))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn erase(&self, number: &str) -> Result<Erased, StoreError> {
        let key = self.key()?;
        let mut s = self.state();
        let ids: HashSet<i64> = s
            .rows
            .values()
            .filter(|r| r.number == number)
            .map(|r| r.id)
            .collect();
        s.rows.retain(|id, _| !ids.contains(id));
        let kept_before = s.kept.len();
        s.kept
            .retain(|k| !k.recipient.is_some_and(|r| ids.contains(&r)));
        let consent_before = s.consent.len();
        s.consent.retain(|e| e.number != number);
        let suppressed = s.opt_out.remove(number).is_some();
        if suppressed {
            s.suppression.insert(suppression_hash(&key, number));
        }
        Ok(Erased {
            recipients: ids.len() as u64,
            kept_reports: (kept_before - s.kept.len()) as u64,
            sent_records: 0,
            consent_entries: (consent_before - s.consent.len()) as u64,
            suppressed,
        })
    }

    async fn access(&self, number: &str) -> Result<NumberRecord, StoreError> {
        let key = self.key()?;
        let s = self.state();
        let recipients = s
            .rows
            .values()
            .filter(|r| r.number == number)
            .map(|r| {
                let name = s
                    .mailings
                    .get(&r.mailing)
                    .map(|m| m.spec.name.clone())
                    .unwrap_or_default();
                (r.mailing, name, row_of(r))
            })
            .collect();
        Ok(NumberRecord {
            number: number.to_owned(),
            recipients,
            opted_out: s.opt_out.contains_key(number),
            suppressed: s.suppression.contains(&suppression_hash(&key, number)),
            consent: s
                .consent
                .iter()
                .rev()
                .filter(|e| e.number == number)
                .cloned()
                .collect(),
            sent_records: 0,
        })
    }

    async fn purge_finished(
        &self,
        older_than: Duration,
        _batch: usize,
    ) -> Result<Purged, StoreError> {
        let mut s = self.state();
        let old: Vec<MailingId> = s
            .mailings
            .iter()
            .filter(|(id, m)| {
                m.created.elapsed() >= older_than
                    && s.rows
                        .values()
                        .all(|r| r.mailing != **id || r.state.is_final())
            })
            .map(|(id, _)| *id)
            .collect();
        let mut out = Purged::default();
        for id in old {
            let before = s.rows.len();
            s.rows.retain(|_, r| r.mailing != id);
            out.recipients += (before - s.rows.len()) as u64;
            s.kept.retain(|k| k.mailing != Some(id));
            s.mailings.remove(&id);
            out.mailings += 1;
        }
        Ok(out)
    }
}

#[async_trait]
impl MailingAdmin for MemoryOutbox {
    async fn list_mailings(&self, limit: usize) -> Result<Vec<MailingListing>, StoreError> {
        let s = self.state();
        let now = jiff::Timestamp::now();
        Ok(s.mailings
            .iter()
            .rev()
            .take(limit)
            .map(|(id, m)| MailingListing {
                id: *id,
                name: m.spec.name.clone(),
                status: m.status,
                created_at: jiff::SignedDuration::try_from(m.created.elapsed())
                    .ok()
                    .and_then(|d| now.checked_sub(d).ok())
                    .unwrap_or(now),
                send_at: m.spec.send_at,
                expires_at: m.spec.expires_at,
            })
            .collect())
    }

    async fn recipient(&self, id: MailingId, row: i64) -> Result<Option<RecipientRow>, StoreError> {
        Ok(self
            .state()
            .rows
            .get(&row)
            .filter(|r| r.mailing == id)
            .map(row_of))
    }

    async fn cancel_recipient(
        &self,
        id: MailingId,
        row: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        match s.rows.get_mut(&row) {
            Some(r)
                if r.mailing == id
                    && matches!(r.state, RecipientState::Pending | RecipientState::Held) =>
            {
                r.state = RecipientState::Cancelled;
                r.reason = Some(reason.to_owned());
                r.not_before = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reschedule(
        &self,
        id: MailingId,
        send_at: Option<jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        if !s.mailings.contains_key(&id) {
            return Err(no_mailing(id));
        }
        if s.rows.values().any(|r| r.mailing == id && r.attempt > 0) {
            return Err(crate::mailing::admin_started(id));
        }
        if let Some(m) = s.mailings.get_mut(&id) {
            m.spec.send_at = send_at;
        }
        Ok(())
    }
}
