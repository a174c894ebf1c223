//! `circlekeeper copy-store`: moves the embedded SQLite store into an empty
//! Postgres database, so a programme that outgrows one machine keeps every
//! room, journal, record and pending webhook (SPEC §6.6). The copy is one
//! Postgres transaction: it lands whole or not at all.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::TryStreamExt;
use sqlx::any::AnyArguments;
use sqlx::{Arguments, AssertSqlSafe, Row};

use super::{DB_FILE, Location, Store, StoreError};

/// Every table copied, in an order that meets each foreign key before the
/// rows that name it (the order the migrations create them in).
pub const COPIED: &[&str] = &[
    "rooms",
    "invitations",
    "revocations",
    "journal",
    "consent_events",
    "attendance",
    "phase_changes",
    "rounds",
    "round_marks",
    "agreements",
    "acknowledgements",
    "api_rooms",
    "webhook_outbox",
    "webhook_settings",
    "feedback_answers",
    "feedback_given",
    "agreement_items",
    "outlines",
    "cases",
];

/// Tables left behind: which node runs what is the running cluster's state,
/// not the record. With no owner row a room is claimed afresh by the first
/// node that needs it; leases and duties start over the same way. (Each side
/// keeps its own `_sqlx_migrations`.)
pub const NOT_COPIED: &[&str] = &["nodes", "room_owners", "duties"];

// Every SQL text built here names tables from `COPIED` and columns from
// Postgres's own catalogue (checked against SQLite's): never user input.

/// Rows per insert: well under Postgres's 65 535 parameters at any width.
const BATCH_ROWS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("no store at {0}: check --data-dir")]
    NoSource(std::path::PathBuf),
    #[error("the target must be a postgres:// URL")]
    NotPostgres,
    #[error("a server is running on {0}: stop it first")]
    SourceInUse(std::path::PathBuf),
    /// A server (or `invite`) starting while a copy reads its store.
    #[error("copy-store is copying {0}: wait until it has finished")]
    Copying(std::path::PathBuf),
    /// A second server on one SQLite store.
    #[error("another server is running on the store in {0}: stop it first")]
    ServerRunning(std::path::PathBuf),
    #[error("the Postgres database already holds data (table {0}): copy into an empty database")]
    TargetNotEmpty(String),
    #[error("table {0} is new to this copy: it would be left behind")]
    UnknownTable(String),
    #[error("table {table}: column {column} exists on one side only")]
    ColumnMismatch { table: String, column: String },
    #[error("table {table}: column {column} has a type this copy does not know ({kind})")]
    UnknownType {
        table: String,
        column: String,
        kind: String,
    },
    #[error("table {table}: {copied} rows copied but {in_sqlite} in SQLite")]
    CountMismatch {
        table: String,
        copied: i64,
        in_sqlite: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        CopyError::Store(StoreError::Database(e))
    }
}

/// A column's type as Postgres declares it; SQLite holds the same values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    BigInt,
    Boolean,
}

pub(super) struct Column {
    pub(super) name: String,
    pub(super) kind: Kind,
}

/// Copies the SQLite store in `data_dir` into the empty Postgres database at
/// `url` (both are migrated to this version first). Returns the rows copied
/// per table, in copy order.
pub async fn copy_to_postgres(
    data_dir: &Path,
    url: &str,
) -> Result<Vec<(&'static str, i64)>, CopyError> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(CopyError::NotPostgres);
    }
    // Opening would create an empty store: a mistyped directory must fail.
    if !data_dir.join(DB_FILE).is_file() {
        return Err(CopyError::NoSource(data_dir.join(DB_FILE)));
    }
    // Held to the end: no server starts on the file while it is read.
    let _alone = lock(data_dir, Lock::Copy)?;
    let source = Store::open_at(&Location::Sqlite(data_dir.to_path_buf())).await?;
    let target = Store::open_at(&Location::Postgres(url.to_owned())).await?;
    let copied = copy_between(&source, &target).await;
    source.close().await;
    target.close().await;
    copied
}

async fn copy_between(
    source: &Store,
    target: &Store,
) -> Result<Vec<(&'static str, i64)>, CopyError> {
    refuse_unknown_tables(target).await?;
    let mut tx = target.write_tx().await?;
    // One read transaction: every table from the same snapshot of the file.
    let mut read = source.pool.begin().await?;
    for table in COPIED {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        if sqlx::query_scalar::<_, bool>(AssertSqlSafe(sql))
            .fetch_one(&mut *tx)
            .await?
        {
            return Err(CopyError::TargetNotEmpty((*table).to_owned()));
        }
    }
    let mut counts = Vec::with_capacity(COPIED.len());
    for &table in COPIED {
        let columns = columns_of(source, target, table).await?;
        let names = columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        // The Any driver cannot read SQLite's BOOLEAN; an integer reads.
        let selected = columns
            .iter()
            .map(|c| match c.kind {
                Kind::Boolean => format!(
                    "CASE WHEN {0} IS NULL THEN NULL WHEN {0} THEN 1 ELSE 0 END AS {0}",
                    c.name
                ),
                _ => c.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let select = format!("SELECT {selected} FROM {table}");
        let mut batch = Batch::new(table, &names, columns.len());
        let mut copied = 0;
        {
            let mut rows = sqlx::query(AssertSqlSafe(select)).fetch(&mut *read);
            while let Some(row) = rows.try_next().await? {
                batch.push(&row, &columns)?;
                if batch.rows == BATCH_ROWS {
                    copied += batch.flush(&mut tx).await?;
                }
            }
        }
        copied += batch.flush(&mut tx).await?;
        let count = format!("SELECT COUNT(*) FROM {table}");
        let in_source: i64 = sqlx::query_scalar(AssertSqlSafe(count.clone()))
            .fetch_one(&mut *read)
            .await?;
        let in_target: i64 = sqlx::query_scalar(AssertSqlSafe(count))
            .fetch_one(&mut *tx)
            .await?;
        if in_target != in_source || copied != in_source {
            return Err(CopyError::CountMismatch {
                table: table.to_owned(),
                copied: in_target,
                in_sqlite: in_source,
            });
        }
        counts.push((table, copied));
    }
    tx.commit().await?;
    read.rollback().await?;
    Ok(counts)
}

/// The file in the data directory that a running server holds a shared lock
/// on, and `copy-store` an exclusive one. The lock, unlike a lease (which a
/// SQLite node writes once, at start), lasts exactly as long as the process
/// holds it, and the kernel drops it when the process dies.
pub const LOCK_FILE: &str = "circlekeeper.lock";

/// The file a server on a SQLite store holds alone: that store remembers what
/// it wrote (`memo`), which holds only while no other server writes the file.
pub const SQLITE_SERVER_LOCK_FILE: &str = "circlekeeper.server.lock";

/// Held locks on the data directory; dropping it releases them.
#[derive(Debug)]
pub struct DataDirLock(
    // Held, never read: the open files are the locks.
    #[allow(dead_code)] Vec<std::fs::File>,
);

/// Who takes the lock: servers (and `invite`, which writes) share it, a copy
/// holds it alone. A server on a SQLite store also holds
/// [`SQLITE_SERVER_LOCK_FILE`] alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    Server,
    SqliteServer,
    Copy,
}

/// Takes the data directory's lock without waiting.
pub fn lock(data_dir: &Path, who: Lock) -> Result<DataDirLock, CopyError> {
    let io = |e| CopyError::Store(StoreError::Io(e));
    if who != Lock::Copy {
        // A Postgres node may have no other reason yet to create its data
        // directory; made private, as the secrets in it are.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(data_dir).map_err(io)?;
    }
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join(name))
            .map_err(io)
    };
    let file = open(LOCK_FILE)?;
    let taken = match who {
        Lock::Server | Lock::SqliteServer => file.try_lock_shared(),
        Lock::Copy => file.try_lock(),
    };
    let refused = |e| match e {
        std::fs::TryLockError::WouldBlock => match who {
            Lock::Server | Lock::SqliteServer => CopyError::Copying(data_dir.to_path_buf()),
            Lock::Copy => CopyError::SourceInUse(data_dir.to_path_buf()),
        },
        std::fs::TryLockError::Error(e) => io(e),
    };
    taken.map_err(refused)?;
    if who != Lock::SqliteServer {
        return Ok(DataDirLock(vec![file]));
    }
    let alone = open(SQLITE_SERVER_LOCK_FILE)?;
    match alone.try_lock() {
        Ok(()) => Ok(DataDirLock(vec![file, alone])),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(CopyError::ServerRunning(data_dir.to_path_buf()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// A table a later migration added but this list does not name would be left
/// behind without a word; refuse instead.
async fn refuse_unknown_tables(target: &Store) -> Result<(), CopyError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&target.pool)
    .await?;
    let known = |t: &str| COPIED.contains(&t) || NOT_COPIED.contains(&t) || t == "_sqlx_migrations";
    match tables.into_iter().find(|t| !known(t)) {
        Some(table) => Err(CopyError::UnknownTable(table)),
        None => Ok(()),
    }
}

/// The table's columns as Postgres declares them, checked against SQLite's:
/// a column on one side only would lose data or fail half-way.
pub(super) async fn columns_of(
    source: &Store,
    target: &Store,
    table: &str,
) -> Result<Vec<Column>, CopyError> {
    let declared: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&target.pool)
    .await?;
    let in_sqlite: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
        .bind(table)
        .fetch_all(&source.pool)
        .await?;
    let mut sides: BTreeMap<&str, u8> = BTreeMap::new();
    for (name, _) in &declared {
        *sides.entry(name).or_default() += 1;
    }
    for name in &in_sqlite {
        *sides.entry(name).or_default() += 2;
    }
    if let Some((column, _)) = sides.iter().find(|(_, s)| **s != 3) {
        return Err(CopyError::ColumnMismatch {
            table: table.to_owned(),
            column: (*column).to_owned(),
        });
    }
    declared
        .into_iter()
        .map(|(name, kind)| {
            let kind = match kind.as_str() {
                "text" => Kind::Text,
                "bigint" => Kind::BigInt,
                "boolean" => Kind::Boolean,
                _ => {
                    return Err(CopyError::UnknownType {
                        table: table.to_owned(),
                        column: name,
                        kind,
                    });
                }
            };
            Ok(Column { name, kind })
        })
        .collect()
}

/// One multi-row insert being filled.
struct Batch {
    head: String,
    width: usize,
    rows: usize,
    args: AnyArguments,
}

impl Batch {
    fn new(table: &str, names: &str, width: usize) -> Batch {
        Batch {
            head: format!("INSERT INTO {table} ({names}) VALUES "),
            width,
            rows: 0,
            args: AnyArguments::default(),
        }
    }

    fn push(&mut self, row: &sqlx::any::AnyRow, columns: &[Column]) -> Result<(), CopyError> {
        for (i, column) in columns.iter().enumerate() {
            let added = match column.kind {
                Kind::Text => self.args.add(row.try_get::<Option<String>, _>(i)?),
                Kind::BigInt => self.args.add(row.try_get::<Option<i64>, _>(i)?),
                Kind::Boolean => self
                    .args
                    .add(row.try_get::<Option<i64>, _>(i)?.map(|v| v != 0)),
            };
            added.map_err(sqlx::Error::Encode)?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Inserts the rows gathered so far; returns how many.
    async fn flush(&mut self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<i64, CopyError> {
        if self.rows == 0 {
            return Ok(0);
        }
        let mut sql = self.head.clone();
        let mut n = 0;
        for r in 0..self.rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..self.width {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        let args = std::mem::take(&mut self.args);
        let rows = std::mem::take(&mut self.rows);
        sqlx::query_with(AssertSqlSafe(sql), args)
            .execute(&mut **tx)
            .await?;
        Ok(rows as i64)
    }
}
