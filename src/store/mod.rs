//! The embedded store (SPEC §4, §7): rooms, invitations, revocations, each
//! room's append-only journal of accepted inputs, and the records those
//! inputs caused. SQLite through sqlx with plain SQL and runtime queries, so
//! a Postgres backend can follow; SQLite specifics stay in the connect pragmas.

mod cases;
mod group_commit;
mod journal;
mod outbox;
mod outcomes;
mod outlines;
mod programs;
mod records;
mod rooms;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::circle::Timestamp;
use group_commit::Appender;

pub use cases::{CaseDeleteError, CaseRow};
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
}

/// Handle to the store; cheap to clone (the pools are shared).
///
/// Every write goes through `writer`, a pool of one connection: SQLite has
/// one write lock, and writers that meet it on separate connections wait in
/// its busy handler, which sleeps (1, 2, 5, 10 … ms). Queueing them in
/// process instead cut the p99 of 1 000 arrivals/s by half or more
/// (docs/benchmarks.md). Journal appends go through `appender`, which commits
/// the appends of many rooms together on that connection. Reads use `pool` and
/// run beside the writer (WAL).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
    appender: Appender,
}

impl Store {
    /// Opens (creating if needed) `data_dir/circlekeeper.db` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        tokio::fs::create_dir_all(data_dir).await?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            // WAL lets readers (exports, API) run beside the room tasks' writes;
            // NORMAL is durable across process crashes in WAL mode.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Store::migrated(pool, writer).await
    }

    /// A private in-memory store, for tests.
    pub async fn open_memory() -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // Each in-memory connection is its own database, so keep exactly one
        // connection and never let the pool retire it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Store::migrated(pool.clone(), pool).await
    }

    async fn migrated(pool: SqlitePool, writer: SqlitePool) -> Result<Store, StoreError> {
        MIGRATOR.run(&writer).await?;
        let appender = Appender::start(writer.clone());
        Ok(Store {
            pool,
            writer,
            appender,
        })
    }

    /// Closes every connection; waits for running queries to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
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
