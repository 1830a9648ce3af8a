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
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row};

use super::rows::{
    ReportTarget, StoredMailing, claimed_number, client_reference, delivery_time, receipt_state,
    report_client_ref, report_effect, sent_record, settlement_row, state_named, stats_from,
    status_change,
};
use super::{StoreError, StoreErrorKind};
use crate::mailing::model::{
    MailingId, MailingSpec, MailingStatus, Prepared, RecipientRow, RecipientState, Stats,
};
use crate::mailing::outbox::{
    Claimed, MatchedRow, Outbox, RateTake, Recovered, ReportMatch, Settlement, resend_horizon,
};
use crate::phone::PhoneNumber;
use crate::sms::tracking::{SentRecord, SentStore};
use crate::sms::{DeliveryReceipt, Sender};

mod admin;
#[cfg(feature = "receiver")]
mod dedup;
mod outbox;
mod privacy;
mod sent;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 6;

/// Each version's migration, in order (index 0 makes version 1).
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001.sql"),
    include_str!("migrations/002.sql"),
    include_str!("migrations/003.sql"),
    include_str!("migrations/004.sql"),
    include_str!("migrations/005.sql"),
    include_str!("migrations/006.sql"),
];

/// How long a delivery report is kept for a recipient that has not settled
/// (or that no row has) before it is forgotten, unless
/// [`PgStore::keep_reports_for`] says otherwise.
pub const KEEP_REPORTS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long [`PgStore::connect`] waits for the first connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The advisory lock key migrations take (`crm-comms` as a number).
const MIGRATION_LOCK: i64 = 0x6372_6d2d_636f_6d6d;

/// The shared store on PostgreSQL: an [`Outbox`] with a rate limit shared
/// by all workers, a [`SentStore`] and (feature `receiver`) a `DedupStore`.
/// Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Connections with `synchronous_commit = off`, for dedup keys only.
    #[cfg_attr(not(feature = "receiver"), allow(dead_code))]
    relaxed: PgPool,
    /// Dedup finishes since the last sweep of expired keys.
    #[cfg_attr(not(feature = "receiver"), allow(dead_code))]
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
        let stored: Option<Option<String>> = if ours {
            Some(
                sqlx::query_scalar("SELECT value FROM crm_comms_meta WHERE key = 'schema_version'")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db("reading the schema version"))?,
            )
        } else {
            None
        };
        let version =
            super::schema::checked_version(stored, SCHEMA_VERSION, "the crm_comms schema")?;
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
                lease_until = now() + $2 * interval '1 millisecond', worker = $3,
                sent_at = CASE WHEN $1 = 'sending'
                               THEN (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                          END
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
            .map(|r| {
                Ok(Claimed {
                    id: r.get("id"),
                    attempt: r.get("attempt"),
                    number: claimed_number(r.get("id"), r.get("number"))?,
                    text: r.get("text"),
                    parts: r.get::<i32, _>("parts") as u32,
                    client_reference: client_reference(r.get("mailing"), r.get("id")),
                    resend: r.get("resend"),
                    retries: r.get("retries"),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }
}
