//! Sent messages on SQLite, for delivery tracking (the [`SentStore`]
//! contract).

use super::*;

fn record_from(row: &SqliteRow) -> Result<SentRecord, StoreError> {
    sent_record(
        row.get("key"),
        row.get("provider"),
        row.get("reference"),
        row.get("client_ref"),
        row.get("recipient"),
    )
}

#[async_trait]
impl SentStore for SqliteStore {
    async fn put(&self, records: Vec<SentRecord>) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for r in &records {
            let updated = match (&r.client_reference, &r.reference) {
                (Some(c), _) => sqlx::query(
                    "UPDATE sent SET key = ?, provider = ?, reference = ?
                     WHERE client_ref = ? AND recipient = ?",
                )
                .bind(&r.key)
                .bind(&r.provider)
                .bind(&r.reference)
                .bind(c)
                .bind(r.recipient.e164()),
                (None, Some(g)) => sqlx::query(
                    "UPDATE sent SET key = ?, provider = ?, recipient = ?
                     WHERE reference = ? AND client_ref IS NULL",
                )
                .bind(&r.key)
                .bind(&r.provider)
                .bind(r.recipient.e164())
                .bind(g),
                (None, None) => continue,
            }
            .execute(&mut *tx)
            .await
            .map_err(db("keeping sent messages"))?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO sent (key, provider, reference, client_ref, recipient)
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(&r.key)
                .bind(&r.provider)
                .bind(&r.reference)
                .bind(&r.client_reference)
                .bind(r.recipient.e164())
                .execute(&mut *tx)
                .await
                .map_err(db("keeping sent messages"))?;
            }
        }
        tx.commit().await.map_err(db("keeping sent messages"))
    }

    async fn by_reference(&self, reference: &str) -> Result<Option<SentRecord>, StoreError> {
        sqlx::query("SELECT * FROM sent WHERE reference = ? ORDER BY id DESC LIMIT 1")
            .bind(reference)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("finding a sent message"))?
            .as_ref()
            .map(record_from)
            .transpose()
    }

    async fn by_client_reference(
        &self,
        client_reference: &str,
        recipient: Option<&PhoneNumber>,
    ) -> Result<Option<SentRecord>, StoreError> {
        let row = match recipient {
            Some(n) => sqlx::query(
                "SELECT * FROM sent WHERE client_ref = ? AND recipient = ? ORDER BY id DESC LIMIT 1",
            )
            .bind(client_reference)
            .bind(n.e164()),
            None => sqlx::query("SELECT * FROM sent WHERE client_ref = ? ORDER BY id DESC LIMIT 1")
                .bind(client_reference),
        }
        .fetch_optional(&self.pool)
        .await
        .map_err(db("finding a sent message"))?;
        row.as_ref().map(record_from).transpose()
    }
}
