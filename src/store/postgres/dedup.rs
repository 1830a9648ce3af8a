//! Handled pushes on PostgreSQL, for the receiver (the `DedupStore`
//! contract).

use super::*;

/// How long a dedup claim whose handler never finished blocks redeliveries.
const DEDUP_CLAIM: Duration = Duration::from_secs(60);

#[cfg(feature = "receiver")]
#[async_trait]
impl crate::receiver::DedupStore for PgStore {
    async fn begin(
        &self,
        key: &str,
        remember_for: Duration,
    ) -> Result<crate::receiver::Seen, StoreError> {
        use crate::receiver::Seen;
        // One statement: a new key, an expired one, or a claim whose
        // handler died is (re)claimed; otherwise the row says what it is.
        // Two receivers racing on one key: the row lock makes one win.
        let claimed: Option<bool> = sqlx::query_scalar(
            "INSERT INTO crm_comms_dedup (key, done, until, claim_until)
             VALUES ($1, false, now() + $2 * interval '1 millisecond', now() + $3 * interval '1 millisecond')
             ON CONFLICT (key) DO UPDATE SET done = false, until = excluded.until,
                claim_until = excluded.claim_until
             WHERE crm_comms_dedup.until <= now()
                OR (NOT crm_comms_dedup.done AND crm_comms_dedup.claim_until <= now())
             RETURNING true",
        )
        .bind(key)
        .bind(ms(remember_for))
        .bind(ms(DEDUP_CLAIM))
        .fetch_optional(&self.relaxed)
        .await
        .map_err(db("claiming a dedup key"))?;
        if claimed.is_some() {
            return Ok(Seen::New);
        }
        let done: Option<bool> =
            sqlx::query_scalar("SELECT done FROM crm_comms_dedup WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.relaxed)
                .await
                .map_err(db("reading a dedup key"))?;
        Ok(match done {
            Some(true) => Seen::Done,
            _ => Seen::InProgress,
        })
    }

    async fn begin_many(
        &self,
        keys: &[String],
        remember_for: Duration,
    ) -> Result<Vec<crate::receiver::Seen>, StoreError> {
        use crate::receiver::Seen;
        // Claimed in one statement, in key order (two receivers claiming
        // overlapping pushes lock in the same order, so never deadlock);
        // the keys it did not claim are read in a second.
        let claimed: Vec<String> = sqlx::query_scalar(
            "INSERT INTO crm_comms_dedup (key, done, until, claim_until)
             SELECT DISTINCT k, false, now() + $2 * interval '1 millisecond',
                    now() + $3 * interval '1 millisecond'
             FROM UNNEST($1::text[]) AS k
             ORDER BY k
             ON CONFLICT (key) DO UPDATE SET done = false, until = excluded.until,
                claim_until = excluded.claim_until
             WHERE crm_comms_dedup.until <= now()
                OR (NOT crm_comms_dedup.done AND crm_comms_dedup.claim_until <= now())
             RETURNING key",
        )
        .bind(keys)
        .bind(ms(remember_for))
        .bind(ms(DEDUP_CLAIM))
        .fetch_all(&self.relaxed)
        .await
        .map_err(db("claiming dedup keys"))?;
        let mut claimed: HashSet<String> = claimed.into_iter().collect();
        let others: Vec<&String> = keys.iter().filter(|k| !claimed.contains(*k)).collect();
        let done: HashSet<String> = if others.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar::<_, String>(
                "SELECT key FROM crm_comms_dedup WHERE key = ANY($1) AND done",
            )
            .bind(&others)
            .fetch_all(&self.relaxed)
            .await
            .map_err(db("reading dedup keys"))?
            .into_iter()
            .collect()
        };
        // A key twice in one push: the first is new, the second in progress.
        Ok(keys
            .iter()
            .map(|k| {
                if claimed.remove(k) {
                    Seen::New
                } else if done.contains(k) {
                    Seen::Done
                } else {
                    Seen::InProgress
                }
            })
            .collect())
    }

    async fn finish_many(&self, keys: &[(String, bool)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let (done, failed): (Vec<_>, Vec<_>) = keys.iter().partition(|(_, h)| *h);
        let done: Vec<&String> = done.iter().map(|(k, _)| k).collect();
        let failed: Vec<&String> = failed.iter().map(|(k, _)| k).collect();
        sqlx::query(
            "WITH d AS (UPDATE crm_comms_dedup SET done = true WHERE key = ANY($1) RETURNING 1)
             DELETE FROM crm_comms_dedup WHERE key = ANY($2)",
        )
        .bind(&done)
        .bind(&failed)
        .execute(&self.relaxed)
        .await
        .map_err(db("finishing dedup keys"))?;
        Ok(())
    }

    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError> {
        let q = if handled {
            sqlx::query("UPDATE crm_comms_dedup SET done = true WHERE key = $1")
        } else {
            sqlx::query("DELETE FROM crm_comms_dedup WHERE key = $1")
        };
        q.bind(key)
            .execute(&self.relaxed)
            .await
            .map_err(db("finishing a dedup key"))?;
        // Forget what expired, a little at a time (every 100th finish).
        let n = self
            .finishes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(100) {
            sqlx::query(
                "DELETE FROM crm_comms_dedup WHERE key IN
                   (SELECT key FROM crm_comms_dedup WHERE until < now() LIMIT 1000)",
            )
            .execute(&self.relaxed)
            .await
            .map_err(db("forgetting dedup keys"))?;
        }
        Ok(())
    }
}
