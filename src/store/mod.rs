//! The store (SPEC §4, §6.6, §7): rooms, invitations, revocations, each
//! room's append-only journal of accepted inputs, and the records those
//! inputs caused. SQLite (embedded, the default) or Postgres (`[store] url`),
//! through sqlx's `Any` driver: one set of runtime queries in plain SQL with
//! `$n` placeholders, which both accept. Dialect specifics stay in the two
//! migration directories and in the SQLite connect pragmas.

mod cases;
mod cluster;
pub(crate) mod copy;
mod group_commit;
mod journal;
mod journal_thread;
mod memo;
mod outbox;
mod outcomes;
mod outlines;
mod pace;
mod programs;
mod records;
mod rooms;
mod statement;

#[cfg(test)]
mod copy_tests;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Transaction};
use sqlx::{ConnectOptions, Executor, Row};

use crate::circle::Timestamp;
use group_commit::Appender;
use memo::Memo;

pub use cases::{CaseDeleteError, CaseRow};
pub use cluster::{Claim, Fence};
pub use copy::{CopyError, DataDirLock, Lock, copy_to_postgres, lock};
pub use outbox::{OutboxRow, rfc3339};
pub use outcomes::{AgreementItemRow, FeedbackSet, ItemChange, ItemStatus, ReportRoom};
pub use outlines::StoredOutline;
pub use programs::{CreateError, RoomSummary};
pub use records::{
    AcknowledgementRow, AgreementRow, AttendanceRow, ConsentRow, PhaseChangeRow, RevocationRow,
    RoomRecord, RoundMarkRow, RoundRow,
};
pub use rooms::{InvitationRow, RoomRow};

/// The database file inside the data directory.
pub const DB_FILE: &str = "circlekeeper.db";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite journal thread's own connection (`journal_thread`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored JSON does not match: {0}")]
    Json(#[from] serde_json::Error),
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Duplicate,
    /// A number does not fit the database's signed 64-bit integers.
    #[error("{0} is out of range for the store")]
    OutOfRange(&'static str),
    /// A stored value cannot be read back (hand-edited or from a newer version).
    #[error("stored {0} is not valid")]
    Corrupt(&'static str),
    /// Chat and pause requests change nothing durable and are never stored (SPEC §4).
    #[error("ephemeral inputs are never journaled")]
    Ephemeral,
    /// The journal writer has stopped (the store was closed or its runtime ended).
    #[error("the store is closed")]
    Closed,
    /// The room's epoch moved on: another node took it over (SPEC §6.6).
    #[error("this node no longer owns the room")]
    NotOwner,
    /// A record that needs more than statements reached the SQLite journal
    /// thread, which hands such entries to sqlx: a bug, refused unwritten.
    #[error("this journal connection does not write that record")]
    NotHere,
    /// Claims of one room kept racing other nodes' claims.
    #[error("the room's ownership is contended")]
    Contended,
}

/// Where the store lives: `[store] url` when set, else the SQLite file in the
/// data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `data_dir/circlekeeper.db`, created when missing.
    Sqlite(std::path::PathBuf),
    /// A `postgres://` URL; the database must exist (the operator creates it).
    Postgres(String),
}

/// Which database a store talks to; the two differ in migrations and pragmas only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the store; cheap to clone (the pools are shared).
///
/// Writes go through `writer`, a pool of one connection: SQLite has one write
/// lock, and writers that meet it on separate connections wait in its busy
/// handler, which sleeps (1, 2, 5, 10 … ms). Queueing them in process instead
/// cut the p99 of 1 000 arrivals/s by half or more (docs/benchmarks.md).
/// Journal appends, most of the writes, go through `appender`, which commits
/// the appends of many rooms together: on a SQLite file on a thread and
/// connection of its own (`journal_thread`: the one other writer, so the busy
/// handler is rarely met), else on `writer`. Reads use `pool` and run beside
/// the writers (WAL). Postgres keeps the same shape: one writer per node
/// numbers a room's journal without racing itself (several writers, one lane
/// per room, measured no better on 2 cores: docs/benchmarks.md).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    writer: AnyPool,
    appender: Appender,
    backend: Backend,
    memo: Memo,
}

impl Store {
    /// Opens (creating if needed) `data_dir/circlekeeper.db` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_at(&Location::Sqlite(data_dir.to_path_buf())).await
    }

    /// Opens the store at `location` and migrates it.
    pub async fn open_at(location: &Location) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend, file) = match location {
            Location::Sqlite(data_dir) => {
                tokio::fs::create_dir_all(data_dir).await?;
                let file = data_dir.join(DB_FILE);
                // sqlx builds the URL, escaping what a path may hold (`?`, `#`).
                let url = SqliteConnectOptions::new()
                    .filename(&file)
                    .create_if_missing(true)
                    .to_url_lossy()
                    .to_string();
                (url, Backend::Sqlite, Some(file))
            }
            Location::Postgres(url) => (url.clone(), Backend::Postgres, None),
        };
        let writer = pool_options(backend, 1).connect(&url).await?;
        let pool = pool_options(backend, READERS).connect(&url).await?;
        Store::migrated(pool, writer, backend, file).await
    }

    /// A private in-memory store, for tests.
    pub async fn open_memory() -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        // Each in-memory connection is its own database, so keep exactly one
        // connection and never let the pool retire it.
        let pool = pool_options(Backend::Sqlite, 1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await?;
        Store::migrated(pool.clone(), pool, Backend::Sqlite, None).await
    }

    /// `sqlite_file`: the SQLite file, which the journal thread opens too
    /// (an in-memory database cannot be opened twice: its appends go through sqlx).
    async fn migrated(
        pool: AnyPool,
        writer: AnyPool,
        backend: Backend,
        sqlite_file: Option<std::path::PathBuf>,
    ) -> Result<Store, StoreError> {
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&writer).await?;
        let memo = Memo::new(backend == Backend::Sqlite);
        let appender = Appender::start(writer.clone(), backend, memo.clone(), sqlite_file).await?;
        Ok(Store {
            pool,
            writer,
            appender,
            backend,
            memo,
        })
    }

    /// The database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction (`begin_write`).
    async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        begin_write(&self.writer, self.backend).await
    }

    /// Closes every connection; waits for running queries and queued
    /// journal appends to finish. Later calls fail.
    pub async fn close(&self) {
        self.appender.close().await;
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Read connections per store.
const READERS: u32 = 8;

/// Every SQLite connection's settings, sqlx's and the journal thread's.
/// WAL lets readers (exports, API) run beside the room tasks' writes;
/// NORMAL is durable across process crashes in WAL mode.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// Begins a write transaction on `writer`. On SQLite the write lock is taken
/// at BEGIN (IMMEDIATE): the journal thread writes on a connection of its
/// own, and a transaction that read first would fail at its first write
/// after that thread's commit (SQLITE_BUSY_SNAPSHOT) instead of waiting.
async fn begin_write(
    writer: &AnyPool,
    backend: Backend,
) -> Result<Transaction<'static, Any>, StoreError> {
    Ok(match backend {
        Backend::Sqlite => writer.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => writer.begin().await?,
    })
}

/// Pool options with the per-connection settings of `backend`.
fn pool_options(backend: Backend, max: u32) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().max_connections(max);
    match backend {
        // sqlx's Any driver takes SQLite options from the URL only, so they
        // are set here.
        // An in-process connection cannot go stale, so no ping on every
        // acquire: that was one more round trip to sqlx's thread per query.
        Backend::Sqlite => options.test_before_acquire(false).after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(SQLITE_PRAGMAS).await?;
                Ok(())
            })
        }),
        Backend::Postgres => options,
    }
}

/// A boolean column, selected as `CASE WHEN c THEN 1 ELSE 0 END AS c`: sqlx's
/// Any driver cannot read SQLite's BOOLEAN, and an integer reads in both.
fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// Unique and foreign-key violations become the typed errors callers act on.
fn write_error(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(d) if d.is_unique_violation() => StoreError::Duplicate,
        Some(d) if d.is_foreign_key_violation() => StoreError::NotFound,
        _ => StoreError::Database(e),
    }
}

fn to_db(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange(what))
}

fn from_db(v: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

fn ts_to_db(t: Timestamp) -> Result<i64, StoreError> {
    to_db(t.0, "timestamp")
}

fn ts_from_db(v: i64) -> Result<Timestamp, StoreError> {
    from_db(v, "timestamp").map(Timestamp)
}

fn u32_from_db(v: i64, what: &'static str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(what))
}

/// A unit enum's serde name (`in_session`), as stored in text columns.
fn enum_name<T: Serialize>(value: &T, what: &'static str) -> Result<String, StoreError> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        _ => Err(StoreError::OutOfRange(what)),
    }
}

fn enum_from_name<T: DeserializeOwned>(name: String, what: &'static str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name)).map_err(|_| StoreError::Corrupt(what))
}
