//! Consent and personal data on SQLite (the [`Privacy`] contract): the
//! consent log, erasure to a keyed hash, access, and the retention purge.

use super::*;
use crate::mailing::{
    ConsentAction, ConsentEntry, Erased, NumberRecord, Privacy, Purged, suppression_hash,
};

impl SqliteStore {
    /// The store's key for [`suppression_hash`], made (from the OS's
    /// randomness) the first time it is needed and kept in the store.
    pub(super) async fn suppression_key(&self) -> Result<Vec<u8>, StoreError> {
        let read = || async {
            sqlx::query_scalar::<_, String>(
                "SELECT value FROM crm_comms_meta WHERE key = 'suppression_key'",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading the suppression key"))
        };
        let hex = if let Some(hex) = read().await? {
            hex
        } else {
            sqlx::query(
                "INSERT INTO crm_comms_meta (key, value) VALUES ('suppression_key', ?)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(crate::mailing::privacy_key()?)
            .execute(&self.pool)
            .await
            .map_err(db("keeping the suppression key"))?;
            read().await?.unwrap_or_default()
        };
        crate::mailing::key_from_hex(&hex)
    }
}

impl SqliteStore {
    /// Moves the write-ahead log into the file and empties it, so erased
    /// rows live on in neither (the file overwrites deleted content:
    /// `secure_delete`). Best effort: a reader holding an old snapshot
    /// keeps the log until it finishes, and the next checkpoint clears it.
    async fn scrub_log(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "the write-ahead log could not be emptied after an erasure");
        }
    }
}

fn entry(r: &SqliteRow) -> Result<ConsentEntry, StoreError> {
    super::super::rows::consent_entry(
        r.get("number"),
        r.get::<&str, _>("action"),
        r.get("via"),
        r.get("message"),
        r.get("at"),
    )
}

#[async_trait]
impl Privacy for SqliteStore {
    async fn record_consent(&self, e: &ConsentEntry) -> Result<bool, StoreError> {
        let key = match e.action {
            ConsentAction::OptIn => Some(self.suppression_key().await?),
            _ => None,
        };
        let mut tx = self.write().await?;
        let changed = match e.action {
            ConsentAction::OptIn => {
                let listed = sqlx::query("DELETE FROM opt_out WHERE number = ?")
                    .bind(&e.number)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking a number off the opt-out list"))?
                    .rows_affected();
                let hash = suppression_hash(key.as_deref().unwrap_or_default(), &e.number);
                let suppressed = sqlx::query("DELETE FROM suppression WHERE hash = ?")
                    .bind(hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking a number off the suppression list"))?
                    .rows_affected();
                listed + suppressed > 0
            }
            _ => {
                sqlx::query(
                    "INSERT INTO opt_out (number, source, at) VALUES (?, ?, ?)
                     ON CONFLICT (number) DO NOTHING",
                )
                .bind(&e.number)
                .bind(&e.via)
                .bind(e.at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(db("adding to the opt-out list"))?
                .rows_affected()
                    > 0
            }
        };
        sqlx::query(
            "INSERT INTO consent_log (number, action, via, message, at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&e.number)
        .bind(e.action.as_str())
        .bind(&e.via)
        .bind(&e.message)
        .bind(e.at.as_millisecond())
        .execute(&mut *tx)
        .await
        .map_err(db("logging consent"))?;
        tx.commit().await.map_err(db("recording consent"))?;
        Ok(changed)
    }

    async fn consent_log(
        &self,
        number: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ConsentEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, action, via, message, at FROM consent_log
             WHERE ?1 IS NULL OR number = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(number)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the consent log"))?;
        rows.iter().map(entry).collect()
    }

    async fn erase(&self, number: &str) -> Result<Erased, StoreError> {
        let (digits, tail) = super::super::rows::number_forms(number)?;
        let key = self.suppression_key().await?;
        let mut tx = self.write().await?;
        let mut out = Erased {
            kept_reports: sqlx::query(
                "DELETE FROM parked_reports WHERE recipient IN
                   (SELECT id FROM recipients INDEXED BY recipients_number_sent WHERE number = ?)",
            )
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing kept reports"))?
            .rows_affected(),
            ..Erased::default()
        };
        out.recipients = sqlx::query("DELETE FROM recipients WHERE number = ?")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing recipients"))?
            .rows_affected();
        out.sent_records = sqlx::query("DELETE FROM sent WHERE recipient IN (?, ?)")
            .bind(number)
            .bind(digits)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing sent records"))?
            .rows_affected();
        // Dedup keys name the sender or recipient as pushed: any key with
        // the number's digits goes (an unrelated key that happens to hold
        // them only means a redelivery of it is handled again).
        sqlx::query("DELETE FROM dedup WHERE instr(key, ?) > 0")
            .bind(tail)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing dedup keys"))?;
        out.consent_entries = sqlx::query("DELETE FROM consent_log WHERE number = ?")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing the consent log"))?
            .rows_affected();
        out.suppressed = sqlx::query("DELETE FROM opt_out WHERE number = ?")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing the opt-out"))?
            .rows_affected()
            > 0;
        if out.suppressed {
            sqlx::query("INSERT INTO suppression (hash, at) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .bind(suppression_hash(&key, number))
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(db("keeping the suppression hash"))?;
        }
        tx.commit().await.map_err(db("erasing a number"))?;
        self.scrub_log().await;
        Ok(out)
    }

    async fn access(&self, number: &str) -> Result<NumberRecord, StoreError> {
        let key = self.suppression_key().await?;
        let rows = sqlx::query(
            "SELECT r.id, r.mailing, r.line, r.number, r.state, r.parts, r.gateway_ref,
                    r.reason, r.done_at, m.name
             FROM recipients r JOIN mailings m ON m.id = r.mailing
             WHERE r.number = ? ORDER BY r.id",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading a number's rows"))?;
        let recipients = rows
            .iter()
            .map(|r| {
                Ok((
                    MailingId::new(r.get("mailing")),
                    r.get::<String, _>("name"),
                    super::outbox::recipient_row(r)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let opted_out: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM opt_out WHERE number = ?)")
                .bind(number)
                .fetch_one(&self.pool)
                .await
                .map_err(db("reading the opt-out list"))?;
        let suppressed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM suppression WHERE hash = ?)")
                .bind(suppression_hash(&key, number))
                .fetch_one(&self.pool)
                .await
                .map_err(db("reading the suppression list"))?;
        let (digits, _) = super::super::rows::number_forms(number)?;
        let sent_records: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sent WHERE recipient IN (?, ?)")
                .bind(number)
                .bind(digits)
                .fetch_one(&self.pool)
                .await
                .map_err(db("reading sent records"))?;
        Ok(NumberRecord {
            number: number.to_owned(),
            recipients,
            opted_out,
            suppressed,
            consent: self.consent_log(Some(number), usize::MAX >> 1).await?,
            sent_records: sent_records as u64,
        })
    }

    async fn purge_finished(
        &self,
        older_than: Duration,
        batch: usize,
    ) -> Result<Purged, StoreError> {
        let before = now_ms() - ms(older_than);
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT m.id FROM mailings m WHERE m.created_at < ?
               AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.mailing = m.id
                               AND r.state IN ('pending', 'claimed', 'sending', 'held'))",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await
        .map_err(db("finding finished mailings"))?;
        let mut out = Purged::default();
        // A write lock at a time, `batch` rows each: other writers get in
        // between.
        for id in ids {
            loop {
                let mut tx = self.write().await?;
                let n = sqlx::query(
                    "DELETE FROM recipients WHERE id IN
                       (SELECT id FROM recipients WHERE mailing = ? LIMIT ?)",
                )
                .bind(id)
                .bind(batch.max(1) as i64)
                .execute(&mut *tx)
                .await
                .map_err(db("purging recipients"))?
                .rows_affected();
                tx.commit().await.map_err(db("purging recipients"))?;
                out.recipients += n;
                if n == 0 {
                    break;
                }
            }
            let mut tx = self.write().await?;
            sqlx::query("DELETE FROM parked_reports WHERE mailing = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("purging kept reports"))?;
            out.mailings += sqlx::query("DELETE FROM mailings WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("purging a mailing"))?
                .rows_affected();
            tx.commit().await.map_err(db("purging a mailing"))?;
        }
        if out.mailings > 0 {
            self.scrub_log().await;
        }
        Ok(out)
    }
}
