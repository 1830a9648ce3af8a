//! The run loop: claim a batch, write it down as *sending*, send it with
//! up to `in_flight` batches at once, settle what comes back, recover what
//! a dead worker left — until nothing is left or the mailing stops.

use tracing::Instrument;

use super::*;

impl MailingRunner {
    pub(super) async fn run_inner(
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
            clock: self.clock.clone(),
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
                    mailing = id.get(),
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
                    .instrument(tracing::debug_span!("claim", size))
                    .await
                {
                    Ok(Next::Batch {
                        rows,
                        decided,
                        held,
                    }) => {
                        progress.held += held;
                        super::meter::held(self.provider.name(), held);
                        if !(rows.is_empty() && decided.is_empty()) {
                            in_flight.spawn(send_batch(&sender, rows, decided));
                        }
                    }
                    Ok(Next::Nothing) => break,
                    Ok(Next::Expired(n)) => {
                        progress.expired += n;
                        break;
                    }
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
                // Held for their own daytime: wait for the first of them
                // (or say when, when not waiting).
                match self.outbox.next_held(id).await {
                    Ok(Some(at)) if at > self.now() => {
                        if !self.wait {
                            return Ok((RunEnd::NotYet(at), progress));
                        }
                        let wait = self.now().duration_until(at).unsigned_abs();
                        tracing::info!(
                            mailing = id.get(),
                            %at,
                            "waiting: the recipients left are held for their own daytime"
                        );
                        // Looked at again at least once a lease: another
                        // worker's rows may need recovering meanwhile.
                        stopping.sleep(wait.min(self.lease)).await;
                        continue;
                    }
                    Err(e) if !e.is_unavailable() => return Err(e.into()),
                    _ => {}
                }
                // Others are in flight (another worker, or a dead one's
                // lease not yet expired).
                if !said_waiting {
                    said_waiting = true;
                    tracing::info!(
                        mailing = id.get(),
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
            super::meter::settled(self.provider.name(), &settlements);
            for (_, s) in &settlements {
                match s {
                    Settlement::Accepted { .. } => progress.accepted += 1,
                    Settlement::Failed { .. } => progress.failed += 1,
                    Settlement::Unknown { .. } => progress.unknown += 1,
                    Settlement::Retry { .. } => progress.retried += 1,
                    Settlement::Blocked { .. } => progress.blocked += 1,
                    Settlement::Expired { .. } => progress.expired += 1,
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
                && spec.next_opening(self.now()).is_none();
            let settled = if chain {
                let sorter = super::daytime::DaytimeSorter::new(spec, self.now());
                let hold = |c: &Claimed| sorter.hold_until(c);
                match retry_unavailable(|| async {
                    if spec.recipient_hours.is_some() {
                        self.outbox
                            .settle_and_claim_holding(
                                &settlements,
                                id,
                                &self.worker,
                                claim_size,
                                self.lease,
                                &hold,
                            )
                            .await
                    } else {
                        let rows = self
                            .outbox
                            .settle_and_claim(
                                &settlements,
                                id,
                                &self.worker,
                                claim_size,
                                self.lease,
                            )
                            .await?;
                        Ok((rows, 0))
                    }
                })
                .await
                {
                    Ok((rows, held)) if rows.is_empty() => {
                        progress.held += held;
                        super::meter::held(self.provider.name(), held);
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
                    Ok((rows, held)) => {
                        progress.held += held;
                        super::meter::held(self.provider.name(), held);
                        // Rows never to be sent (expired before their
                        // morning) are settled with the batch.
                        let sorted = sorter.sort(rows);
                        in_flight.spawn(send_batch(&sender, sorted.send, sorted.end));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            } else {
                retry_unavailable(|| self.outbox.settle(&settlements))
                    .instrument(tracing::debug_span!(
                        "settle",
                        recipients = settlements.len()
                    ))
                    .await
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
                    mailing = id.get(),
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
                    tracing::warn!(
                        mailing = id.get(),
                        "the gateway answers again; sending in full"
                    );
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
    pub(super) fn claim_size(&self) -> usize {
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
    pub(super) async fn next_batch(
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
            let recovered = self
                .outbox
                .recover(id, resend)
                .instrument(tracing::debug_span!("recover"))
                .await?;
            if recovered != super::super::outbox::Recovered::default() {
                tracing::info!(
                    reclaimed = recovered.reclaimed,
                    unknown = recovered.unknown,
                    resend = recovered.resend,
                    "recovered the claims of a worker whose lease ran out"
                );
            }
            if spec.recipient_hours.is_some() {
                self.outbox.release_held(id, self.now()).await?;
            }
        }
        // Expired, or next allowed to send only after it expires: whoever
        // is still waiting ends expired, never sent late.
        // (Whether the mailing is then finished, the loop asks the store as
        // after any empty claim.)
        let now = self.now();
        let opening = spec.next_opening(now);
        if let Err(reason) = super::expiry::validity_left(spec.expires_at, opening.unwrap_or(now)) {
            let n = self.outbox.expire_pending(id, &reason).await?;
            if n > 0 {
                tracing::info!(mailing = id.get(), expired = n, "{reason}");
                return Ok(Next::Expired(n));
            }
            return self.nothing_claimed(id).await;
        }
        if let Some(open) = opening {
            // A paused or cancelled mailing says so before its window.
            if let end @ Next::End(_) = self.nothing_claimed(id).await? {
                return Ok(end);
            }
            if !self.wait {
                return Ok(Next::End(RunEnd::NotYet(open)));
            }
            let wait = self.now().duration_until(open).unsigned_abs();
            tracing::info!(mailing = id.get(), %open, "waiting for the send time or window");
            stopping.sleep(wait.min(Duration::from_secs(60))).await;
            return Ok(Next::Nothing);
        }
        let shared = match (&self.shared_pace, self.pace) {
            (Some(key), Some(pace)) => Some((key, pace)),
            _ => None,
        };
        // Paced across workers or by parts: claimed first (the parts are
        // known then; rows outside their own daytime are held), and written
        // down as sending only once the pace allows them; a crash
        // meanwhile puts them back, unsent.
        if shared.is_some() || matches!((limiter, self.pace), (Some(_), Some(Pace::Parts(_)))) {
            let claimed = self
                .outbox
                .claim(id, &self.worker, size, self.lease)
                .await?;
            if claimed.is_empty() {
                return self.nothing_claimed(id).await;
            }
            let super::daytime::ByDaytime { send, hold, end } =
                super::daytime::DaytimeSorter::new(spec, self.now()).sort(claimed);
            let held = self.outbox.hold(&hold).await?;
            if held > 0 {
                tracing::info!(
                    mailing = id.get(),
                    held,
                    "held for their own daytime (quiet hours or a public holiday where the number is)"
                );
            }
            if !send.is_empty() {
                let taken_shared = match shared {
                    Some((key, pace)) => self.take_shared(key, pace, &send).await?,
                    None => false,
                };
                // Without a shared limit in the store, the batch is paced
                // here.
                if let (false, Some(l)) = (taken_shared, limiter) {
                    self.take_pace(l, &send).await;
                }
            }
            // Rows ended without a send are settled as a batch's are
            // (from sending, fenced by their attempt).
            let ended: Vec<Claimed> = end.iter().map(|(c, _)| c.clone()).collect();
            let marked = self
                .outbox
                .mark_sending(&[send, ended].concat(), self.lease)
                .await?;
            let ours: std::collections::HashSet<i64> = marked.iter().map(|c| c.id).collect();
            let ended: std::collections::HashSet<i64> = end.iter().map(|(c, _)| c.id).collect();
            let (rows, decided) = (
                marked
                    .into_iter()
                    .filter(|c| !ended.contains(&c.id))
                    .collect(),
                end.into_iter()
                    .filter(|(c, _)| ours.contains(&c.id))
                    .collect(),
            );
            return Ok(Next::Batch {
                rows,
                decided,
                held,
            });
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
        if spec.recipient_hours.is_some() {
            // In one write: rows outside their daytime are held, never
            // written down as sending.
            let sorter = super::daytime::DaytimeSorter::new(spec, self.now());
            let hold = |c: &Claimed| sorter.hold_until(c);
            let (sending, held) = self
                .outbox
                .claim_sending_holding(id, &self.worker, size, self.lease, &hold)
                .await?;
            if sending.is_empty() && held == 0 {
                return self.nothing_claimed(id).await;
            }
            let sorted = sorter.sort(sending);
            return Ok(Next::Batch {
                rows: sorted.send,
                decided: sorted.end,
                held,
            });
        }
        let sending = self
            .outbox
            .claim_sending(id, &self.worker, size, self.lease)
            .await?;
        if sending.is_empty() {
            return self.nothing_claimed(id).await;
        }
        Ok(Next::Batch {
            rows: sending,
            decided: Vec::new(),
            held: 0,
        })
    }

    /// Whether expired leases are due to be looked for (a few times a
    /// lease, not per batch).
    pub(super) fn recover_due(&self) -> bool {
        self.last_recover
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|t| t.elapsed() >= (self.lease / 4).min(Duration::from_secs(1)))
    }

    /// Why a claim came back empty: the mailing was paused or cancelled
    /// (claims take only from active mailings, so a pause stops them at
    /// once), or nothing is pending now.
    pub(super) async fn nothing_claimed(&self, id: MailingId) -> Result<Next, RunError> {
        let (_, status) = self.outbox.mailing(id).await?;
        Ok(match status {
            MailingStatus::Paused => Next::End(RunEnd::Paused),
            MailingStatus::Cancelled => Next::End(RunEnd::Cancelled),
            _ => Next::Nothing,
        })
    }
}

/// One batch's send as a task of its own, in a span naming the batch (its
/// first row) inside the run's.
fn send_batch(
    sender: &BatchSend,
    rows: Vec<Claimed>,
    decided: Vec<(Claimed, Settlement)>,
) -> impl Future<Output = BatchResult> + Send + 'static {
    let span = tracing::info_span!(
        "batch",
        batch = rows
            .first()
            .or(decided.first().map(|(c, _)| c))
            .map_or(0, |c| c.id),
        recipients = rows.len() + decided.len()
    );
    sender.clone().send(rows, decided).instrument(span)
}

/// What [`MailingRunner::next_batch`] found.
pub(super) enum Next {
    /// A batch: `rows` written down as *sending*, to be sent; `decided`
    /// written down as sending and settled without a send; `held` rows put
    /// aside for their own daytime (all may be empty).
    Batch {
        rows: Vec<Claimed>,
        decided: Vec<(Claimed, Settlement)>,
        held: u64,
    },
    /// Nothing to claim now: try again.
    Nothing,
    /// The mailing has expired: this many waiting recipients ended
    /// expired (try again: what is in flight finishes).
    Expired(u64),
    /// The run ends normally (paused, cancelled, not yet due).
    End(RunEnd),
}

/// A stop asked of a run: a flag, and a wake-up for whatever waits.
#[derive(Default)]
pub(super) struct Stopping {
    set: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stopping {
    pub(super) fn set(&self) {
        self.set.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(super) fn is_set(&self) -> bool {
        self.set.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Completes once the stop is asked.
    pub(super) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps `d`, or less if the stop is asked meanwhile.
    pub(super) async fn sleep(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.wait() => {}
        }
    }
}

/// Runs `op` again while the store is unavailable, for up to a minute.
pub(super) async fn retry_unavailable<T, F, Fut>(op: F) -> Result<T, crate::store_error::StoreError>
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
