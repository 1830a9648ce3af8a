//! Pacing: a limit of this runner's own (governor), or one shared through
//! the store by every worker sending under the same key.

use super::*;

impl MailingRunner {
    /// Takes the batch's messages or parts from the shared limit `key`,
    /// waiting (and renewing the claim) as long as it says; `false` when
    /// the store has none.
    pub(super) async fn take_shared(
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
                crate::mailing::RateTake::Unsupported => return Ok(false),
                crate::mailing::RateTake::Taken => cost -= u64::from(piece),
                crate::mailing::RateTake::Wait(d) => {
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
    pub(super) async fn take_pace(&self, limiter: &DefaultDirectRateLimiter, claimed: &[Claimed]) {
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
