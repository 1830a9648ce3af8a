//! Sending a mailing: claim a batch, write it down as *sending*, send it
//! (paced), settle every recipient from the gateway's answer — until none
//! is left.

//!
//! This file holds the runner's settings and its entry points; the loop is
//! in `run_loop.rs`, pacing in `pace.rs`, one batch's send in `batch.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;

use super::RunError;
use super::model::{DEFAULT_LEASE, MailingId, MailingSpec, MailingStatus};
use super::outbox::{Claimed, Outbox, Settlement};
use super::settle::{BatchResult, settlement_of};
use crate::sms::{Message, Outcome, SmsError, SmsErrorKind, SmsProvider};

mod batch;
mod daytime;
mod expiry;
mod meter;
mod pace;
mod run_loop;

use batch::BatchSend;
use run_loop::Stopping;

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
    /// Recipients not sent because the mailing expired before their turn.
    pub expired: u64,
    /// Recipients held for their own daytime (quiet hours or a public
    /// holiday where their number is), sent when it comes.
    pub held: u64,
}

type ProgressHook = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The clock a mailing's calendar is read by.
pub(super) type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

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
    clock: Clock,
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
            clock: Arc::new(Timestamp::now),
        }
    }

    /// The clock the mailing's calendar is read by: its send time, window
    /// and expiry, and its recipients' own daytime and holidays (default:
    /// the system clock). Leases, heartbeats and back-off keep real time.
    /// For tests and rehearsals ("what does this mailing do on 17 May").
    #[must_use]
    pub fn clock(mut self, now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(now);
        self
    }

    /// The time by the mailing's [`clock`](Self::clock).
    pub(super) fn now(&self) -> Timestamp {
        (self.clock)()
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
        // Every span and event of the run carries the mailing and worker.
        let span = tracing::info_span!("mailing_run", mailing = id.get(), worker = %self.worker);
        let result = tracing::Instrument::instrument(self.run_inner(id, &stopping), span).await;
        watcher.abort();
        result
    }
}

/// Claims a runner has in flight at once, by default.
const IN_FLIGHT: usize = 3;
