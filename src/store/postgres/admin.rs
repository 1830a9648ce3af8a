//! The operator's tools on PostgreSQL (the [`MailingAdmin`] contract).

use super::*;
use crate::mailing::{MailingAdmin, MailingListing};

#[async_trait]
impl MailingAdmin for PgStore {
    async fn list_mailings(&self, limit: usize) -> Result<Vec<MailingListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, status, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms,
                    send_at, expires_at
             FROM crm_comms_mailings ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing mailings"))?;
        rows.iter()
            .map(|r| {
                super::super::rows::mailing_listing(
                    r.get("id"),
                    r.get("name"),
                    r.get::<&str, _>("status"),
                    r.get("created_ms"),
                    r.get("send_at"),
                    r.get("expires_at"),
                )
            })
            .collect()
    }

    async fn recipient(&self, id: MailingId, row: i64) -> Result<Option<RecipientRow>, StoreError> {
        sqlx::query(
            "SELECT id, mailing, line, number, state, parts, gateway_ref, reason, done_at
             FROM crm_comms_recipients WHERE id = $1 AND mailing = $2",
        )
        .bind(row)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading a recipient"))?
        .as_ref()
        .map(super::outbox::recipient_row)
        .transpose()
    }

    async fn cancel_recipient(
        &self,
        id: MailingId,
        row: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE crm_comms_recipients SET state = 'cancelled', reason = $1, not_before = NULL
             WHERE id = $2 AND mailing = $3 AND state IN ('pending', 'held')",
        )
        .bind(reason)
        .bind(row)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db("cancelling a recipient"))?
        .rows_affected();
        Ok(n > 0)
    }

    async fn reschedule(
        &self,
        id: MailingId,
        send_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("rescheduling the mailing"))?;
        // The mailing's row locked first: a claim (which reads it) waits.
        let exists: Option<String> =
            sqlx::query_scalar("SELECT status FROM crm_comms_mailings WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the mailing"))?;
        if exists.is_none() {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                format!("there is no mailing {id}"),
            ));
        }
        let started: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM crm_comms_recipients WHERE mailing = $1 AND attempt > 0)",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading the mailing"))?;
        if started {
            return Err(crate::mailing::admin_started(id));
        }
        sqlx::query("UPDATE crm_comms_mailings SET send_at = $1 WHERE id = $2")
            .bind(send_at.map(|t| t.to_string()))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("rescheduling the mailing"))?;
        tx.commit().await.map_err(db("rescheduling the mailing"))
    }
}
