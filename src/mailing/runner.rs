//! Sending a mailing: claim a batch, write it down as *sending*, send it
//! (paced), settle every recipient from the gateway's answer — until none
//! is left.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;

use super::RunError;
use super::model::{DEFAULT_LEASE, MailingId, MailingSpec, MailingStatus, Stats};
use super::outbox::{Claimed, Outbox, Settlement};
use super::settle::{BatchResult, settlement_of};
use crate::phone::PhoneNumber;
use crate::sms::{Message, Outcome, SmsError, SmsErrorKind, SmsProvider};

/// How fast a mailing may send: messages or parts (what gateways throttle)
/// per second, with a burst of one second's worth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pace {
    /// Messages per second.
    Messages(NonZeroU32),
    /// SMS parts per second.
    Parts(NonZeroU32),
}

/// How a [`MailingRunner::run`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEnd {
    /// Every recipient is in a final state.
    Finished,
    /// The mailing was paused.
    Paused,
    /// The mailing was cancelled.
    Cancelled,
    /// Its send time or window has not come; it may send from then on.
    NotYet(Timestamp),
    /// Asked to stop ([`MailingRunner::run_until`], a signal): nothing was
    /// claimed after that, and everything in flight was sent and settled.
    Stopped,
}

/// What a run did, counted as it went (cheap: no query per batch).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Recipients the gateway took in this run.
    pub accepted: u64,
    /// Their parts.
    pub parts: u64,
    /// Recipients that failed in this run.
    pub failed: u64,
    /// Recipients whose outcome is unknown.
    pub unknown: u64,
    /// Recipients put back for a passing failure (429, unreachable).
    pub retried: u64,
    /// Recipients not sent because their number opted out during the
    /// mailing.
    pub blocked: u64,
}

type ProgressHook = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Sends mailings from an [`Outbox`] through an [`SmsProvider`], one
/// worker; run several (in processes or tasks) on a shared store and they
/// share the work.
///
/// What it guarantees, with the outbox's state machine: a recipient is
/// written down as *sending* before its request goes out, so after a crash
/// it becomes *unknown* and is never sent twice — unless the provider
/// refuses duplicates ([`Capabilities::rejects_duplicates`](crate::sms::Capabilities::rejects_duplicates)),
/// when it is resent with the same client reference and the gateway's
/// refusal of a duplicate counts as accepted.
///
/// On a bad day at the gateway:
/// - a rate limit (429: certainly not sent) puts the recipients back
///   without counting it against them, and the runner waits at least the
///   gateway's `Retry-After`, doubling its wait while it goes on;
/// - the gateway unreachable (certainly not sent) puts them back, up to
///   [`max_retries`](Self::max_retries) times each;
/// - an answer that leaves the outcome unknown (HTTP 5xx, a reset, a
///   timeout after the request was written) makes those recipients unknown
///   — and the runner **stops claiming**: it backs off (0.5 s doubling to
///   60 s), then probes with one recipient at a time, one claim in flight,
///   until an answer comes back clean. A failing gateway costs at most
///   the claims in flight and the probes; the rest stay pending.
pub struct MailingRunner {
    outbox: Arc<dyn Outbox>,
    provider: Arc<dyn SmsProvider>,
    worker: String,
    lease: Duration,
    batch: usize,
    in_flight: usize,
    pace: Option<Pace>,
    max_retries: u32,
    wait: bool,
    progress: Option<ProgressHook>,
    last_recover: std::sync::Mutex<Option<std::time::Instant>>,
    shared_pace: Option<String>,
    backoff: (Duration, Duration),
}

impl std::fmt::Debug for MailingRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailingRunner")
            .field("outbox", &self.outbox)
            .field("provider", &self.provider)
            .field("worker", &self.worker)
            .field("lease", &self.lease)
            .field("batch", &self.batch)
            .field("in_flight", &self.in_flight)
            .field("pace", &self.pace)
            .finish_non_exhaustive()
    }
}

impl MailingRunner {
    /// A runner of `outbox`'s mailings through `provider`: claims of four
    /// times the provider's `max_batch` (each sent as the provider's
    /// requests), three claims in flight at once, no pace, a 30 s lease
    /// with a heartbeat, 5 retries of passing failures, waiting for send
    /// times and windows. After a crash, at most the three claims in
    /// flight are unknown (none where the gateway refuses duplicates).
    #[must_use]
    pub fn new(outbox: Arc<dyn Outbox>, provider: Arc<dyn SmsProvider>) -> Self {
        let batch = provider.capabilities().max_batch.max(1).saturating_mul(4);
        MailingRunner {
            outbox,
            provider,
            worker: format!(
                "{}-{}",
                std::process::id(),
                Timestamp::now().as_millisecond()
            ),
            lease: DEFAULT_LEASE,
            batch,
            in_flight: IN_FLIGHT,
            pace: None,
            max_retries: 5,
            wait: true,
            progress: None,
            last_recover: std::sync::Mutex::new(None),
            shared_pace: None,
            backoff: (Duration::from_millis(500), Duration::from_secs(60)),
        }
    }

    /// Paces sending.
    #[must_use]
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    /// Shares the [`pace`](Self::pace) with every worker on the same store
    /// under `key` (one gateway account: one key), where the store can
    /// ([`Outbox::take_rate`]: PostgreSQL); a 429 or 5xx answer then holds
    /// back all of them. Elsewhere the pace stays in this process.
    #[must_use]
    pub fn shared_pace(mut self, key: impl Into<String>) -> Self {
        self.shared_pace = Some(key.into());
        self
    }

    /// Recipients claimed at a time (default: four of the provider's
    /// batches).
    #[must_use]
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// Claims in flight at once (default 3): while some wait for the
    /// gateway, the next is claimed and written down. After a crash, what
    /// was in flight — at most `n` claims of [`batch`](Self::batch)
    /// recipients — is unknown (unless the gateway refuses duplicates):
    /// fewer means fewer unknowns and less throughput.
    #[must_use]
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// How long a claim lasts without a heartbeat (default 30 s; the
    /// heartbeat renews it every third of that). After a crash, recipients
    /// in flight are recovered once it expires.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// The shortest and longest wait after a failing answer (default 0.5 s
    /// and 60 s; the wait doubles while the gateway keeps failing, and is
    /// never shorter than its `Retry-After`).
    #[must_use]
    pub fn backoff(mut self, shortest: Duration, longest: Duration) -> Self {
        self.backoff = (shortest, longest.max(shortest));
        self
    }

    /// How often a passing failure is retried before the recipient fails
    /// (default 5).
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Whether to wait for a send time or window (default) or return
    /// [`RunEnd::NotYet`].
    #[must_use]
    pub fn wait_for_window(mut self, yes: bool) -> Self {
        self.wait = yes;
        self
    }

    /// Called after each batch with what the run did so far.
    #[must_use]
    pub fn on_progress(mut self, hook: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(hook));
        self
    }

    /// The worker name claims are made under.
    #[must_use]
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Sends mailing `id` until every recipient is final, or it is paused,
    /// cancelled or not yet due.
    ///
    /// # Errors
    ///
    /// A store error (recipients in flight are recovered by the next run
    /// once their lease expires), or the gateway refusing the credentials
    /// (the batch is put back, not failed).
    pub async fn run(&self, id: MailingId) -> Result<(RunEnd, Progress), RunError> {
        self.run_until(id, std::future::pending()).await
    }

    /// [`run`](Self::run) until `stop` completes (Ctrl-C, SIGTERM): then
    /// nothing more is claimed, what is in flight is sent and settled, and
    /// the run ends with [`RunEnd::Stopped`] — a stop, not a crash: no
    /// recipient is left unknown by it.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_until(
        &self,
        id: MailingId,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(RunEnd, Progress), RunError> {
        let stopping = Arc::new(Stopping::default());
        let watcher = {
            let stopping = stopping.clone();
            tokio::spawn(async move {
                stop.await;
                stopping.set();
            })
        };
        let result = self.run_inner(id, &stopping).await;
        watcher.abort();
        result
    }

    async fn run_inner(
        &self,
        id: MailingId,
        stopping: &Stopping,
    ) -> Result<(RunEnd, Progress), RunError> {
        let caps = self.provider.capabilities();
        // Resent after a crash only inside the gateway's duplicate window.
        let resend = caps.rejects_duplicates;
        let (spec, _) = self.outbox.mailing(id).await?;
        // Reports without a client reference are matched among this
        // gateway's mailings only.
        self.outbox.note_gateway(id, self.provider.name()).await?;
        let sender = BatchSend {
            outbox: self.outbox.clone(),
            provider: self.provider.clone(),
            spec: Arc::new(spec),
            lease: self.lease,
            max_retries: self.max_retries,
        };
        let spec = &sender.spec;
        let limiter = self.pace.map(|p| {
            let n = match p {
                Pace::Messages(n) | Pace::Parts(n) => n,
            };
            // A burst of one second, and never less than one message's
            // most parts.
            let burst = n.max(NonZeroU32::new(caps.limits.max_parts.max(1) as u32).unwrap_or(n));
            RateLimiter::direct(Quota::per_second(n).allow_burst(burst))
        });
        let mut progress = Progress::default();
        let mut backoff = Duration::ZERO;
        // Batches in flight, each a task of its own: while one waits for
        // the gateway, the next is claimed and written down (the store and
        // the network overlap; store writes stay in this loop, one at a
        // time). Dropping the run aborts them, as it would any future.
        let mut in_flight = tokio::task::JoinSet::new();
        let mut stop: Option<Result<RunEnd, RunError>> = None;
        // After an unknown answer: one recipient at a time, one claim in
        // flight, until an answer comes back clean.
        let mut probing = false;
        let mut said_waiting = false;
        let claim_size = self.claim_size();
        loop {
            if stopping.is_set() && stop.is_none() {
                tracing::warn!(
                    mailing = id,
                    "stopping: nothing more is claimed; settling what is in flight"
                );
                stop = Some(Ok(RunEnd::Stopped));
            }
            let (size, most) = if probing {
                (1, 1)
            } else {
                (claim_size, self.in_flight)
            };
            while stop.is_none() && !stopping.is_set() && in_flight.len() < most {
                match self
                    .next_batch(id, spec, resend, limiter.as_ref(), size, stopping)
                    .await
                {
                    Ok(Next::Batch(rows)) => {
                        in_flight.spawn(sender.clone().send(rows));
                    }
                    Ok(Next::Nothing) => break,
                    Ok(Next::End(end)) => stop = Some(Ok(end)),
                    // The store is away (a database restart, a lost
                    // connection): wait and claim again.
                    Err(RunError::Store(e)) if e.is_unavailable() => {
                        tracing::warn!(error = %e, "the store is unavailable; trying again");
                        stopping.sleep(Duration::from_millis(500)).await;
                        break;
                    }
                    Err(e) => stop = Some(Err(e)),
                }
            }
            let Some(done) = in_flight.join_next().await else {
                match stop.take() {
                    Some(Ok(end)) => return Ok((end, progress)),
                    Some(Err(e)) => return Err(e),
                    None => {}
                }
                match self.outbox.is_finished(id).await {
                    Ok(true) => return Ok((RunEnd::Finished, progress)),
                    Err(e) if !e.is_unavailable() => return Err(e.into()),
                    _ => {}
                }
                if stopping.is_set() {
                    return Ok((RunEnd::Stopped, progress));
                }
                // Others are in flight (another worker, or a dead one's
                // lease not yet expired).
                if !said_waiting {
                    said_waiting = true;
                    tracing::info!(
                        mailing = id,
                        lease = ?self.lease,
                        "waiting: the mailing's other recipients are claimed by another worker, or by one that stopped (recovered when its lease runs out)"
                    );
                }
                stopping
                    .sleep((self.lease / 4).min(Duration::from_millis(500)))
                    .await;
                continue;
            };
            let BatchResult {
                settlements,
                auth: auth_failed,
                passing,
                rate_limited,
                retry_after,
                unsure,
            } = match done {
                Ok(done) => done,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down; its rows
                // are recovered by the next run.
                Err(_) => continue,
            };
            for (_, s) in &settlements {
                match s {
                    Settlement::Accepted { .. } => progress.accepted += 1,
                    Settlement::Failed { .. } => progress.failed += 1,
                    Settlement::Unknown { .. } => progress.unknown += 1,
                    Settlement::Retry { .. } => progress.retried += 1,
                    Settlement::Blocked { .. } => progress.blocked += 1,
                }
            }
            progress.parts += settlements
                .iter()
                .filter(|(_, s)| matches!(s, Settlement::Accepted { .. }))
                .map(|(c, _)| u64::from(c.parts))
                .sum::<u64>();
            // The answers are only in memory: a store that is away for a
            // while (a database restart) is waited for. In the steady state
            // (nothing to wait for before the next claim) the next batch is
            // claimed in the same write.
            let chain = stop.is_none()
                && !stopping.is_set()
                && auth_failed.is_none()
                && !passing
                && !rate_limited
                && !unsure
                && !probing
                && limiter.is_none()
                && in_flight.len() < self.in_flight
                && !self.recover_due()
                && spec.next_opening(Timestamp::now()).is_none();
            let settled = if chain {
                match retry_unavailable(|| {
                    self.outbox.settle_and_claim(
                        &settlements,
                        id,
                        &self.worker,
                        claim_size,
                        self.lease,
                    )
                })
                .await
                {
                    Ok(rows) if rows.is_empty() => {
                        match self.nothing_claimed(id).await {
                            Ok(Next::End(end)) => {
                                stop.get_or_insert(Ok(end));
                            }
                            Err(e) => {
                                stop.get_or_insert(Err(e));
                            }
                            Ok(_) => {}
                        }
                        Ok(())
                    }
                    Ok(rows) => {
                        in_flight.spawn(sender.clone().send(rows));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                retry_unavailable(|| self.outbox.settle(&settlements)).await
            };
            if let Err(e) = settled {
                // What is in flight finishes; its rows are recovered by
                // the next run (unknown, never resent blindly).
                stop.get_or_insert(Err(e.into()));
                continue;
            }
            if let Some(hook) = &self.progress {
                hook(&progress);
            }
            if let Some(e) = auth_failed {
                stop.get_or_insert(Err(e.into()));
                continue;
            }
            if passing || rate_limited || unsure {
                backoff = (backoff * 2).clamp(self.backoff.0, self.backoff.1);
                // At least what the gateway asked for.
                let wait = backoff.max(retry_after.unwrap_or_default());
                // A rate limit says "not now"; unreachable or unknown says
                // "maybe not well": probe before sending in bulk again.
                probing = passing || unsure;
                tracing::warn!(
                    mailing = id,
                    ?wait,
                    rate_limited,
                    unknown = unsure,
                    "the gateway is throttling or failing; backing off{}",
                    if probing {
                        ", then probing with one recipient"
                    } else {
                        ""
                    }
                );
                if let Some(key) = &self.shared_pace {
                    // Every worker on the account holds back.
                    if let Err(e) = self.outbox.push_rate(key, wait).await {
                        tracing::warn!(error = %e, "could not push the shared rate limit back");
                    }
                }
                stopping.sleep(wait).await;
            } else {
                if probing {
                    tracing::warn!(mailing = id, "the gateway answers again; sending in full");
                }
                backoff = Duration::ZERO;
                probing = false;
            }
        }
    }

    /// Recipients claimed at a time: [`batch`](Self::batch), and when paced
    /// no more than one second of the pace (so no second carries more than
    /// the pace and its one-second burst, and progress starts at once), and
    /// never more than the pace allows in a quarter of the lease (a live
    /// worker's rows are never recovered from under it while they wait
    /// for their turn).
    fn claim_size(&self) -> usize {
        let Some(pace) = self.pace else {
            return self.batch;
        };
        let per_second = match pace {
            Pace::Messages(n) => n.get() as usize,
            // A recipient takes at least one part: at most a second of
            // parts, counted as at most this many recipients.
            Pace::Parts(n) => {
                (n.get() as usize / self.provider.capabilities().limits.max_parts.max(1)).max(1)
            }
        };
        let in_lease = ((per_second as f64) * (self.lease.as_secs_f64() / 4.0)).floor() as usize;
        self.batch.min(per_second).min(in_lease.max(1)).max(1)
    }

    /// The next batch, written down as *sending*, or why there is none:
    /// nothing to claim now, the run ends (paused, cancelled, not yet due),
    /// or a store error.
    async fn next_batch(
        &self,
        id: MailingId,
        spec: &MailingSpec,
        resend: Option<Duration>,
        limiter: Option<&DefaultDirectRateLimiter>,
        size: usize,
        stopping: &Stopping,
    ) -> Result<Next, RunError> {
        // Expired leases are looked for a few times a lease, not per batch.
        let due = self.recover_due();
        if due {
            *self
                .last_recover
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(std::time::Instant::now());
        }
        if due {
            self.outbox.recover(id, resend).await?;
        }
        if let Some(open) = spec.next_opening(Timestamp::now()) {
            // A paused or cancelled mailing says so before its window.
            if let end @ Next::End(_) = self.nothing_claimed(id).await? {
                return Ok(end);
            }
            if !self.wait {
                return Ok(Next::End(RunEnd::NotYet(open)));
            }
            let wait = Timestamp::now().duration_until(open).unsigned_abs();
            tracing::info!(mailing = id, %open, "waiting for the send time or window");
            stopping.sleep(wait.min(Duration::from_secs(60))).await;
            return Ok(Next::Nothing);
        }
        let shared = match (&self.shared_pace, self.pace) {
            (Some(key), Some(pace)) => Some((key, pace)),
            _ => None,
        };
        // Paced across workers or by parts: claimed first (the parts are
        // known then), and written down as sending only once the pace
        // allows them; a crash meanwhile puts them back, unsent.
        if shared.is_some() || matches!((limiter, self.pace), (Some(_), Some(Pace::Parts(_)))) {
            let claimed = self
                .outbox
                .claim(id, &self.worker, size, self.lease)
                .await?;
            if claimed.is_empty() {
                return self.nothing_claimed(id).await;
            }
            let taken_shared = match shared {
                Some((key, pace)) => self.take_shared(key, pace, &claimed).await?,
                None => false,
            };
            // Without a shared limit in the store, the batch is paced here.
            if let (false, Some(l)) = (taken_shared, limiter) {
                self.take_pace(l, &claimed).await;
            }
            let sending = self.outbox.mark_sending(&claimed, self.lease).await?;
            return Ok(Next::Batch(sending));
        }
        // Unpaced or paced by messages: the permits first, then one
        // statement claims the batch straight into sending.
        if let Some(l) = limiter {
            let n =
                NonZeroU32::new(u32::try_from(size).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
            tokio::select! {
                r = l.until_n_ready(n) => {
                    // More than the burst (cannot happen: claims are at
                    // most a second of the pace): one at a time.
                    if r.is_err() {
                        for _ in 0..size {
                            l.until_ready().await;
                        }
                    }
                }
                () = stopping.wait() => return Ok(Next::Nothing),
            }
        }
        if stopping.is_set() {
            return Ok(Next::Nothing);
        }
        let sending = self
            .outbox
            .claim_sending(id, &self.worker, size, self.lease)
            .await?;
        if sending.is_empty() {
            return self.nothing_claimed(id).await;
        }
        Ok(Next::Batch(sending))
    }

    /// Whether expired leases are due to be looked for (a few times a
    /// lease, not per batch).
    fn recover_due(&self) -> bool {
        self.last_recover
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|t| t.elapsed() >= (self.lease / 4).min(Duration::from_secs(1)))
    }

    /// Why a claim came back empty: the mailing was paused or cancelled
    /// (claims take only from active mailings, so a pause stops them at
    /// once), or nothing is pending now.
    async fn nothing_claimed(&self, id: MailingId) -> Result<Next, RunError> {
        let (_, status) = self.outbox.mailing(id).await?;
        Ok(match status {
            MailingStatus::Paused => Next::End(RunEnd::Paused),
            MailingStatus::Cancelled => Next::End(RunEnd::Cancelled),
            _ => Next::Nothing,
        })
    }

    /// Takes the batch's messages or parts from the shared limit `key`,
    /// waiting (and renewing the claim) as long as it says; `false` when
    /// the store has none.
    async fn take_shared(
        &self,
        key: &str,
        pace: Pace,
        claimed: &[Claimed],
    ) -> Result<bool, crate::store_error::StoreError> {
        let (rate, mut cost) = match pace {
            Pace::Messages(n) => (n, claimed.len() as u64),
            Pace::Parts(n) => (
                n,
                claimed
                    .iter()
                    .map(|c| u64::from(c.parts.max(1)))
                    .sum::<u64>(),
            ),
        };
        // A burst of one second's worth; a batch above it is taken in
        // pieces.
        let burst = rate.get();
        let mut renewed = std::time::Instant::now();
        while cost > 0 {
            let piece = cost.min(u64::from(burst)) as u32;
            match self.outbox.take_rate(key, piece, rate, burst).await? {
                super::outbox::RateTake::Unsupported => return Ok(false),
                super::outbox::RateTake::Taken => cost -= u64::from(piece),
                super::outbox::RateTake::Wait(d) => {
                    tokio::time::sleep(d.min(Duration::from_secs(5))).await;
                    if renewed.elapsed() >= self.lease / 3 {
                        self.outbox.extend(claimed, self.lease).await?;
                        renewed = std::time::Instant::now();
                    }
                }
            }
        }
        Ok(true)
    }

    /// Waits until the pace allows `claimed`.
    async fn take_pace(&self, limiter: &DefaultDirectRateLimiter, claimed: &[Claimed]) {
        for c in claimed {
            let cost = match self.pace {
                Some(Pace::Parts(_)) => c.parts.max(1),
                _ => 1,
            };
            let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
            // A cost above the burst cannot happen (the burst covers a
            // message's parts); if it did, it is sent unpaced.
            let _ = limiter.until_n_ready(cost).await;
        }
    }
}

/// What sending one batch needs, owned: each batch in flight is a task.
#[derive(Clone)]
struct BatchSend {
    outbox: Arc<dyn Outbox>,
    provider: Arc<dyn SmsProvider>,
    spec: Arc<MailingSpec>,
    lease: Duration,
    max_retries: u32,
}

impl BatchSend {
    /// Sends the rows (renewing their leases meanwhile) and reads each
    /// one's settlement, and what the answers say about the gateway.
    async fn send(self, rows: Vec<Claimed>) -> BatchResult {
        let spec = &*self.spec;
        let mut result = BatchResult::default();
        let mut messages = Vec::with_capacity(rows.len());
        let mut sent_rows = Vec::with_capacity(rows.len());
        // A STOPP may have come in since the mailing was made: the list is
        // read when the recipients' turn comes. Unreadable, nobody is sent
        // (they are put back).
        let numbers: Vec<&str> = rows.iter().map(|c| c.number.as_str()).collect();
        let opted_out = match self.outbox.opted_out_among(&numbers).await {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "the opt-out list could not be read; the batch waits");
                result.passing = true;
                result.settlements = rows
                    .into_iter()
                    .map(|c| {
                        (
                            c,
                            Settlement::Retry {
                                reason: format!("the opt-out list could not be read: {e}"),
                            },
                        )
                    })
                    .collect();
                return result;
            }
        };
        for c in rows {
            if opted_out.contains(&c.number) {
                result.settlements.push((
                    c,
                    Settlement::Blocked {
                        reason: "opted out during the mailing".into(),
                    },
                ));
                continue;
            }
            match message_for(spec, &c) {
                Ok(m) => {
                    messages.push(m);
                    sent_rows.push(c);
                }
                Err(e) => result.settlements.push((
                    c,
                    Settlement::Failed {
                        reason: e.to_string(),
                    },
                )),
            }
        }
        if messages.is_empty() {
            return result;
        }
        let send = self.provider.send_each(&messages);
        tokio::pin!(send);
        let mut beat = tokio::time::interval(self.lease / 3);
        beat.tick().await;
        let reports = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = beat.tick() => {
                    if let Err(e) = self.outbox.extend(&sent_rows, self.lease).await {
                        tracing::warn!(error = %e, "could not renew the lease of recipients in flight");
                    }
                }
            }
        };
        // An unknown answer is resent at once (well inside the window).
        let resend_safe = self.provider.capabilities().rejects_duplicates.is_some();
        let mut reports = reports.into_iter();
        for c in sent_rows {
            let outcome = reports
                .next()
                .and_then(|r| r.into_outcomes().into_iter().next())
                .map_or_else(
                    || {
                        Outcome::Unknown(SmsError::new(
                            SmsErrorKind::Protocol,
                            self.provider.name().to_owned(),
                            "the provider returned no report for this message",
                        ))
                    },
                    |o| o.outcome,
                );
            let retries_left = c.retries < i64::from(self.max_retries);
            let s = settlement_of(outcome, retries_left, resend_safe, &mut result);
            result.settlements.push((c, s));
        }
        result
    }
}

/// What [`MailingRunner::next_batch`] found.
enum Next {
    /// A batch, written down as *sending*.
    Batch(Vec<Claimed>),
    /// Nothing to claim now: try again.
    Nothing,
    /// The run ends normally (paused, cancelled, not yet due).
    End(RunEnd),
}

/// A stop asked of a run: a flag, and a wake-up for whatever waits.
#[derive(Default)]
struct Stopping {
    set: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stopping {
    fn set(&self) {
        self.set.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_set(&self) -> bool {
        self.set.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes once the stop is asked.
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps `d`, or less if the stop is asked meanwhile.
    async fn sleep(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.wait() => {}
        }
    }
}

/// The message for one claimed recipient.
fn message_for(spec: &MailingSpec, c: &Claimed) -> Result<Message, SmsError> {
    let number: PhoneNumber = c.number.parse().map_err(|e: crate::phone::PhoneError| {
        SmsError::new(SmsErrorKind::InvalidRecipient, "", e.to_string())
    })?;
    let mut b = Message::builder()
        .to(number)
        .text(c.text.clone())
        .priority(spec.priority)
        .delivery_report(spec.delivery_report)
        .client_reference(c.client_reference.clone());
    if let Some(s) = &spec.sender {
        b = b.sender(s.clone());
    }
    b.build()
}

/// Runs `op` again while the store is unavailable, for up to a minute.
async fn retry_unavailable<T, F, Fut>(op: F) -> Result<T, crate::store_error::StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, crate::store_error::StoreError>>,
{
    let started = std::time::Instant::now();
    loop {
        match op().await {
            Err(e) if e.is_unavailable() && started.elapsed() < Duration::from_secs(60) => {
                tracing::warn!(error = %e, "the store is unavailable; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// Claims a runner has in flight at once, by default.
const IN_FLIGHT: usize = 3;

/// Counts of a finished or stopped mailing, for people.
#[must_use]
pub fn summary(stats: &Stats) -> String {
    stats
        .states
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
