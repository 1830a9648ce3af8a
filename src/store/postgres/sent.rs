//! Sent messages on PostgreSQL, for delivery tracking (the [`SentStore`]
//! contract).

use super::*;

fn record_from(row: &PgRow) -> Result<SentRecord, StoreError> {
    sent_record(
        row.get("key"),
        row.get("provider"),
        row.get("reference"),
        row.get("client_ref"),
        row.get("recipient"),
    )
}

#[async_trait]
impl SentStore for PgStore {
    async fn put(&self, records: Vec<SentRecord>) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("keeping sent messages"))?;
        for r in &records {
            let updated = match (&r.client_reference, &r.reference) {
                (Some(c), _) => sqlx::query(
                    "UPDATE crm_comms_sent SET key = $1, provider = $2, reference = $3
                     WHERE client_ref = $4 AND recipient = $5",
                )
                .bind(&r.key)
                .bind(&r.provider)
                .bind(&r.reference)
                .bind(c)
                .bind(r.recipient.e164()),
                (None, Some(g)) => sqlx::query(
                    "UPDATE crm_comms_sent SET key = $1, provider = $2, recipient = $3
                     WHERE reference = $4 AND client_ref IS NULL",
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
                    "INSERT INTO crm_comms_sent (key, provider, reference, client_ref, recipient)
                     VALUES ($1, $2, $3, $4, $5)",
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
        sqlx::query("SELECT * FROM crm_comms_sent WHERE reference = $1 ORDER BY id DESC LIMIT 1")
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
        let row = sqlx::query(
            "SELECT * FROM crm_comms_sent WHERE client_ref = $1
               AND ($2::text IS NULL OR recipient = $2)
             ORDER BY id DESC LIMIT 1",
        )
        .bind(client_reference)
        .bind(recipient.map(|n| n.e164().to_owned()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db("finding a sent message"))?;
        row.as_ref().map(record_from).transpose()
    }
}
