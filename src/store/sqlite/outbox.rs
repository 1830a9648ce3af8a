//! The mailing outbox on SQLite: claims, leases, settlements, reports
//! and recovery (the [`Outbox`] contract).

// Why one file above 500 lines: the `Outbox` impl is one block (a trait impl
// cannot be split across files), in the trait's order, and
// `store/postgres/outbox.rs` has the same methods in the same order so the
// two diff side by side; the SQL helpers above it each serve one of its
// methods.

use super::*;

/// `[[id, attempt], …]` as JSON, for one set-based statement.
fn id_attempts(rows: &[Claimed]) -> String {
    let mut out = String::with_capacity(rows.len() * 16 + 2);
    out.push('[');
    for (i, c) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("[{},{}]", c.id, c.attempt));
    }
    out.push(']');
    out
}

/// Applies the reports kept for row `id` and forgets them: those its
/// client reference names, and those without a client reference whose
/// gateway reference it has just settled with (from its mailing's
/// gateway).
async fn apply_parked(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    id: i64,
    client_ref: &str,
    gateway_ref: Option<&str>,
) -> Result<(), StoreError> {
    let parked = sqlx::query(
        "SELECT id, state, code, description, done_at FROM parked_reports
         WHERE client_ref = ?1
            OR (client_ref IS NULL AND ?2 IS NOT NULL AND gateway_ref = ?2
                AND COALESCE(provider = (SELECT m.gateway FROM mailings m
                                         JOIN recipients r ON r.mailing = m.id
                                         WHERE r.id = ?3), 1))
         ORDER BY id",
    )
    .bind(client_ref)
    .bind(gateway_ref)
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(db("applying kept reports"))?;
    apply_kept(tx, parked.iter().map(|p| (id, p))).await
}

/// Applies kept reports (`parked_reports` rows) to their recipient rows and
/// deletes them.
async fn apply_kept(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    kept: impl Iterator<Item = (i64, &SqliteRow)>,
) -> Result<(), StoreError> {
    for (row, p) in kept {
        apply_to_row(
            tx,
            row,
            p.get("state"),
            p.get("code"),
            p.get("description"),
            p.get("done_at"),
        )
        .await?;
        sqlx::query("DELETE FROM parked_reports WHERE id = ?")
            .bind(p.get::<i64, _>("id"))
            .execute(&mut **tx)
            .await
            .map_err(db("applying kept reports"))?;
    }
    Ok(())
}

/// Forgets kept reports of mailing `id` whose row is final with no use for
/// them (cancelled, blocked), and every kept report received before
/// `before` (ms). Driven from the kept reports (each row looked up by its
/// key): it runs with every recovery, and a mailing may have a million
/// rows.
async fn forget_kept(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    id: MailingId,
    before: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM parked_reports WHERE received_at < ?2
            OR (mailing = ?1 AND EXISTS (
                SELECT 1 FROM recipients r WHERE r.id = parked_reports.recipient
                  AND r.state IN ('cancelled', 'blocked')))",
    )
    .bind(id)
    .bind(before)
    .execute(&mut **tx)
    .await
    .map_err(db("forgetting kept reports"))?;
    Ok(())
}

/// Claims up to `max` pending recipients of an active mailing into
/// `state` (claimed, or sending at once), with a new attempt number, in
/// the caller's write transaction.
pub(super) async fn claim_in(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    state: RecipientState,
    id: MailingId,
    worker: &str,
    max: usize,
    lease: Duration,
) -> Result<Vec<Claimed>, StoreError> {
    // The batch comes back as one JSON row (a row per recipient costs
    // a round trip through sqlx's worker each), then one range update
    // takes exactly those rows: the write lock is held, so the pending
    // rows up to the last id are the ones just read.
    let (batch, last): (Option<String>, Option<i64>) = sqlx::query_as(
        "SELECT json_group_array(json_array(id, attempt + 1, number, text, parts, resend, retries)),
                max(id)
         FROM (SELECT r.id, r.attempt, r.number, r.text, r.parts, r.resend, r.retries
               FROM recipients r INDEXED BY recipients_pending
               WHERE r.mailing = ?1 AND r.state = 'pending'
                 AND EXISTS (SELECT 1 FROM mailings m WHERE m.id = ?1 AND m.status = 'active')
               ORDER BY r.id LIMIT ?2)",
    )
    .bind(id)
    .bind(max as i64)
    .fetch_one(&mut **tx)
    .await
    .map_err(db("claiming recipients"))?;
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    sqlx::query(
        "UPDATE recipients SET state = ?, attempt = attempt + 1, lease_until = ?, worker = ?,
            sent_at = ?
         WHERE mailing = ? AND state = 'pending' AND id <= ?",
    )
    .bind(state.as_str())
    .bind(now_ms() + ms(lease))
    .bind(worker)
    .bind((state == RecipientState::Sending).then(now_ms))
    .bind(id)
    .bind(last)
    .execute(&mut **tx)
    .await
    .map_err(db("claiming recipients"))?;
    type Row = (i64, i64, String, String, u32, i64, i64);
    let rows: Vec<Row> = serde_json::from_str(batch.as_deref().unwrap_or("[]")).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Other,
            format!("SQLite: reading a claimed batch: {e}"),
        )
    })?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|(row, attempt, number, text, parts, resend, retries)| {
            Ok(Claimed {
                id: row,
                attempt,
                number: claimed_number(row, &number)?,
                text,
                parts,
                client_reference: client_reference(id, row),
                resend: resend != 0,
                retries,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Holds `rows` still at their attempt and in state `from` (claimed; or
/// sending when claimed straight into it in the same transaction, so never
/// committed as sending), in the caller's write transaction.
async fn hold_in(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    rows: &[(Claimed, Timestamp, String)],
    from: RecipientState,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let v: Vec<(i64, i64, i64, &str)> = rows
        .iter()
        .map(|(c, until, reason)| (c.id, c.attempt, until.as_millisecond(), reason.as_str()))
        .collect();
    Ok(sqlx::query(
        "UPDATE recipients SET state = 'held', not_before = v.until, reason = v.reason,
            lease_until = NULL, worker = NULL, sent_at = NULL
         FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS until,
                      value ->> 3 AS reason FROM json_each(?)) AS v
         WHERE recipients.id = v.id AND recipients.attempt = v.attempt
           AND recipients.state = ?",
    )
    .bind(to_json(&v)?)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db("holding recipients"))?
    .rows_affected())
}

/// Claims straight into sending and holds what `hold` picks, in the
/// caller's write transaction (see [`Outbox::claim_sending_holding`]).
async fn claim_holding_in(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    id: MailingId,
    worker: &str,
    max: usize,
    lease: Duration,
    hold: HoldCheck<'_>,
) -> Result<(Vec<Claimed>, u64), StoreError> {
    let claimed = claim_in(tx, RecipientState::Sending, id, worker, max, lease).await?;
    let mut send = Vec::with_capacity(claimed.len());
    let mut held = Vec::new();
    for c in claimed {
        match hold(&c) {
            Some((at, why)) => held.push((c, at, why)),
            None => send.push(c),
        }
    }
    let n = hold_in(tx, &held, RecipientState::Sending).await?;
    Ok((send, n))
}

/// A batch's settlements as JSON for the set-based updates, made before
/// the write lock is taken: plain acceptances (the common case) as
/// `[id, attempt, ref]`, the rest with their state, reason and retry.
struct SettleRows {
    plain: Option<String>,
    other: Option<String>,
}

fn settle_rows(results: &[(Claimed, Settlement)]) -> Result<SettleRows, StoreError> {
    let mut plain = Vec::with_capacity(results.len());
    let mut other = Vec::new();
    for (c, s) in results {
        match settlement_row(s) {
            (RecipientState::Accepted, Some(reference), None, false) => {
                plain.push((c.id, c.attempt, reference));
            }
            (state, reference, reason, retry) => other.push((
                c.id,
                c.attempt,
                state.as_str(),
                reference,
                reason,
                i64::from(retry),
            )),
        }
    }
    Ok(SettleRows {
        plain: (!plain.is_empty()).then(|| to_json(&plain)).transpose()?,
        other: (!other.is_empty()).then(|| to_json(&other)).transpose()?,
    })
}

/// Writes outcomes in the caller's write transaction (see
/// [`Outbox::settle`]).
async fn settle_in(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    rows: SettleRows,
    results: &[(Claimed, Settlement)],
) -> Result<(), StoreError> {
    let SettleRows { plain, other } = rows;
    // Kept reports are looked for only when there are any (under the
    // write lock: none can be kept meanwhile).
    let any_parked: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM parked_reports)")
        .fetch_one(&mut **tx)
        .await
        .map_err(db("settling recipients"))?;
    let returning = if any_parked {
        " RETURNING recipients.id, recipients.state, recipients.gateway_ref"
    } else {
        ""
    };
    // One statement per kind, fenced: only rows still at this attempt
    // and sending (or turned unknown by a reaper while the answer was
    // late: the answer knows better).
    let statements = [
        plain.map(|rows| {
            (
                format!(
                    "UPDATE recipients SET state = 'accepted', gateway_ref = v.reference,
                        reason = NULL, lease_until = NULL, worker = NULL, resend = 0
                     FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt,
                                  value ->> 2 AS reference
                           FROM json_each(?)) AS v
                     WHERE recipients.id = v.id AND recipients.attempt = v.attempt
                       AND recipients.state IN ('sending', 'unknown'){returning}"
                ),
                rows,
            )
        }),
        other.map(|rows| {
            (
                format!(
                    "UPDATE recipients SET state = v.state,
                        gateway_ref = COALESCE(v.reference, recipients.gateway_ref),
                        reason = v.reason, lease_until = NULL, worker = NULL,
                        retries = recipients.retries + v.retry, resend = 0
                     FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt, value ->> 2 AS state,
                                  value ->> 3 AS reference, value ->> 4 AS reason, value ->> 5 AS retry
                           FROM json_each(?)) AS v
                     WHERE recipients.id = v.id AND recipients.attempt = v.attempt
                       AND recipients.state IN ('sending', 'unknown'){returning}"
                ),
                rows,
            )
        }),
    ];
    let mut settled: Vec<(i64, String, Option<String>)> = Vec::new();
    for (sql, rows) in statements.into_iter().flatten() {
        let q = sqlx::query(&sql).bind(rows);
        if any_parked {
            let rows = q
                .fetch_all(&mut **tx)
                .await
                .map_err(db("settling recipients"))?;
            settled.extend(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))));
        } else {
            q.execute(&mut **tx)
                .await
                .map_err(db("settling recipients"))?;
        }
    }
    let mailing_of: std::collections::HashMap<i64, &Claimed> =
        results.iter().map(|(c, _)| (c.id, c)).collect();
    for (id, state, reference) in &settled {
        if !matches!(state.as_str(), "accepted" | "unknown") {
            continue;
        }
        let Some(c) = mailing_of.get(id) else {
            continue;
        };
        apply_parked(tx, *id, &c.client_reference, reference.as_deref()).await?;
    }
    Ok(())
}

fn spec_from_row(row: &SqliteRow) -> Result<(MailingSpec, MailingStatus), StoreError> {
    StoredMailing {
        id: row.get("id"),
        name: row.get("name"),
        template: row.get("template"),
        sender: row.get("sender"),
        priority: row.get("priority"),
        delivery_report: row.get::<i64, _>("delivery_report") != 0,
        send_at: row.get("send_at"),
        send_window: row.get("send_window"),
        expires_at: row.get("expires_at"),
        recipient_hours: row.get("recipient_hours"),
        frequency_cap: row.get("frequency_cap"),
        one_per_number: row.get::<i64, _>("one_per_number") != 0,
        default_country: row.get("default_country"),
        max_parts: row.get("max_parts"),
        status: row.get("status"),
    }
    .into_spec()
}

/// A recipient row as the export writes it, from `SELECT id, mailing,
/// line, number, state, parts, gateway_ref, reason, done_at`.
pub(super) fn recipient_row(r: &SqliteRow) -> Result<RecipientRow, StoreError> {
    Ok(RecipientRow {
        id: r.get("id"),
        line: r.get::<Option<i64>, _>("line").map(|l| l as u64),
        number: r.get("number"),
        state: state_of(r)?,
        parts: r.get::<i64, _>("parts") as u32,
        client_reference: client_reference(r.get("mailing"), r.get("id")),
        reference: r.get("gateway_ref"),
        reason: r.get("reason"),
        done_at: r.get("done_at"),
    })
}

fn state_of(row: &SqliteRow) -> Result<RecipientState, StoreError> {
    state_named(row.get("state"))
}

/// Applies a report to row `id` (whose state allows it).
async fn apply_to_row(
    tx: &mut sqlx::Transaction<'static, Sqlite>,
    id: i64,
    state: &str,
    code: &str,
    description: Option<&str>,
    done_at: Option<&str>,
) -> Result<(), StoreError> {
    let (new_state, reason) = report_effect(state, code, description);
    sqlx::query(
        "UPDATE recipients SET state = ?, reason = COALESCE(?, reason), done_at = ?
         WHERE id = ?",
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

#[async_trait]
impl Outbox for SqliteStore {
    async fn create(
        &self,
        spec: &MailingSpec,
        recipients: &mut (dyn Iterator<Item = Prepared> + Send),
    ) -> Result<MailingId, StoreError> {
        let mut tx = self.write().await?;
        let id: MailingId = sqlx::query_scalar(
            "INSERT INTO mailings (name, template, sender, priority, delivery_report, send_at,
                send_window, one_per_number, default_country, max_parts, status, created_at,
                expires_at, recipient_hours, frequency_cap)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?) RETURNING id",
        )
        .bind(&spec.name)
        .bind(spec.template.as_str())
        .bind(spec.sender.as_ref().map(Sender::as_text))
        .bind(i64::from(spec.priority.number()))
        .bind(i64::from(spec.delivery_report))
        .bind(spec.send_at.map(|t| t.to_string()))
        .bind(spec.window.as_ref().map(ToString::to_string))
        .bind(i64::from(spec.one_per_number))
        .bind(spec.default_country.as_ref().map(ToString::to_string))
        .bind(spec.limits.max_parts as i64)
        .bind(now_ms())
        .bind(spec.expires_at.map(|t| t.to_string()))
        .bind(spec.recipient_hours.as_ref().map(ToString::to_string))
        .bind(spec.frequency_cap.as_ref().map(ToString::to_string))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("creating the mailing"))?;
        // Each chunk is inserted by sqlx's worker thread while this one
        // prepares the next (rendering and measuring cost about as much as
        // inserting).
        let mut next: Vec<Prepared> = (&mut *recipients).take(INSERT_CHUNK).collect();
        while !next.is_empty() {
            let chunk = std::mem::take(&mut next);
            let mut q: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "INSERT INTO recipients (mailing, line, number, text, encoding, parts, state, reason) ",
            );
            q.push_values(&chunk, |mut b, p| {
                let (state, reason) = match &p.blocked {
                    None => (RecipientState::Pending, None),
                    Some(r) => (RecipientState::Blocked, Some(r.to_string())),
                };
                b.push_bind(id)
                    .push_bind(p.line.map(|l| l as i64))
                    .push_bind(&p.number)
                    .push_bind(&p.text)
                    .push_bind(p.encoding.as_str())
                    .push_bind(i64::from(p.parts))
                    .push_bind(state.as_str())
                    .push_bind(reason);
            });
            let insert = q.build().execute(&mut *tx);
            let prepare = async { (&mut *recipients).take(INSERT_CHUNK).collect::<Vec<_>>() };
            // `join` polls the insert first (handing it to the worker),
            // then prepares.
            let (inserted, prepared) = futures_util::future::join(insert, prepare).await;
            inserted.map_err(db("enqueueing recipients"))?;
            next = prepared;
        }
        tx.commit().await.map_err(db("enqueueing recipients"))?;
        Ok(id)
    }

    async fn mailing(&self, id: MailingId) -> Result<(MailingSpec, MailingStatus), StoreError> {
        let row = sqlx::query("SELECT * FROM mailings WHERE id = ?")
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
        let mut tx = self.write().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM mailings WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("reading the mailing"))?;
        status_change(id, current.as_deref(), status)?;
        sqlx::query("UPDATE mailings SET status = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("changing the mailing's status"))?;
        if status == MailingStatus::Cancelled {
            sqlx::query(
                "UPDATE recipients SET state = 'cancelled', reason = 'the mailing was cancelled',
                    not_before = NULL
                 WHERE mailing = ? AND state IN ('pending', 'held')",
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
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE recipients SET state = 'expired', reason = ?, resend = 0, not_before = NULL
             WHERE mailing = ? AND state IN ('pending', 'held')",
        )
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("expiring recipients"))?
        .rows_affected();
        tx.commit().await.map_err(db("expiring recipients"))?;
        Ok(n)
    }

    async fn hold(&self, rows: &[(Claimed, Timestamp, String)]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write().await?;
        let n = hold_in(&mut tx, rows, RecipientState::Claimed).await?;
        tx.commit().await.map_err(db("holding recipients"))?;
        Ok(n)
    }

    async fn release_held(&self, id: MailingId, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE recipients INDEXED BY recipients_held
             SET state = 'pending', not_before = NULL, reason = NULL
             WHERE mailing = ? AND state = 'held' AND not_before <= ?",
        )
        .bind(id)
        .bind(now.as_millisecond())
        .execute(&mut *tx)
        .await
        .map_err(db("releasing held recipients"))?
        .rows_affected();
        tx.commit().await.map_err(db("releasing held recipients"))?;
        Ok(n)
    }

    async fn next_held(&self, id: MailingId) -> Result<Option<Timestamp>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(not_before) FROM recipients INDEXED BY recipients_held
             WHERE mailing = ? AND state = 'held'",
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
        let mut tx = self.write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE recipients SET state = 'sending', lease_until = ?, sent_at = ?
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt FROM json_each(?)) AS v
             WHERE recipients.id = v.id AND recipients.attempt = v.attempt
               AND recipients.state = 'claimed'
             RETURNING recipients.id",
        )
        .bind(now_ms() + ms(lease))
        .bind(now_ms())
        .bind(id_attempts(rows))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("marking recipients as sending"))?;
        tx.commit()
            .await
            .map_err(db("marking recipients as sending"))?;
        let ours: HashSet<i64> = ids.into_iter().collect();
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
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE recipients SET lease_until = ?
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS attempt FROM json_each(?)) AS v
             WHERE recipients.id = v.id AND recipients.attempt = v.attempt
               AND recipients.state IN ('claimed', 'sending')",
        )
        .bind(now_ms() + ms(lease))
        .bind(id_attempts(rows))
        .execute(&mut *tx)
        .await
        .map_err(db("extending leases"))?;
        tx.commit().await.map_err(db("extending leases"))
    }

    async fn settle(&self, results: &[(Claimed, Settlement)]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let rows = settle_rows(results)?;
        let mut tx = self.write().await?;
        settle_in(&mut tx, rows, results).await?;
        tx.commit().await.map_err(db("settling recipients"))
    }

    async fn settle_and_claim(
        &self,
        results: &[(Claimed, Settlement)],
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        // One write (one commit) for the steady state of a sending worker.
        let rows = settle_rows(results)?;
        let mut tx = self.write().await?;
        if !results.is_empty() {
            settle_in(&mut tx, rows, results).await?;
        }
        let claimed = claim_in(&mut tx, RecipientState::Sending, id, worker, max, lease).await?;
        tx.commit().await.map_err(db("settling and claiming"))?;
        Ok(claimed)
    }

    async fn claim_sending_holding(
        &self,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
        hold: HoldCheck<'_>,
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        let mut tx = self.write().await?;
        let out = claim_holding_in(&mut tx, id, worker, max, lease, hold).await?;
        tx.commit().await.map_err(db("claiming recipients"))?;
        Ok(out)
    }

    async fn settle_and_claim_holding(
        &self,
        results: &[(Claimed, Settlement)],
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
        hold: HoldCheck<'_>,
    ) -> Result<(Vec<Claimed>, u64), StoreError> {
        let rows = settle_rows(results)?;
        let mut tx = self.write().await?;
        if !results.is_empty() {
            settle_in(&mut tx, rows, results).await?;
        }
        let out = claim_holding_in(&mut tx, id, worker, max, lease, hold).await?;
        tx.commit().await.map_err(db("settling and claiming"))?;
        Ok(out)
    }

    async fn recover(
        &self,
        id: MailingId,
        resend_within: Option<Duration>,
    ) -> Result<Recovered, StoreError> {
        let mut tx = self.write().await?;
        let now = now_ms();
        let reclaimed = sqlx::query(
            "UPDATE recipients SET state = 'pending', lease_until = NULL, worker = NULL
             WHERE mailing = ? AND state = 'claimed' AND lease_until < ?",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("recovering claims"))?
        .rows_affected();
        // Resent only while the gateway still remembers the reference: the
        // send's lease ran out less than the horizon ago (the lease is kept
        // on the row, so a resend still waiting past it is given up too).
        let horizon = resend_horizon(resend_within).map(|h| now - ms(h));
        let resend = match horizon {
            Some(since) => sqlx::query(
                "UPDATE recipients SET state = 'pending', resend = 1, worker = NULL,
                    reason = 'sent before a crash; resent with the same client reference (the gateway refuses duplicates)'
                 WHERE mailing = ? AND state = 'sending' AND lease_until < ? AND lease_until >= ?",
            )
            .bind(id)
            .bind(now)
            .bind(since)
            .execute(&mut *tx)
            .await
            .map_err(db("recovering sends"))?
            .rows_affected(),
            None => 0,
        };
        let unknown = sqlx::query(
            "UPDATE recipients SET state = 'unknown', lease_until = NULL, worker = NULL,
                reason = 'the sender stopped while the request was out; the gateway may have it'
             WHERE mailing = ? AND state = 'sending' AND lease_until < ?",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("recovering sends"))?
        .rows_affected()
            + sqlx::query(
                "UPDATE recipients INDEXED BY recipients_resend
                 SET state = 'unknown', lease_until = NULL, worker = NULL, resend = 0,
                    reason = 'queued for a resend past the gateway''s duplicate window; the gateway may have it'
                 WHERE mailing = ? AND state = 'pending' AND resend = 1 AND lease_until < ?",
            )
            .bind(id)
            .bind(horizon.unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(db("recovering sends"))?
            .rows_affected();
        // A report kept while its row was sending proves what became of
        // it: applied to rows now unknown, and to rows queued for a resend
        // (the gateway had them: no resend).
        let kept = sqlx::query(
            "SELECT p.id, p.recipient, p.state, p.code, p.description, p.done_at
             FROM parked_reports p JOIN recipients r ON r.id = p.recipient AND r.mailing = p.mailing
             WHERE p.mailing = ? AND (r.state = 'unknown' OR (r.state = 'pending' AND r.resend = 1))
             ORDER BY p.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("applying kept reports"))?;
        apply_kept(&mut tx, kept.iter().map(|p| (p.get("recipient"), p))).await?;
        forget_kept(&mut tx, id, now - ms(self.keep_reports_for)).await?;
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
            "SELECT NOT EXISTS (SELECT 1 FROM recipients INDEXED BY recipients_pending
                                WHERE mailing = ?1 AND state = 'pending')
                AND NOT EXISTS (SELECT 1 FROM recipients INDEXED BY recipients_held
                                WHERE mailing = ?1 AND state = 'held')
                AND NOT EXISTS (SELECT 1 FROM recipients INDEXED BY recipients_in_flight
                                WHERE mailing = ?1 AND state IN ('claimed', 'sending'))
             FROM mailings WHERE id = ?1",
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
            sqlx::query_scalar("SELECT status FROM mailings WHERE id = ?")
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
            "SELECT state, COUNT(*) AS n, SUM(parts) AS parts FROM recipients
             WHERE mailing = ? GROUP BY state",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading statistics"))?;
        let unmatched: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM parked_reports WHERE mailing = ?")
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
             FROM recipients WHERE mailing = ? AND id > ? ORDER BY id LIMIT ?",
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
        let target = ReportTarget::of(receipt);
        let done_at = delivery_time(receipt);
        let mut tx = self.write().await?;
        let row = match target {
            ReportTarget::Row { mailing, id } => sqlx::query(
                "SELECT id, mailing, state, sent_at FROM recipients WHERE id = ? AND mailing = ?",
            )
            .bind(id)
            .bind(mailing)
            .fetch_optional(&mut *tx)
            .await,
            // Only rows still waiting for their report: a final row's
            // reference may be the gateway's id again for a send whose
            // answer has not come yet (then the report is kept for it).
            ReportTarget::GatewayRef {
                reference,
                provider,
            } => {
                sqlx::query(
                    "SELECT r.id, r.mailing, r.state, r.sent_at FROM recipients r
                     JOIN mailings m ON m.id = r.mailing
                     WHERE r.gateway_ref = ? AND r.state IN ('accepted', 'unknown')
                       AND (m.gateway IS NULL OR m.gateway = ?)
                     ORDER BY r.id DESC LIMIT 1",
                )
                .bind(reference)
                .bind(provider)
                .fetch_optional(&mut *tx)
                .await
            }
            ReportTarget::Foreign => Ok(None),
        }
        .map_err(db("matching a report"))?;
        let state = receipt_state(receipt.state);
        let settled = row.as_ref().and_then(|r| {
            let s: String = r.get("state");
            matches!(s.as_str(), "accepted" | "unknown" | "delivered" | "failed").then(|| {
                MatchedRow::new(
                    MailingId::new(r.get("mailing")),
                    r.get("id"),
                    r.get("sent_at"),
                )
            })
        });
        let result = if let Some(matched) = settled {
            let id = matched.row;
            apply_to_row(
                &mut tx,
                id,
                state,
                &receipt.status_code,
                receipt.description.as_deref(),
                Some(&done_at),
            )
            .await?;
            ReportMatch::Applied(matched)
        } else {
            let (mailing, recipient) = target.row();
            sqlx::query(
                "INSERT INTO parked_reports (client_ref, gateway_ref, state, code, description,
                    done_at, received_at, mailing, recipient, provider)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(report_client_ref(receipt))
            .bind(&receipt.reference)
            .bind(state)
            .bind(&receipt.status_code)
            .bind(receipt.description.as_deref())
            .bind(&done_at)
            .bind(now_ms())
            .bind(mailing)
            .bind(recipient)
            .bind(receipt.provider)
            .execute(&mut *tx)
            .await
            .map_err(db("keeping a report"))?;
            ReportMatch::Parked
        };
        tx.commit().await.map_err(db("matching a report"))?;
        Ok(result)
    }

    async fn note_gateway(&self, id: MailingId, gateway: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE mailings SET gateway = ? WHERE id = ?")
            .bind(gateway)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db("noting the mailing's gateway"))?;
        Ok(())
    }

    async fn remove(&self, id: MailingId) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        for sql in [
            "DELETE FROM parked_reports WHERE mailing = ?",
            "DELETE FROM recipients WHERE mailing = ?",
            "DELETE FROM mailings WHERE id = ?",
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
                 FROM recipients a
                 JOIN recipients r INDEXED BY recipients_number_sent
                   ON r.number = a.number AND r.sent_at >= ?2
                 WHERE a.id IN (SELECT value FROM json_each(?1))
                   AND r.id NOT IN (SELECT value FROM json_each(?1))
                   AND (r.state IN ('accepted', 'delivered', 'unknown')
                        OR (r.state = 'sending'
                            AND (r.sent_at < a.sent_at
                                 OR (r.sent_at = a.sent_at AND r.id < a.id))))
                 GROUP BY a.id)
             GROUP BY number",
        )
        .bind(to_json(&asking)?)
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
            "SELECT number FROM opt_out WHERE number IN (SELECT value FROM json_each(?))",
        )
        .bind(to_json(&numbers)?)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the opt-out list"))?
        .into_iter()
        .collect();
        // Erased after opting out: known by the keyed hash only.
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM suppression)")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the suppression list"))?;
        if any {
            let key = self.suppression_key().await?;
            let hashes: Vec<(String, &str)> = numbers
                .iter()
                .map(|n| (crate::mailing::suppression_hash(&key, n), *n))
                .collect();
            let list: Vec<&str> = hashes.iter().map(|(h, _)| h.as_str()).collect();
            let found: HashSet<String> = sqlx::query_scalar::<_, String>(
                "SELECT hash FROM suppression WHERE hash IN (SELECT value FROM json_each(?))",
            )
            .bind(to_json(&list)?)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the suppression list"))?
            .into_iter()
            .collect();
            v.extend(
                hashes
                    .iter()
                    .filter(|(h, _)| found.contains(h))
                    .map(|(_, n)| (*n).to_owned()),
            );
        }
        Ok(v)
    }

    async fn opted_out(&self) -> Result<HashSet<String>, StoreError> {
        let v: Vec<String> = sqlx::query_scalar("SELECT number FROM opt_out")
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the opt-out list"))?;
        Ok(v.into_iter().collect())
    }
}
