//! The mailing outbox on PostgreSQL: claims, leases, settlements, reports
//! and recovery (the [`Outbox`] contract).

// Why one file above 500 lines: the `Outbox` impl is one block (a trait impl
// cannot be split across files), in the trait's order, and
// `store/sqlite/outbox.rs` has the same methods in the same order so the two
// diff side by side; the SQL helpers above it each serve one of its methods.

use super::*;

fn spec_from_row(row: &PgRow) -> Result<(MailingSpec, MailingStatus), StoreError> {
    StoredMailing {
        id: row.get("id"),
        name: row.get("name"),
        template: row.get("template"),
        sender: row.get("sender"),
        priority: i64::from(row.get::<i32, _>("priority")),
        delivery_report: row.get("delivery_report"),
        send_at: row.get("send_at"),
        send_window: row.get("send_window"),
        expires_at: row.get("expires_at"),
        recipient_hours: row.get("recipient_hours"),
        frequency_cap: row.get("frequency_cap"),
        one_per_number: row.get("one_per_number"),
        default_country: row.get("default_country"),
        max_parts: i64::from(row.get::<i32, _>("max_parts")),
        status: row.get("status"),
    }
    .into_spec()
}

/// A recipient row as the export writes it, from `SELECT id, mailing,
/// line, number, state, parts, gateway_ref, reason, done_at`.
pub(super) fn recipient_row(r: &PgRow) -> Result<RecipientRow, StoreError> {
    Ok(RecipientRow {
        id: r.get("id"),
        line: r.get::<Option<i64>, _>("line").map(|l| l as u64),
        number: r.get("number"),
        state: state_of(r)?,
        parts: r.get::<i32, _>("parts") as u32,
        client_reference: client_reference(r.get("mailing"), r.get("id")),
        reference: r.get("gateway_ref"),
        reason: r.get("reason"),
        done_at: r.get("done_at"),
    })
}

fn state_of(row: &PgRow) -> Result<RecipientState, StoreError> {
    state_named(row.get("state"))
}

async fn apply_to_row(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    id: i64,
    state: &str,
    code: &str,
    description: Option<&str>,
    done_at: Option<&str>,
) -> Result<(), StoreError> {
    let (new_state, reason) = report_effect(state, code, description);
    sqlx::query(
        "UPDATE crm_comms_recipients SET state = $1, reason = COALESCE($2, reason), done_at = $3
         WHERE id = $4",
    )
    .bind(new_state.as_str())
    .bind(reason)
    .bind(done_at)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(db("applying a delivery report"))?;
    Ok(())
}

async fn apply_parked(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    id: i64,
    client_ref: &str,
    gateway_ref: Option<&str>,
) -> Result<(), StoreError> {
    let parked = sqlx::query(
        "DELETE FROM crm_comms_parked_reports
         WHERE client_ref = $1
            OR (client_ref IS NULL AND $2::text IS NOT NULL AND gateway_ref = $2
                AND COALESCE(provider = (SELECT m.gateway FROM crm_comms_mailings m
                                         JOIN crm_comms_recipients r ON r.mailing = m.id
                                         WHERE r.id = $3), true))
         RETURNING id, state, code, description, done_at",
    )
    .bind(client_ref)
    .bind(gateway_ref)
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("applying kept reports"))?;
    let mut parked: Vec<_> = parked.iter().collect();
    parked.sort_by_key(|p| p.get::<i64, _>("id"));
    for p in parked {
        apply_to_row(
            tx,
            id,
            p.get("state"),
            p.get("code"),
            p.get("description"),
            p.get("done_at"),
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Outbox for PgStore {
    async fn create(
        &self,
        spec: &MailingSpec,
        recipients: &mut (dyn Iterator<Item = Prepared> + Send),
    ) -> Result<MailingId, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("creating the mailing"))?;
        let id: MailingId = sqlx::query_scalar(
            "INSERT INTO crm_comms_mailings (name, template, sender, priority, delivery_report,
                send_at, send_window, one_per_number, default_country, max_parts, status,
                expires_at, recipient_hours, frequency_cap)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $13) RETURNING id",
        )
        .bind(&spec.name)
        .bind(spec.template.as_str())
        .bind(spec.sender.as_ref().map(Sender::as_text))
        .bind(i32::from(spec.priority.number()))
        .bind(spec.delivery_report)
        .bind(spec.send_at.map(|t| t.to_string()))
        .bind(spec.window.as_ref().map(ToString::to_string))
        .bind(spec.one_per_number)
        .bind(spec.default_country.as_ref().map(ToString::to_string))
        .bind(spec.limits.max_parts as i32)
        .bind(spec.expires_at.map(|t| t.to_string()))
        .bind(spec.recipient_hours.as_ref().map(ToString::to_string))
        .bind(spec.frequency_cap.as_ref().map(ToString::to_string))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("creating the mailing"))?;
        // COPY in the same transaction: all rows or none.
        let mut copy = tx
            .copy_in_raw(
                "COPY crm_comms_recipients (mailing, line, number, text, encoding, parts, state, reason)
                 FROM STDIN (FORMAT text)",
            )
            .await
            .map_err(db("enqueueing recipients"))?;
        let mut buf = String::with_capacity(1 << 20);
        let mailing = id.to_string();
        for p in &mut *recipients {
            let (state, reason) = match &p.blocked {
                None => (RecipientState::Pending, None),
                Some(r) => (RecipientState::Blocked, Some(r.to_string())),
            };
            buf.push_str(&mailing);
            buf.push('\t');
            match p.line {
                Some(l) => buf.push_str(&l.to_string()),
                None => buf.push_str("\\N"),
            }
            buf.push('\t');
            copy_text(&mut buf, &p.number);
            buf.push('\t');
            copy_text(&mut buf, &p.text);
            buf.push('\t');
            buf.push_str(&p.encoding.to_string());
            buf.push('\t');
            buf.push_str(&p.parts.to_string());
            buf.push('\t');
            buf.push_str(state.as_str());
            buf.push('\t');
            match &reason {
                Some(r) => copy_text(&mut buf, r),
                None => buf.push_str("\\N"),
            }
            buf.push('\n');
            if buf.len() >= 1 << 20 {
                copy.send(buf.as_bytes())
                    .await
                    .map_err(db("enqueueing recipients"))?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_bytes())
                .await
                .map_err(db("enqueueing recipients"))?;
        }
        copy.finish().await.map_err(db("enqueueing recipients"))?;
        tx.commit().await.map_err(db("enqueueing recipients"))?;
        Ok(id)
    }

    async fn mailing(&self, id: MailingId) -> Result<(MailingSpec, MailingStatus), StoreError> {
        let row = sqlx::query("SELECT * FROM crm_comms_mailings WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("reading the mailing"))?
            .ok_or_else(|| {
                StoreError::new(StoreErrorKind::Invalid, format!("there is no mailing {id}"))
            })?;
        spec_from_row(&row)
    }

    async fn set_status(&self, id: MailingId, status: MailingStatus) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("changing the mailing's status"))?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM crm_comms_mailings WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the mailing"))?;
        status_change(id, current.as_deref(), status)?;
        sqlx::query("UPDATE crm_comms_mailings SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("changing the mailing's status"))?;
        if status == MailingStatus::Cancelled {
            sqlx::query(
                "UPDATE crm_comms_recipients SET state = 'cancelled', reason = 'the mailing was cancelled',
                    not_before = NULL
                 WHERE mailing = $1 AND state IN ('pending', 'held')",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("cancelling the mailing"))?;
        }
        tx.commit()
            .await
            .map_err(db("changing the mailing's status"))
    }

    async fn expire_pending(&self, id: MailingId, reason: &str) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE crm_comms_recipients SET state = 'expired', reason = $1, resend = false,
                not_before = NULL
             WHERE mailing = $2 AND state IN ('pending', 'held')",
        )
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db("expiring recipients"))?
        .rows_affected();
        Ok(n)
    }

    async fn hold(&self, rows: &[(Claimed, Timestamp, String)]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|(c, _, _)| c.id).collect();
        let attempts: Vec<i64> = rows.iter().map(|(c, _, _)| c.attempt).collect();
        let until: Vec<i64> = rows.iter().map(|(_, t, _)| t.as_millisecond()).collect();
        let reasons: Vec<&str> = rows.iter().map(|(_, _, r)| r.as_str()).collect();
        let n = sqlx::query(
            "UPDATE crm_comms_recipients r SET state = 'held', not_before = v.until,
                reason = v.reason, lease_until = NULL, worker = NULL, sent_at = NULL
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])
                  AS v(id, attempt, until, reason)
             WHERE r.id = v.id AND r.attempt = v.attempt AND r.state = 'claimed'",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(&until)
        .bind(&reasons)
        .execute(&self.pool)
        .await
        .map_err(db("holding recipients"))?
        .rows_affected();
        Ok(n)
    }

    async fn release_held(&self, id: MailingId, now: Timestamp) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE crm_comms_recipients SET state = 'pending', not_before = NULL, reason = NULL
             WHERE mailing = $1 AND state = 'held' AND not_before <= $2",
        )
        .bind(id)
        .bind(now.as_millisecond())
        .execute(&self.pool)
        .await
        .map_err(db("releasing held recipients"))?
        .rows_affected();
        Ok(n)
    }

    async fn next_held(&self, id: MailingId) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(not_before) FROM crm_comms_recipients
             WHERE mailing = $1 AND state = 'held'",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(db("reading when held recipients are due"))?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    async fn claim(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_as(RecipientState::Claimed, id, worker, max, lease)
            .await
    }

    async fn claim_sending(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_as(RecipientState::Sending, id, worker, max, lease)
            .await
    }

    async fn mark_sending(
        &self,
        rows: &[Claimed],
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        let attempts: Vec<i64> = rows.iter().map(|c| c.attempt).collect();
        let ours: Vec<i64> = sqlx::query_scalar(
            "UPDATE crm_comms_recipients r SET state = 'sending',
                lease_until = now() + $1 * interval '1 millisecond',
                sent_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
             FROM UNNEST($2::bigint[], $3::bigint[]) AS v(id, attempt)
             WHERE r.id = v.id AND r.attempt = v.attempt AND r.state = 'claimed'
             RETURNING r.id",
        )
        .bind(ms(lease))
        .bind(&ids)
        .bind(&attempts)
        .fetch_all(&self.pool)
        .await
        .map_err(db("marking recipients as sending"))?;
        let ours: HashSet<i64> = ours.into_iter().collect();
        Ok(rows
            .iter()
            .filter(|c| ours.contains(&c.id))
            .cloned()
            .collect())
    }

    async fn extend(&self, rows: &[Claimed], lease: Duration) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        let attempts: Vec<i64> = rows.iter().map(|c| c.attempt).collect();
        sqlx::query(
            "UPDATE crm_comms_recipients r SET lease_until = now() + $1 * interval '1 millisecond'
             FROM UNNEST($2::bigint[], $3::bigint[]) AS v(id, attempt)
             WHERE r.id = v.id AND r.attempt = v.attempt AND r.state IN ('claimed', 'sending')",
        )
        .bind(ms(lease))
        .bind(&ids)
        .bind(&attempts)
        .execute(&self.pool)
        .await
        .map_err(db("extending leases"))?;
        Ok(())
    }

    async fn settle(&self, results: &[(Claimed, Settlement)]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(results.len());
        let mut attempts = Vec::with_capacity(results.len());
        let mut states = Vec::with_capacity(results.len());
        let mut references: Vec<Option<String>> = Vec::with_capacity(results.len());
        let mut reasons: Vec<Option<String>> = Vec::with_capacity(results.len());
        let mut retries = Vec::with_capacity(results.len());
        for (c, s) in results {
            let (state, reference, reason, retry) = settlement_row(s);
            ids.push(c.id);
            attempts.push(c.attempt);
            states.push(state.as_str());
            references.push(reference.map(str::to_owned));
            reasons.push(reason.map(str::to_owned));
            retries.push(i64::from(retry));
        }
        let mut tx = self.pool.begin().await.map_err(db("settling recipients"))?;
        let settled: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "UPDATE crm_comms_recipients r SET state = v.state,
                gateway_ref = COALESCE(v.reference, r.gateway_ref),
                reason = v.reason, lease_until = NULL, worker = NULL,
                retries = r.retries + v.retry, resend = false
             FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                  AS v(id, attempt, state, reference, reason, retry)
             WHERE r.id = v.id AND r.attempt = v.attempt AND r.state IN ('sending', 'unknown')
             RETURNING r.id, r.state, r.gateway_ref",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(&states)
        .bind(&references)
        .bind(&reasons)
        .bind(&retries)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("settling recipients"))?;
        let any_parked: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM crm_comms_parked_reports)")
                .fetch_one(&mut *tx)
                .await
                .map_err(db("settling recipients"))?;
        if any_parked {
            let by_id: std::collections::HashMap<i64, &Claimed> =
                results.iter().map(|(c, _)| (c.id, c)).collect();
            for (id, state, reference) in &settled {
                if !matches!(state.as_str(), "accepted" | "unknown") {
                    continue;
                }
                let Some(c) = by_id.get(id) else { continue };
                apply_parked(&mut tx, *id, &c.client_reference, reference.as_deref()).await?;
            }
        }
        tx.commit().await.map_err(db("settling recipients"))
    }

    async fn recover(
        &self,
        id: MailingId,
        resend_within: Option<Duration>,
    ) -> Result<Recovered, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("recovering"))?;
        let reclaimed = sqlx::query(
            "UPDATE crm_comms_recipients SET state = 'pending', lease_until = NULL, worker = NULL
             WHERE mailing = $1 AND state = 'claimed' AND lease_until < now()",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("recovering claims"))?
        .rows_affected();
        // Resent only while the gateway still remembers the reference: the
        // send's lease ran out less than the horizon ago (the lease is kept
        // on the row, so a resend still waiting past it is given up too).
        let horizon = resend_horizon(resend_within).map(|h| h.as_secs_f64());
        let resend = match horizon {
            Some(secs) => sqlx::query(
                "UPDATE crm_comms_recipients SET state = 'pending', resend = true, worker = NULL,
                    reason = 'sent before a crash; resent with the same client reference (the gateway refuses duplicates)'
                 WHERE mailing = $1 AND state = 'sending' AND lease_until < now()
                   AND lease_until >= now() - make_interval(secs => $2)",
            )
            .bind(id)
            .bind(secs)
            .execute(&mut *tx)
            .await
            .map_err(db("recovering sends"))?
            .rows_affected(),
            None => 0,
        };
        let unknown = sqlx::query(
            "UPDATE crm_comms_recipients SET state = 'unknown', lease_until = NULL, worker = NULL,
                reason = 'the sender stopped while the request was out; the gateway may have it'
             WHERE mailing = $1 AND state = 'sending' AND lease_until < now()",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("recovering sends"))?
        .rows_affected()
            + sqlx::query(
                "UPDATE crm_comms_recipients
                 SET state = 'unknown', lease_until = NULL, worker = NULL, resend = false,
                    reason = 'queued for a resend past the gateway''s duplicate window; the gateway may have it'
                 WHERE mailing = $1 AND state = 'pending' AND resend
                   AND lease_until < now() - make_interval(secs => $2)",
            )
            .bind(id)
            .bind(horizon.unwrap_or(0.0))
            .execute(&mut *tx)
            .await
            .map_err(db("recovering sends"))?
            .rows_affected();
        // Reports kept for a row that has since become unknown or queued
        // for a resend (they prove what became of it: no resend), and
        // reports without a client reference kept for a gateway reference
        // that a row of this mailing has since settled with (a report and
        // its settle crossing).
        // Two statements, each driven from the kept reports (a row looked
        // up by its key or its gateway reference): this runs with every
        // recovery, and a mailing may have a million rows.
        let mut kept = sqlx::query(
            "DELETE FROM crm_comms_parked_reports p USING crm_comms_recipients r
             WHERE p.mailing = $1 AND r.id = p.recipient AND r.mailing = $1
               AND (r.state = 'unknown' OR (r.state = 'pending' AND r.resend))
             RETURNING r.id AS rid, p.id, p.state, p.code, p.description, p.done_at",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("applying kept reports"))?;
        kept.extend(
            sqlx::query(
                "DELETE FROM crm_comms_parked_reports p USING crm_comms_recipients r
                 WHERE p.client_ref IS NULL AND r.gateway_ref = p.gateway_ref
                   AND r.mailing = $1 AND r.state IN ('accepted', 'unknown')
                   AND COALESCE(p.provider = (SELECT gateway FROM crm_comms_mailings
                                              WHERE id = $1), true)
                 RETURNING r.id AS rid, p.id, p.state, p.code, p.description, p.done_at",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("applying kept reports"))?,
        );
        let mut kept: Vec<_> = kept.iter().collect();
        kept.sort_by_key(|k| k.get::<i64, _>("id"));
        for k in kept {
            apply_to_row(
                &mut tx,
                k.get("rid"),
                k.get("state"),
                k.get("code"),
                k.get("description"),
                k.get("done_at"),
            )
            .await?;
        }
        // Kept reports of rows final with no use for them, and every kept
        // report past its time.
        sqlx::query(
            "DELETE FROM crm_comms_parked_reports
             WHERE received_at < now() - make_interval(secs => $2)
                OR (mailing = $1 AND EXISTS (
                    SELECT 1 FROM crm_comms_recipients r
                    WHERE r.id = crm_comms_parked_reports.recipient
                      AND r.state IN ('cancelled', 'blocked')))",
        )
        .bind(id)
        .bind(self.keep_reports_for.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(db("forgetting kept reports"))?;
        tx.commit().await.map_err(db("recovering"))?;
        Ok(Recovered {
            reclaimed,
            unknown,
            resend,
        })
    }

    async fn is_finished(&self, id: MailingId) -> Result<bool, StoreError> {
        // The partial indexes of pending and in-flight rows answer it.
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM crm_comms_recipients
                                WHERE mailing = $1 AND state = 'pending')
                AND NOT EXISTS (SELECT 1 FROM crm_comms_recipients
                                WHERE mailing = $1 AND state = 'held')
                AND NOT EXISTS (SELECT 1 FROM crm_comms_recipients
                                WHERE mailing = $1 AND state IN ('claimed', 'sending'))
             FROM crm_comms_mailings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading whether the mailing is finished"))?
        .ok_or_else(|| {
            StoreError::new(StoreErrorKind::Invalid, format!("there is no mailing {id}"))
        })
    }

    async fn stats(&self, id: MailingId) -> Result<Stats, StoreError> {
        let mailing_status: Option<String> =
            sqlx::query_scalar("SELECT status FROM crm_comms_mailings WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading statistics"))?;
        let Some(mailing_status) = mailing_status else {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                format!("there is no mailing {id}"),
            ));
        };
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n, SUM(parts)::bigint AS parts FROM crm_comms_recipients
             WHERE mailing = $1 GROUP BY state",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading statistics"))?;
        let unmatched: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM crm_comms_parked_reports WHERE mailing = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(db("reading statistics"))?;
        stats_from(
            &mailing_status,
            rows.iter().map(|r| {
                (
                    r.get::<String, _>("state"),
                    r.get::<i64, _>("n"),
                    r.get::<Option<i64>, _>("parts").unwrap_or(0),
                )
            }),
            unmatched,
        )
    }

    async fn rows(
        &self,
        id: MailingId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<RecipientRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, mailing, line, number, state, parts, gateway_ref, reason, done_at
             FROM crm_comms_recipients WHERE mailing = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading recipients"))?;
        rows.iter().map(recipient_row).collect()
    }

    async fn apply_report(&self, receipt: &DeliveryReceipt) -> Result<ReportMatch, StoreError> {
        // One statement (one round trip, one durable commit): find the
        // recipient (by client reference; by gateway reference only
        // without one, among rows of the report's gateway that wait for
        // their report, the newest) and lock it, apply the report if it has
        // settled, else keep the report. The lock makes a concurrent settle
        // wait, so it finds the kept report.
        let target = ReportTarget::of(receipt);
        let (mailing, client_id) = target.row();
        let (by_ref, provider) = target.by_gateway();
        let done_at = delivery_time(receipt);
        let state = receipt_state(receipt.state);
        let (new_state, reason) =
            report_effect(state, &receipt.status_code, receipt.description.as_deref());
        let (applied, matched): (bool, Option<(i64, i64, Option<i64>)>) = {
            let row = sqlx::query(
                "WITH r AS (
                SELECT t.id, t.state FROM crm_comms_recipients t
                WHERE (t.id = $1 AND t.mailing = $2)
                   OR ($11::text IS NOT NULL AND t.gateway_ref = $11
                       AND t.state IN ('accepted', 'unknown')
                       AND EXISTS (SELECT 1 FROM crm_comms_mailings m WHERE m.id = t.mailing
                                   AND (m.gateway IS NULL OR m.gateway = $12)))
                ORDER BY t.id DESC LIMIT 1
                FOR UPDATE),
             u AS (
                UPDATE crm_comms_recipients t
                SET state = $4, reason = COALESCE($5, t.reason), done_at = $6
                FROM r WHERE t.id = r.id
                  AND r.state IN ('accepted', 'unknown', 'delivered', 'failed')
                RETURNING t.id, t.mailing, t.sent_at),
             p AS (
                INSERT INTO crm_comms_parked_reports
                    (client_ref, gateway_ref, state, code, description, done_at,
                     mailing, recipient, provider)
                SELECT $7, $3, $8, $9, $10, $6, $2, $1, $13 WHERE NOT EXISTS (SELECT 1 FROM u)
                RETURNING id)
             SELECT EXISTS (SELECT 1 FROM u) OR NOT EXISTS (SELECT 1 FROM p) AS applied,
                    (SELECT id FROM u) AS id, (SELECT mailing FROM u) AS mailing,
                    (SELECT sent_at FROM u) AS sent_at",
            )
            .bind(client_id)
            .bind(mailing)
            .bind(&receipt.reference)
            .bind(new_state.as_str())
            .bind(reason)
            .bind(&done_at)
            .bind(report_client_ref(receipt))
            .bind(state)
            .bind(&receipt.status_code)
            .bind(receipt.description.as_deref())
            .bind(by_ref)
            .bind(provider)
            .bind(receipt.provider)
            .fetch_one(&self.pool)
            .await
            .map_err(db("matching a report"))?;
            let id: Option<i64> = row.get("id");
            (
                row.get("applied"),
                id.map(|id| (id, row.get("mailing"), row.get("sent_at"))),
            )
        };
        Ok(match (applied, matched) {
            (true, Some((id, mailing, sent_at))) => {
                ReportMatch::Applied(MatchedRow::new(MailingId::new(mailing), id, sent_at))
            }
            // Applied to nothing and kept nowhere: a row-less report
            // the store had no reason to keep (never happens: kept).
            _ => ReportMatch::Parked,
        })
    }

    async fn note_gateway(&self, id: MailingId, gateway: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE crm_comms_mailings SET gateway = $2 WHERE id = $1")
            .bind(id)
            .bind(gateway)
            .execute(&self.pool)
            .await
            .map_err(db("noting the mailing's gateway"))?;
        Ok(())
    }

    async fn apply_reports(
        &self,
        receipts: &[DeliveryReceipt],
    ) -> Result<Vec<ReportMatch>, StoreError> {
        if receipts.len() <= 1 {
            let mut out = Vec::new();
            for r in receipts {
                out.push(self.apply_report(r).await?);
            }
            return Ok(out);
        }
        // One statement for the push: every recipient a report names is
        // locked, settled ones get their report, the other reports are kept.
        let n = receipts.len();
        let mut cid = Vec::with_capacity(n);
        let mut mailing = Vec::with_capacity(n);
        let mut gref = Vec::with_capacity(n);
        let mut new_state = Vec::with_capacity(n);
        let mut reason: Vec<Option<String>> = Vec::with_capacity(n);
        let mut done_at: Vec<Option<String>> = Vec::with_capacity(n);
        let mut cref: Vec<Option<String>> = Vec::with_capacity(n);
        let mut rstate = Vec::with_capacity(n);
        let mut code = Vec::with_capacity(n);
        let mut descr: Vec<Option<String>> = Vec::with_capacity(n);
        let mut by_ref: Vec<Option<String>> = Vec::with_capacity(n);
        let mut provider = Vec::with_capacity(n);
        for r in receipts {
            let target = ReportTarget::of(r);
            let (m, id) = target.row();
            let state = receipt_state(r.state);
            let (ns, why) = report_effect(state, &r.status_code, r.description.as_deref());
            cid.push(id);
            mailing.push(m.map(MailingId::get));
            gref.push(r.reference.clone());
            new_state.push(ns.as_str());
            reason.push(why);
            done_at.push(Some(delivery_time(r)));
            cref.push(report_client_ref(r).map(str::to_owned));
            rstate.push(state);
            code.push(r.status_code.clone());
            descr.push(r.description.clone());
            by_ref.push(target.by_gateway().0.map(str::to_owned));
            provider.push(r.provider);
        }
        // Each report's row is chosen first (by client reference; by
        // gateway reference only without one, among rows of the report's
        // gateway that wait for their report, the newest), then the rows
        // are locked in row order (no deadlock between receivers).
        let applied: Vec<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "WITH v AS (
                SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[],
                                     $5::text[], $6::text[], $7::text[], $8::text[],
                                     $9::text[], $10::text[], $11::text[], $12::text[])
                WITH ORDINALITY AS v(cid, mailing, gref, new_state, reason, done_at,
                                     cref, rstate, code, descr, byref, provider, n)),
             c AS (
                SELECT v.n, x.id FROM v CROSS JOIN LATERAL (
                    SELECT t.id FROM crm_comms_recipients t
                    WHERE (t.id = v.cid AND t.mailing = v.mailing)
                       OR (v.byref IS NOT NULL AND t.gateway_ref = v.byref
                           AND t.state IN ('accepted', 'unknown')
                           AND EXISTS (SELECT 1 FROM crm_comms_mailings mm
                                       WHERE mm.id = t.mailing
                                         AND (mm.gateway IS NULL OR mm.gateway = v.provider)))
                    ORDER BY t.id DESC LIMIT 1) x),
             l AS (
                SELECT t.id, t.state FROM crm_comms_recipients t
                WHERE t.id IN (SELECT id FROM c)
                ORDER BY t.id
                FOR UPDATE),
             m AS (SELECT c.n, l.id, l.state FROM c JOIN l ON l.id = c.id),
             u AS (
                UPDATE crm_comms_recipients t
                SET state = v.new_state, reason = COALESCE(v.reason, t.reason),
                    done_at = v.done_at
                FROM m JOIN v ON v.n = m.n
                WHERE t.id = m.id AND m.state IN ('accepted', 'unknown', 'delivered', 'failed')
                RETURNING m.n, t.id, t.mailing, t.sent_at),
             p AS (
                INSERT INTO crm_comms_parked_reports
                    (client_ref, gateway_ref, state, code, description, done_at,
                     mailing, recipient, provider)
                SELECT v.cref, v.gref, v.rstate, v.code, v.descr, v.done_at,
                       v.mailing, v.cid, v.provider
                FROM v WHERE v.n NOT IN (SELECT n FROM u)
                RETURNING 1)
             SELECT DISTINCT ON (n) n, id, mailing, sent_at FROM u",
        )
        .bind(&cid)
        .bind(&mailing)
        .bind(&gref)
        .bind(&new_state)
        .bind(&reason)
        .bind(&done_at)
        .bind(&cref)
        .bind(&rstate)
        .bind(&code)
        .bind(&descr)
        .bind(&by_ref)
        .bind(&provider)
        .fetch_all(&self.pool)
        .await
        .map_err(db("matching reports"))?;
        let applied: std::collections::HashMap<i64, MatchedRow> = applied
            .into_iter()
            .map(|(n, id, mailing, sent_at)| {
                (n, MatchedRow::new(MailingId::new(mailing), id, sent_at))
            })
            .collect();
        Ok((1..=n as i64)
            .map(|i| {
                applied
                    .get(&i)
                    .map_or(ReportMatch::Parked, |m| ReportMatch::Applied(*m))
            })
            .collect())
    }

    async fn remove(&self, id: MailingId) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("removing the mailing"))?;
        for sql in [
            "DELETE FROM crm_comms_parked_reports WHERE mailing = $1",
            "DELETE FROM crm_comms_recipients WHERE mailing = $1",
            "DELETE FROM crm_comms_mailings WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db("removing the mailing"))?;
        }
        tx.commit().await.map_err(db("removing the mailing"))
    }

    async fn sends_since(
        &self,
        asking: &[i64],
        since: Timestamp,
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        if asking.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT number, MAX(n) FROM (
                 SELECT a.id, a.number, COUNT(r.id) AS n
                 FROM crm_comms_recipients a
                 JOIN crm_comms_recipients r ON r.number = a.number AND r.sent_at >= $2
                 WHERE a.id = ANY($1) AND NOT (r.id = ANY($1))
                   AND (r.state IN ('accepted', 'delivered', 'unknown')
                        OR (r.state = 'sending'
                            AND (r.sent_at < a.sent_at
                                 OR (r.sent_at = a.sent_at AND r.id < a.id))))
                 GROUP BY a.id, a.number) c
             GROUP BY number",
        )
        .bind(asking)
        .bind(since.as_millisecond())
        .fetch_all(&self.pool)
        .await
        .map_err(db("counting recent sends"))?;
        Ok(rows.into_iter().map(|(n, c)| (n, c as u64)).collect())
    }

    async fn opt_out(&self, number: &str, source: &str) -> Result<(), StoreError> {
        use crate::mailing::{ConsentAction, ConsentEntry, Privacy};
        self.record_consent(&ConsentEntry::now(
            number,
            ConsentAction::OptOut,
            source,
            None,
        ))
        .await
        .map(|_| ())
    }

    async fn opted_out_among(&self, numbers: &[&str]) -> Result<HashSet<String>, StoreError> {
        if numbers.is_empty() {
            return Ok(HashSet::new());
        }
        let mut v: HashSet<String> = sqlx::query_scalar::<_, String>(
            "SELECT number FROM crm_comms_opt_out WHERE number = ANY($1)",
        )
        .bind(numbers)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the opt-out list"))?
        .into_iter()
        .collect();
        // Erased after opting out: known by the keyed hash only.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM crm_comms_suppression)")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the suppression list"))?;
        if any {
            let key = self.suppression_key().await?;
            let hashes: Vec<String> = numbers
                .iter()
                .map(|n| crate::mailing::suppression_hash(&key, n))
                .collect();
            let found: HashSet<String> = sqlx::query_scalar::<_, String>(
                "SELECT hash FROM crm_comms_suppression WHERE hash = ANY($1)",
            )
            .bind(&hashes)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the suppression list"))?
            .into_iter()
            .collect();
            v.extend(
                hashes
                    .iter()
                    .zip(numbers)
                    .filter(|(h, _)| found.contains(*h))
                    .map(|(_, n)| (*n).to_owned()),
            );
        }
        Ok(v)
    }

    async fn opted_out(&self) -> Result<HashSet<String>, StoreError> {
        let v: Vec<String> = sqlx::query_scalar("SELECT number FROM crm_comms_opt_out")
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the opt-out list"))?;
        Ok(v.into_iter().collect())
    }

    async fn take_rate(
        &self,
        key: &str,
        cost: u32,
        per_second: std::num::NonZeroU32,
        burst: u32,
    ) -> Result<RateTake, StoreError> {
        // GCRA: the bucket is one "theoretical arrival time"; a take of
        // `cost` moves it `cost` emission intervals on, if that stays within
        // the burst of now.
        let interval_us = 1_000_000.0 / f64::from(per_second.get());
        let cost = cost.min(burst.max(1));
        let step_us = (f64::from(cost) * interval_us) as i64;
        let burst_us = (f64::from(burst.max(1)) * interval_us) as i64;
        sqlx::query(
            "INSERT INTO crm_comms_rate_limits (key, tat) VALUES ($1, now()) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db("taking the rate"))?;
        let mut tx = self.pool.begin().await.map_err(db("taking the rate"))?;
        // Microseconds since the epoch, on the database's clock.
        let (tat, now): (i64, i64) = sqlx::query_as(
            "SELECT (EXTRACT(EPOCH FROM GREATEST(tat, now())) * 1000000)::bigint,
                    (EXTRACT(EPOCH FROM now()) * 1000000)::bigint
             FROM crm_comms_rate_limits WHERE key = $1 FOR UPDATE",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("taking the rate"))?;
        let new_tat = tat + step_us;
        let allowed_at = new_tat - burst_us;
        if allowed_at > now {
            tx.commit().await.map_err(db("taking the rate"))?;
            return Ok(RateTake::Wait(Duration::from_micros(
                (allowed_at - now) as u64,
            )));
        }
        sqlx::query(
            "UPDATE crm_comms_rate_limits SET tat = to_timestamp($2::double precision / 1000000)
             WHERE key = $1",
        )
        .bind(key)
        .bind(new_tat)
        .execute(&mut *tx)
        .await
        .map_err(db("taking the rate"))?;
        tx.commit().await.map_err(db("taking the rate"))?;
        Ok(RateTake::Taken)
    }

    async fn push_rate(&self, key: &str, by: Duration) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE crm_comms_rate_limits SET tat = GREATEST(tat, now()) + $2 * interval '1 millisecond'
             WHERE key = $1",
        )
        .bind(key)
        .bind(ms(by))
        .execute(&self.pool)
        .await
        .map_err(db("pushing the rate back"))?;
        Ok(())
    }
}
