//! The shared store on PostgreSQL (through `sqlx`): the same outbox, kept
//! reports, opt-out list, sent messages and dedup keys as the embedded
//! store, for many sending workers and many webhook receivers on many
//! machines, in the database the CRM already has.
//!
//! - **Claims** take pending rows with `FOR UPDATE SKIP LOCKED` in one
//!   short statement (no lock is held across a gateway request); leases and
//!   the reaper use the database's clock, so workers' clocks may differ.
//! - **One rate limit across all workers** per key (a gateway account): a
//!   GCRA bucket in one row, taken per batch for the batch's parts and
//!   pushed forward on 429/5xx ([`Outbox::take_rate`]).
//! - **Enqueue** streams the rows with `COPY`, in one transaction per
//!   mailing (escaped, so no text can end its field).
//! - **Tables** are prefixed `crm_comms_` (the CRM's own tables live in the
//!   same database) and versioned in `crm_comms_meta`; migrations take an
//!   advisory lock, so workers starting together migrate once. Nothing
//!   needs superuser rights: the role needs `CREATE` on its schema the
//!   first time, then `SELECT`/`INSERT`/`UPDATE`/`DELETE` on these tables.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row};

use super::rows::{
    ReportTarget, StoredMailing, client_reference, delivery_time, receipt_state, report_effect,
    sent_record, settlement_row, state_named, stats_from, status_change,
};
use super::{StoreError, StoreErrorKind};
use crate::mailing::model::{
    MailingId, MailingSpec, MailingStatus, Prepared, RecipientRow, RecipientState, Stats,
};
use crate::mailing::outbox::{
    Claimed, Outbox, RateTake, Recovered, ReportMatch, Settlement, resend_horizon,
};
use crate::phone::PhoneNumber;
use crate::sms::tracking::{SentRecord, SentStore};
use crate::sms::{DeliveryReceipt, Sender};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 3;

/// Each version's migration, in order (index 0 makes version 1).
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE crm_comms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE crm_comms_mailings (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    sender TEXT,
    priority INTEGER NOT NULL,
    delivery_report BOOLEAN NOT NULL,
    send_at TEXT,
    send_window TEXT,
    one_per_number BOOLEAN NOT NULL,
    default_country TEXT,
    max_parts INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE crm_comms_recipients (
    id BIGSERIAL PRIMARY KEY,
    mailing BIGINT NOT NULL REFERENCES crm_comms_mailings(id),
    line BIGINT,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    encoding TEXT NOT NULL,
    parts INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    resend BOOLEAN NOT NULL DEFAULT false,
    retries BIGINT NOT NULL DEFAULT 0,
    lease_until TIMESTAMPTZ,
    worker TEXT,
    gateway_ref TEXT,
    reason TEXT,
    done_at TEXT
);
CREATE INDEX crm_comms_recipients_mailing ON crm_comms_recipients (mailing);
CREATE INDEX crm_comms_recipients_pending ON crm_comms_recipients (mailing, id) WHERE state = 'pending';
CREATE INDEX crm_comms_recipients_in_flight ON crm_comms_recipients (mailing, lease_until) WHERE state IN ('claimed', 'sending');
CREATE INDEX crm_comms_recipients_gateway_ref ON crm_comms_recipients (gateway_ref) WHERE gateway_ref IS NOT NULL;
CREATE TABLE crm_comms_parked_reports (
    id BIGSERIAL PRIMARY KEY,
    client_ref TEXT,
    gateway_ref TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL,
    description TEXT,
    done_at TEXT,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX crm_comms_parked_client ON crm_comms_parked_reports (client_ref);
CREATE INDEX crm_comms_parked_gateway ON crm_comms_parked_reports (gateway_ref);
CREATE TABLE crm_comms_opt_out (number TEXT PRIMARY KEY, source TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE crm_comms_dedup (
    key TEXT PRIMARY KEY,
    done BOOLEAN NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    claim_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX crm_comms_dedup_until ON crm_comms_dedup (until);
CREATE TABLE crm_comms_sent (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL,
    provider TEXT NOT NULL,
    reference TEXT,
    client_ref TEXT,
    recipient TEXT NOT NULL
);
CREATE UNIQUE INDEX crm_comms_sent_client ON crm_comms_sent (client_ref, recipient) WHERE client_ref IS NOT NULL;
CREATE INDEX crm_comms_sent_reference ON crm_comms_sent (reference) WHERE reference IS NOT NULL;
CREATE TABLE crm_comms_rate_limits (key TEXT PRIMARY KEY, tat TIMESTAMPTZ NOT NULL);
",
    r"
-- Version 2: a recipient's row is updated twice (claimed, settled), never
-- in place (its state is in partial indexes), so each update adds an entry
-- to every B-tree index: the one by mailing cost a third of that. A
-- mailing's rows are written together, so a BRIN index finds them as well
-- at a fraction of the cost.
DROP INDEX crm_comms_recipients_mailing;
CREATE INDEX crm_comms_recipients_mailing_brin ON crm_comms_recipients USING brin (mailing);
",
    r"
-- Version 3: a report changes only the row its client reference names;
-- by gateway reference only without one, among mailings sent through the
-- report's gateway (issue 30). Kept reports know their row and mailing,
-- and expire.
ALTER TABLE crm_comms_mailings ADD COLUMN gateway TEXT;
ALTER TABLE crm_comms_parked_reports ADD COLUMN mailing BIGINT,
    ADD COLUMN recipient BIGINT, ADD COLUMN provider TEXT;
CREATE INDEX crm_comms_parked_row ON crm_comms_parked_reports (mailing, recipient);
CREATE INDEX crm_comms_parked_received ON crm_comms_parked_reports (received_at);
-- Rows queued for a resend, found without scanning the pending ones: a
-- resend waiting past the gateway's duplicate window is given up.
CREATE INDEX crm_comms_recipients_resend ON crm_comms_recipients (mailing, lease_until) WHERE state = 'pending' AND resend;
",
];

/// How long a delivery report is kept for a recipient that has not settled
/// (or that no row has) before it is forgotten, unless
/// [`PgStore::keep_reports_for`] says otherwise.
pub const KEEP_REPORTS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long [`PgStore::connect`] waits for the first connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a dedup claim whose handler never finished blocks redeliveries.
const DEDUP_CLAIM: Duration = Duration::from_secs(60);

/// The advisory lock key migrations take (`crm-comms` as a number).
const MIGRATION_LOCK: i64 = 0x6372_6d2d_636f_6d6d;

/// The shared store on PostgreSQL: an [`Outbox`] with a rate limit shared
/// by all workers, a [`SentStore`] and (feature `receiver`) a `DedupStore`.
/// Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Connections with `synchronous_commit = off`, for dedup keys only.
    relaxed: PgPool,
    /// Dedup finishes since the last sweep of expired keys.
    finishes: Arc<std::sync::atomic::AtomicU64>,
    keep_reports_for: Duration,
}

/// Appends `text` as a field of `COPY … (FORMAT text)`: backslash, tab,
/// newline and carriage return escaped, so no value can end its field or
/// row.
fn copy_text(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A `sqlx` error as a [`StoreError`]: connection, pool and I/O problems,
/// serialization failures and a database shutting down are
/// [`Unavailable`](StoreErrorKind::Unavailable) (try again).
fn db(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| {
        let kind = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
            sqlx::Error::Database(d) => match d.code().as_deref() {
                // serialization_failure, deadlock_detected, admin_shutdown,
                // crash_shutdown, cannot_connect_now, too_many_connections
                Some("40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300") => {
                    StoreErrorKind::Unavailable
                }
                _ => StoreErrorKind::Other,
            },
            _ => StoreErrorKind::Other,
        };
        StoreError::new(kind, format!("PostgreSQL: {what}: {e}")).with_source(e)
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host/db`; the password, if any,
    /// never appears in errors) and brings the schema up to date.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`] when the server cannot be reached;
    /// [`StoreErrorKind::Schema`] when its tables were written by a newer
    /// version of this crate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|_| {
            StoreError::new(
                StoreErrorKind::Invalid,
                "the PostgreSQL URL cannot be read (postgres://user@host:port/database)",
            )
        })?;
        PgStore::connect_with(options).await
    }

    /// Connects with `options` (a schema through `search_path`, TLS, …).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        PgStore::connect_with_timeout(options, CONNECT_TIMEOUT).await
    }

    /// [`connect_with`](Self::connect_with), giving up on the first
    /// connection after `timeout` (default [`CONNECT_TIMEOUT`], 5 s) with
    /// an error that names the host, the port and the cause (not a pool's
    /// "timed out").
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_timeout(
        options: PgConnectOptions,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let at = format!(
            "PostgreSQL at {}:{}",
            options.get_host(),
            options.get_port()
        );
        // One connection first, for the cause: a pool retries quietly
        // until its own timeout and then says only that it timed out.
        match tokio::time::timeout(timeout, sqlx::ConnectOptions::connect(&options)).await {
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
            Ok(Err(e)) => {
                let e = db("connecting")(e);
                return Err(StoreError::new(
                    e.kind(),
                    format!("{at}: cannot connect: {}", e.message()),
                )
                .with_source(e));
            }
            Err(_) => {
                return Err(StoreError::new(
                    StoreErrorKind::Unavailable,
                    format!(
                        "{at}: no connection within {} s (is the server up, and the host and port right?)",
                        timeout.as_secs_f64()
                    ),
                ));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(db("connecting"))?;
        // Dedup keys are written without waiting for the WAL flush: a crash
        // can forget the last few hundred milliseconds of them, and then a
        // redelivery is handled again — what a crash before the answer does
        // anyway. Reports themselves are committed durably (the other pool)
        // before the push is answered.
        let relaxed = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        let store = PgStore {
            pool,
            relaxed,
            finishes: Arc::default(),
            keep_reports_for: KEEP_REPORTS_FOR,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Keeps a delivery report whose recipient has not settled (or that no
    /// row has) for `how_long` after it arrived, then forgets it (default
    /// [`KEEP_REPORTS_FOR`], seven days; forgotten when a runner recovers
    /// the store's mailings).
    #[must_use]
    pub fn keep_reports_for(mut self, how_long: Duration) -> Self {
        self.keep_reports_for = how_long;
        self
    }

    /// The schema version of the connected database.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM crm_comms_meta WHERE key = 'schema_version'")
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading the schema version"))?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db("migrating"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db("migrating"))?;
        let ours: bool = sqlx::query_scalar("SELECT to_regclass('crm_comms_meta') IS NOT NULL")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("migrating"))?;
        let version: i64 = if ours {
            let v: Option<String> =
                sqlx::query_scalar("SELECT value FROM crm_comms_meta WHERE key = 'schema_version'")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("reading the schema version"))?;
            v.and_then(|v| v.parse().ok()).ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Schema,
                    "the crm_comms tables have no readable schema version",
                )
            })?
        } else {
            0
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::new(
                StoreErrorKind::Schema,
                format!(
                    "the crm_comms tables were written by a newer crm-comms (schema version {version}; this build knows up to {SCHEMA_VERSION})"
                ),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(db("migrating the schema"))?;
            sqlx::query(
                "INSERT INTO crm_comms_meta (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind((i + 1).to_string())
            .execute(&mut *tx)
            .await
            .map_err(db("migrating the schema"))?;
        }
        tx.commit().await.map_err(db("migrating the schema"))
    }

    async fn claim_as(
        &self,
        state: RecipientState,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let rows = sqlx::query(
            "UPDATE crm_comms_recipients r SET state = $1, attempt = r.attempt + 1,
                lease_until = now() + $2 * interval '1 millisecond', worker = $3
             FROM (SELECT id FROM crm_comms_recipients
                   WHERE mailing = $4 AND state = 'pending'
                     AND EXISTS (SELECT 1 FROM crm_comms_mailings m
                                 WHERE m.id = $4 AND m.status = 'active')
                   ORDER BY id LIMIT $5
                   FOR UPDATE SKIP LOCKED) c
             WHERE r.id = c.id
             RETURNING r.id, r.mailing, r.attempt, r.number, r.text, r.parts, r.resend, r.retries",
        )
        .bind(state.as_str())
        .bind(ms(lease))
        .bind(worker)
        .bind(id)
        .bind(max as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(db("claiming recipients"))?;
        let mut claimed: Vec<Claimed> = rows
            .iter()
            .map(|r| Claimed {
                id: r.get("id"),
                attempt: r.get("attempt"),
                number: r.get("number"),
                text: r.get("text"),
                parts: r.get::<i32, _>("parts") as u32,
                client_reference: client_reference(r.get("mailing"), r.get("id")),
                resend: r.get("resend"),
                retries: r.get("retries"),
            })
            .collect();
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }
}

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
        one_per_number: row.get("one_per_number"),
        default_country: row.get("default_country"),
        max_parts: i64::from(row.get::<i32, _>("max_parts")),
        status: row.get("status"),
    }
    .into_spec()
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
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO crm_comms_mailings (name, template, sender, priority, delivery_report,
                send_at, send_window, one_per_number, default_country, max_parts, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active') RETURNING id",
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
                "UPDATE crm_comms_recipients SET state = 'cancelled', reason = 'the mailing was cancelled'
                 WHERE mailing = $1 AND state = 'pending'",
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
                lease_until = now() + $1 * interval '1 millisecond'
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
        rows.iter()
            .map(|r| {
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
            })
            .collect()
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
        let applied: bool = sqlx::query_scalar(
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
                RETURNING t.id),
             p AS (
                INSERT INTO crm_comms_parked_reports
                    (client_ref, gateway_ref, state, code, description, done_at,
                     mailing, recipient, provider)
                SELECT $7, $3, $8, $9, $10, $6, $2, $1, $13 WHERE NOT EXISTS (SELECT 1 FROM u)
                RETURNING id)
             SELECT EXISTS (SELECT 1 FROM u) OR NOT EXISTS (SELECT 1 FROM p)",
        )
        .bind(client_id)
        .bind(mailing)
        .bind(&receipt.reference)
        .bind(new_state.as_str())
        .bind(reason)
        .bind(&done_at)
        .bind(
            receipt
                .client_reference
                .as_deref()
                .filter(|c| !c.is_empty()),
        )
        .bind(state)
        .bind(&receipt.status_code)
        .bind(receipt.description.as_deref())
        .bind(by_ref)
        .bind(provider)
        .bind(receipt.provider)
        .fetch_one(&self.pool)
        .await
        .map_err(db("matching a report"))?;
        Ok(if applied {
            ReportMatch::Applied
        } else {
            ReportMatch::Parked
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
            mailing.push(m);
            gref.push(r.reference.clone());
            new_state.push(ns.as_str());
            reason.push(why);
            done_at.push(Some(delivery_time(r)));
            cref.push(r.client_reference.clone().filter(|c| !c.is_empty()));
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
        let applied: Vec<i64> = sqlx::query_scalar(
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
                RETURNING m.n),
             p AS (
                INSERT INTO crm_comms_parked_reports
                    (client_ref, gateway_ref, state, code, description, done_at,
                     mailing, recipient, provider)
                SELECT v.cref, v.gref, v.rstate, v.code, v.descr, v.done_at,
                       v.mailing, v.cid, v.provider
                FROM v WHERE v.n NOT IN (SELECT n FROM u)
                RETURNING 1)
             SELECT DISTINCT n FROM u",
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
        let applied: HashSet<i64> = applied.into_iter().collect();
        Ok((1..=n as i64)
            .map(|i| {
                if applied.contains(&i) {
                    ReportMatch::Applied
                } else {
                    ReportMatch::Parked
                }
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

    async fn opt_out(&self, number: &str, source: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO crm_comms_opt_out (number, source) VALUES ($1, $2)
             ON CONFLICT (number) DO NOTHING",
        )
        .bind(number)
        .bind(source)
        .execute(&self.pool)
        .await
        .map_err(db("adding to the opt-out list"))?;
        Ok(())
    }

    async fn opted_out_among(&self, numbers: &[&str]) -> Result<HashSet<String>, StoreError> {
        if numbers.is_empty() {
            return Ok(HashSet::new());
        }
        let v: Vec<String> =
            sqlx::query_scalar("SELECT number FROM crm_comms_opt_out WHERE number = ANY($1)")
                .bind(numbers)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading the opt-out list"))?;
        Ok(v.into_iter().collect())
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
