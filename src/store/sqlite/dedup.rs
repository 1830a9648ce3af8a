//! Handled pushes on SQLite, for the receiver (the `DedupStore`
//! contract).

use super::*;

/// How long a dedup claim whose handler never finished (a crash) blocks
/// redeliveries.
const DEDUP_CLAIM: Duration = Duration::from_secs(60);

#[cfg(feature = "receiver")]
#[async_trait]
impl crate::receiver::DedupStore for SqliteStore {
    async fn begin(
        &self,
        key: &str,
        remember_for: Duration,
    ) -> Result<crate::receiver::Seen, StoreError> {
        use crate::receiver::Seen;
        let mut tx = self.write().await?;
        let now = now_ms();
        let row = sqlx::query("SELECT done, until, claim_until FROM dedup WHERE key = ?")
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("reading a dedup key"))?;
        if let Some(r) = &row
            && r.get::<i64, _>("until") > now
        {
            if r.get::<i64, _>("done") != 0 {
                return Ok(Seen::Done);
            }
            if r.get::<i64, _>("claim_until") > now {
                return Ok(Seen::InProgress);
            }
            // A claim whose handler never finished (a crash): taken over.
        }
        sqlx::query(
            "INSERT INTO dedup (key, done, until, claim_until) VALUES (?, 0, ?, ?)
             ON CONFLICT (key) DO UPDATE SET done = 0, until = excluded.until,
                claim_until = excluded.claim_until",
        )
        .bind(key)
        .bind(now + ms(remember_for))
        .bind(now + ms(DEDUP_CLAIM))
        .execute(&mut *tx)
        .await
        .map_err(db("claiming a dedup key"))?;
        // Forget what expired, a little at a time.
        sqlx::query(
            "DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE until < ? LIMIT 100)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("forgetting dedup keys"))?;
        tx.commit().await.map_err(db("claiming a dedup key"))?;
        Ok(Seen::New)
    }

    async fn finish(&self, key: &str, handled: bool) -> Result<(), StoreError> {
        let q = if handled {
            sqlx::query("UPDATE dedup SET done = 1 WHERE key = ?")
        } else {
            sqlx::query("DELETE FROM dedup WHERE key = ?")
        };
        q.bind(key)
            .execute(&self.pool)
            .await
            .map_err(db("finishing a dedup key"))?;
        Ok(())
    }
}
