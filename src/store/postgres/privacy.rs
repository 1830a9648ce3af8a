//! Consent and personal data on PostgreSQL (the [`Privacy`] contract): the
//! consent log, erasure to a keyed hash, access, and the retention purge
//! in short transactions.

use super::*;
use crate::mailing::{
    ConsentAction, ConsentEntry, Erased, NumberRecord, Privacy, Purged, suppression_hash,
};

impl PgStore {
    /// The store's key for [`suppression_hash`], made (from the OS's
    /// randomness) the first time it is needed and kept in the schema.
    pub(super) async fn suppression_key(&self) -> Result<Vec<u8>, StoreError> {
        let read = || async {
            sqlx::query_scalar::<_, String>(
                "SELECT value FROM crm_comms_meta WHERE key = 'suppression_key'",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading the suppression key"))
        };
        // Read first: the key is written once, not on every batch's check.
        let hex = if let Some(hex) = read().await? {
            hex
        } else {
            sqlx::query(
                "INSERT INTO crm_comms_meta (key, value) VALUES ('suppression_key', $1)
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

fn entry(r: &PgRow) -> Result<ConsentEntry, StoreError> {
    super::super::rows::consent_entry(
        r.get("number"),
        r.get::<&str, _>("action"),
        r.get("via"),
        r.get("message"),
        r.get("at"),
    )
}

#[async_trait]
impl Privacy for PgStore {
    async fn record_consent(&self, e: &ConsentEntry) -> Result<bool, StoreError> {
        let key = match e.action {
            ConsentAction::OptIn => Some(self.suppression_key().await?),
            _ => None,
        };
        let mut tx = self.pool.begin().await.map_err(db("recording consent"))?;
        let changed = match e.action {
            ConsentAction::OptIn => {
                let listed = sqlx::query("DELETE FROM crm_comms_opt_out WHERE number = $1")
                    .bind(&e.number)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking a number off the opt-out list"))?
                    .rows_affected();
                let hash = suppression_hash(key.as_deref().unwrap_or_default(), &e.number);
                let suppressed = sqlx::query("DELETE FROM crm_comms_suppression WHERE hash = $1")
                    .bind(hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("taking a number off the suppression list"))?
                    .rows_affected();
                listed + suppressed > 0
            }
            _ => {
                sqlx::query(
                    "INSERT INTO crm_comms_opt_out (number, source) VALUES ($1, $2)
                     ON CONFLICT (number) DO NOTHING",
                )
                .bind(&e.number)
                .bind(&e.via)
                .execute(&mut *tx)
                .await
                .map_err(db("adding to the opt-out list"))?
                .rows_affected()
                    > 0
            }
        };
        sqlx::query(
            "INSERT INTO crm_comms_consent_log (number, action, via, message, at)
             VALUES ($1, $2, $3, $4, $5)",
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
            "SELECT number, action, via, message, at FROM crm_comms_consent_log
             WHERE $1::text IS NULL OR number = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(number)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the consent log"))?;
        rows.iter().map(entry).collect()
    }

    async fn erase(&self, number: &str) -> Result<Erased, StoreError> {
        let (digits, tail) = super::super::rows::number_forms(number)?;
        let key = self.suppression_key().await?;
        let mut tx = self.pool.begin().await.map_err(db("erasing a number"))?;
        let mut out = Erased {
            kept_reports: sqlx::query(
                "DELETE FROM crm_comms_parked_reports WHERE recipient IN
                   (SELECT id FROM crm_comms_recipients WHERE number = $1)",
            )
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing kept reports"))?
            .rows_affected(),
            ..Erased::default()
        };
        out.recipients = sqlx::query("DELETE FROM crm_comms_recipients WHERE number = $1")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing recipients"))?
            .rows_affected();
        out.sent_records =
            sqlx::query("DELETE FROM crm_comms_sent WHERE recipient = $1 OR recipient = $2")
                .bind(number)
                .bind(digits)
                .execute(&mut *tx)
                .await
                .map_err(db("erasing sent records"))?
                .rows_affected();
        // Dedup keys name the sender or recipient as pushed: any key with
        // the number's digits goes (an unrelated key that happens to hold
        // them only means a redelivery of it is handled again).
        sqlx::query("DELETE FROM crm_comms_dedup WHERE strpos(key, $1) > 0")
            .bind(tail)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing dedup keys"))?;
        out.consent_entries = sqlx::query("DELETE FROM crm_comms_consent_log WHERE number = $1")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing the consent log"))?
            .rows_affected();
        out.suppressed = sqlx::query("DELETE FROM crm_comms_opt_out WHERE number = $1")
            .bind(number)
            .execute(&mut *tx)
            .await
            .map_err(db("erasing the opt-out"))?
            .rows_affected()
            > 0;
        if out.suppressed {
            sqlx::query(
                "INSERT INTO crm_comms_suppression (hash, at)
                 VALUES ($1, (extract(epoch FROM now()) * 1000)::bigint) ON CONFLICT DO NOTHING",
            )
            .bind(suppression_hash(&key, number))
            .execute(&mut *tx)
            .await
            .map_err(db("keeping the suppression hash"))?;
        }
        tx.commit().await.map_err(db("erasing a number"))?;
        Ok(out)
    }

    async fn access(&self, number: &str) -> Result<NumberRecord, StoreError> {
        let key = self.suppression_key().await?;
        let rows = sqlx::query(
            "SELECT r.id, r.mailing, r.line, r.number, r.state, r.parts, r.gateway_ref,
                    r.reason, r.done_at, m.name
             FROM crm_comms_recipients r JOIN crm_comms_mailings m ON m.id = r.mailing
             WHERE r.number = $1 ORDER BY r.id",
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
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM crm_comms_opt_out WHERE number = $1)")
                .bind(number)
                .fetch_one(&self.pool)
                .await
                .map_err(db("reading the opt-out list"))?;
        let suppressed: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM crm_comms_suppression WHERE hash = $1)",
        )
        .bind(suppression_hash(&key, number))
        .fetch_one(&self.pool)
        .await
        .map_err(db("reading the suppression list"))?;
        let (digits, _) = super::super::rows::number_forms(number)?;
        let sent_records: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM crm_comms_sent WHERE recipient = $1 OR recipient = $2",
        )
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
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT m.id FROM crm_comms_mailings m
             WHERE m.created_at < now() - $1 * interval '1 millisecond'
               AND NOT EXISTS (SELECT 1 FROM crm_comms_recipients r WHERE r.mailing = m.id
                               AND r.state IN ('pending', 'claimed', 'sending', 'held'))",
        )
        .bind(ms(older_than))
        .fetch_all(&self.pool)
        .await
        .map_err(db("finding finished mailings"))?;
        let mut out = Purged::default();
        // Short statements of `batch` rows each (autocommitted): no long
        // lock on a big table, and other writers go on meanwhile.
        for id in ids {
            loop {
                let n = sqlx::query(
                    "DELETE FROM crm_comms_recipients WHERE id IN
                       (SELECT id FROM crm_comms_recipients WHERE mailing = $1 LIMIT $2)",
                )
                .bind(id)
                .bind(batch.max(1) as i64)
                .execute(&self.pool)
                .await
                .map_err(db("purging recipients"))?
                .rows_affected();
                out.recipients += n;
                if n == 0 {
                    break;
                }
            }
            let mut tx = self.pool.begin().await.map_err(db("purging a mailing"))?;
            sqlx::query("DELETE FROM crm_comms_parked_reports WHERE mailing = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("purging kept reports"))?;
            out.mailings += sqlx::query("DELETE FROM crm_comms_mailings WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("purging a mailing"))?
                .rows_affected();
            tx.commit().await.map_err(db("purging a mailing"))?;
        }
        Ok(out)
    }
}
