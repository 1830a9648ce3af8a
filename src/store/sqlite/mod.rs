//! The embedded store: one SQLite file (through `sqlx`) holding mailings'
//! outboxes, delivery reports waiting for their recipient, the opt-out
//! list, sent messages for [`DeliveryTracker`](crate::sms::tracking::DeliveryTracker)
//! and the receiver's dedup keys — no server needed.
//!
//! **Durability.** The file is in WAL mode with `synchronous = NORMAL`:
//! every committed transaction survives the process being killed (what
//! the crash tests do); the last ones may be lost if the machine loses
//! power. Write transactions start with `BEGIN IMMEDIATE`, so two
//! processes on one file wait for each other (up to the busy timeout)
//! instead of failing.
//!
//! **Schema.** Versioned in the table `crm_comms_meta`; opening a file
//! applies the missing migrations in order, refuses a file that is not
//! this crate's ([`StoreErrorKind::Schema`]) and one written by a newer
//! version of it.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

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
    Claimed, HoldCheck, MatchedRow, Outbox, Recovered, ReportMatch, Settlement, resend_horizon,
};
use crate::phone::PhoneNumber;
use crate::sms::tracking::{SentRecord, SentStore};
use crate::sms::{DeliveryReceipt, Sender};

mod admin;
#[cfg(feature = "receiver")]
mod dedup;
mod outbox;
use outbox::claim_in;
mod privacy;
mod sent;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

/// Each version's migration, in order (index 0 makes version 1).
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001.sql"),
    include_str!("migrations/002.sql"),
    include_str!("migrations/003.sql"),
    include_str!("migrations/004.sql"),
    include_str!("migrations/005.sql"),
];

/// How long a delivery report is kept for a recipient that has not settled
/// (or that no row has) before it is forgotten, unless
/// [`SqliteStore::keep_reports_for`] says otherwise.
pub const KEEP_REPORTS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Rows per multi-row `INSERT` (8 values each: 32,000, under the bundled
/// SQLite's limit of 32,766 bound values).
const INSERT_CHUNK: usize = 4000;

/// The embedded store on one SQLite file: an [`Outbox`], a [`SentStore`]
/// and (feature `receiver`) a `DedupStore`. Cheap to clone (a pool).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    keep_reports_for: Duration,
}

/// Rows as JSON, for one set-based statement over `json_each`.
fn to_json<T: serde::Serialize>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Other,
            format!("SQLite: writing rows as JSON: {e}"),
        )
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A `sqlx` error as a [`StoreError`]: busy, locked, I/O and pool
/// problems are [`Unavailable`](StoreErrorKind::Unavailable).
fn db(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| {
        let kind = match &e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreErrorKind::Unavailable
            }
            sqlx::Error::Database(d) => match d.code().as_deref() {
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR…
                Some("5" | "6" | "13" | "10") => StoreErrorKind::Unavailable,
                Some("26") => StoreErrorKind::Schema,
                _ => StoreErrorKind::Other,
            },
            _ => StoreErrorKind::Other,
        };
        StoreError::new(kind, format!("SQLite: {what}: {e}")).with_source(e)
    }
}

/// The schema version of a store (0 for an empty file), or why the file is
/// not one this build can use: not a SQLite database, another
/// application's (any table, view, index or trigger not ours), or newer.
async fn inspect(conn: &mut sqlx::SqliteConnection) -> Result<i64, StoreError> {
    let objects: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| {
        let e = db("reading the file")(e);
        if e.is_schema() {
            StoreError::new(StoreErrorKind::Schema, "the file is not a SQLite database")
        } else {
            e
        }
    })?;
    let ours = objects.iter().any(|t| t == "crm_comms_meta");
    if !objects.is_empty() && !ours {
        return Err(StoreError::new(
            StoreErrorKind::Schema,
            format!(
                "the file is not a crm-comms store (it has other tables: {})",
                objects.join(", ")
            ),
        ));
    }
    let stored: Option<Option<String>> = if ours {
        Some(
            sqlx::query_scalar("SELECT value FROM crm_comms_meta WHERE key = 'schema_version'")
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("reading the schema version"))?,
        )
    } else {
        None
    };
    super::schema::checked_version(stored, SCHEMA_VERSION, "the store")
}

/// `e` with the store's path in front of its message (same kind).
fn at_path(path: &Path, e: StoreError) -> StoreError {
    let named = StoreError::new(e.kind(), format!("{}: {}", path.display(), e.message()));
    match std::error::Error::source(&e) {
        Some(_) => named.with_source(e),
        None => named,
    }
}

/// Creates an empty store file readable and writable by its owner only
/// (`0600`; SQLite gives its WAL and shared-memory files the same mode): it
/// holds phone numbers and personal texts.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::new(
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreErrorKind::Invalid
            } else {
                StoreErrorKind::Unavailable
            },
            format!("the store file cannot be created: {e}"),
        )
        .with_source(e)),
    }
}

impl SqliteStore {
    /// Opens (creating if missing, readable by its owner only) the store
    /// at `path` and brings its schema up to date. A file that is not a
    /// store of this crate is refused before anything is written to it.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Schema`] for a file that is not this crate's store
    /// or was written by a newer version; [`StoreErrorKind::Unavailable`]
    /// when it cannot be opened.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let named = |e: StoreError| at_path(path, e);
        if path.exists() {
            // Another application's file is refused before anything is
            // written to it (not even the switch to WAL).
            SqliteStore::inspect_read_only(path).await.map_err(named)?;
        } else {
            create_private(path).map_err(named)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // Erased and purged rows are overwritten, not left readable in
            // free pages (deletes are rare: erasure, purge, removal).
            .pragma("secure_delete", "ON");
        SqliteStore::open_with(options).await.map_err(named)
    }

    /// [`open`](Self::open) a store that must exist already (for what only
    /// reads or sends): never creates a file at a mistyped path.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Invalid`] when there is no file at `path`; else as
    /// [`open`](Self::open).
    pub async fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(at_path(
                path,
                StoreError::new(
                    StoreErrorKind::Invalid,
                    "there is no store here (only `mailing create` makes one)",
                ),
            ));
        }
        SqliteStore::open(path).await
    }

    /// Reads the file's schema on a read-only connection: an error for a
    /// file that is not a SQLite database, another application's database
    /// or a newer store.
    async fn inspect_read_only(path: &Path) -> Result<(), StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .create_if_missing(false);
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .map_err(db("opening the store"))?;
        let result = inspect(&mut conn).await;
        let _ = sqlx::Connection::close(conn).await;
        result.map(|_| ())
    }

    /// A store in memory (for tests and examples): gone with the value.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db("opening in memory"))?
            .foreign_keys(true);
        // One connection: each in-memory connection is its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db("opening in memory"))?;
        let store = SqliteStore {
            pool,
            keep_reports_for: KEEP_REPORTS_FOR,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // An embedded file needs no liveness ping before each use (it
        // costs a round trip through sqlx's worker thread).
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| {
                let e = db("opening the store")(e);
                if e.is_schema() {
                    StoreError::new(StoreErrorKind::Schema, "the file is not a SQLite database")
                } else {
                    e
                }
            })?;
        let store = SqliteStore {
            pool,
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

    /// The schema version of the open file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM crm_comms_meta WHERE key = 'schema_version'")
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading the schema version"))?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("opening the store"))?;
        let version = inspect(&mut tx).await?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            sqlx::raw_sql(sql)
                .execute(&mut *tx)
                .await
                .map_err(db("migrating the schema"))?;
            sqlx::query(
                "INSERT INTO crm_comms_meta (key, value) VALUES ('schema_version', ?)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind((i + 1).to_string())
            .execute(&mut *tx)
            .await
            .map_err(db("migrating the schema"))?;
        }
        tx.commit().await.map_err(db("migrating the schema"))
    }

    /// Claims up to `max` pending recipients of an active mailing into
    /// `state` (claimed, or sending at once), with a new attempt number.
    async fn claim_as(
        &self,
        state: RecipientState,
        id: MailingId,
        worker: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut tx = self.write().await?;
        let claimed = claim_in(&mut tx, state, id, worker, max, lease).await?;
        tx.commit().await.map_err(db("claiming recipients"))?;
        Ok(claimed)
    }

    async fn write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db("starting a transaction"))
    }
}
