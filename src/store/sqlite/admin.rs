//! The operator's tools on SQLite (the [`MailingAdmin`] contract).

use super::*;
use crate::mailing::{MailingAdmin, MailingListing};

#[async_trait]
impl MailingAdmin for SqliteStore {
    async fn list_mailings(&self, limit: usize) -> Result<Vec<MailingListing>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, status, created_at, send_at, expires_at FROM mailings
             ORDER BY id DESC LIMIT ?",
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
                    r.get("created_at"),
                    r.get("send_at"),
                    r.get("expires_at"),
                )
            })
            .collect()
    }

    async fn recipient(&self, id: MailingId, row: i64) -> Result<Option<RecipientRow>, StoreError> {
        sqlx::query(
            "SELECT id, mailing, line, number, state, parts, gateway_ref, reason, done_at
             FROM recipients WHERE id = ? AND mailing = ?",
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
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE recipients SET state = 'cancelled', reason = ?, not_before = NULL
             WHERE id = ? AND mailing = ? AND state IN ('pending', 'held')",
        )
        .bind(reason)
        .bind(row)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("cancelling a recipient"))?
        .rows_affected();
        tx.commit().await.map_err(db("cancelling a recipient"))?;
        Ok(n > 0)
    }

    async fn reschedule(
        &self,
        id: MailingId,
        send_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let started: Option<bool> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM recipients WHERE mailing = ?1 AND attempt > 0)
             FROM mailings WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading the mailing"))?;
        match started {
            None => {
                return Err(StoreError::new(
                    StoreErrorKind::Invalid,
                    format!("there is no mailing {id}"),
                ));
            }
            Some(true) => return Err(crate::mailing::admin_started(id)),
            Some(false) => {}
        }
        sqlx::query("UPDATE mailings SET send_at = ? WHERE id = ?")
            .bind(send_at.map(|t| t.to_string()))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("rescheduling the mailing"))?;
        tx.commit().await.map_err(db("rescheduling the mailing"))
    }
}
