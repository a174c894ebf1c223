//! On SQLite, group commits run on a thread of their own with a connection of
//! their own (rusqlite). Through sqlx every statement is a round trip to its
//! SQLite thread: two thread wake-ups, six statements and more per arrival.
//! Here a statement is a call, and a batch costs one wake-up of this thread
//! and one of each room task it answers (docs/benchmarks.md).
//!
//! The few records that need more than statements (`records::needs_more`)
//! are written by sqlx (`Writer`), their whole batch with them, driven from
//! this thread. Both connections write the same file: SQLite's write lock
//! and its busy timeout order them, and sqlx's write transactions take that
//! lock at BEGIN (`begin_write`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::group_commit::{
    BATCH_METRIC, Conn, Job, Known, MAX_BATCH, Msg, Transact, Writer, commit, next_batch, write,
};
use super::memo::Memo;
use super::pace::Pace;
use super::statement::Statement;
use super::{Backend, SQLITE_PRAGMAS, StoreError, outbox};
use crate::circle::{Record, Timestamp};

/// Opens `file` on a new thread and leaves it writing the batches of `queue`
/// until every sender is gone. `fallback` writes the batches this thread
/// cannot, on the current tokio runtime.
pub(super) async fn start(
    file: PathBuf,
    fallback: Writer,
    queue: mpsc::Receiver<Msg>,
) -> Result<(), StoreError> {
    let runtime = Handle::current();
    let (opened, ready) = oneshot::channel();
    std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || match open(&file) {
            Ok(conn) => {
                let _ = opened.send(Ok(()));
                let memo = fallback.memo().clone();
                run(Direct { conn, memo }, fallback, &runtime, queue);
            }
            Err(e) => {
                let _ = opened.send(Err(e));
            }
        })?;
    ready.await.map_err(|_| StoreError::Closed)?
}

fn open(file: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(file)?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    // Every statement kind of a journal entry stays prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn run(mut direct: Direct, mut fallback: Writer, runtime: &Handle, mut queue: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut pace = Pace::default();
    while queue.blocking_recv_many(&mut msgs, MAX_BATCH) > 0 {
        let wait = pace.wait(msgs.len(), Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let (jobs, close) = next_batch(&mut queue, &mut msgs, &mut pace);
        if !jobs.is_empty() {
            metrics::histogram!(BATCH_METRIC).record(jobs.len() as f64);
            let by_sqlx = jobs
                .iter()
                .any(|job| job.entry.records.iter().any(super::records::needs_more));
            if by_sqlx {
                runtime.block_on(commit(&mut fallback, jobs));
            } else if at_once(commit(&mut direct, jobs)).is_err() {
                // Unreachable: nothing of `Direct` waits. The jobs went with the
                // future, which answers their rooms `Closed`: they stop and reload.
                tracing::error!("a direct journal commit waited; its entries are refused");
            }
        }
        if let Some(answer) = close {
            drop(direct);
            let _ = answer.send(());
            return;
        }
    }
}

/// Runs a future that never waits (rusqlite's calls block instead), without
/// an executor; `Err` (the future dropped) if it did wait after all.
fn at_once(future: impl Future<Output = ()>) -> Result<(), ()> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(()) => Ok(()),
        Poll::Pending => Err(()),
    }
}

/// Commits `jobs` as the thread does, on a connection of the caller's.
#[cfg(test)]
pub(super) fn commit_on_new_connection(file: &Path, memo: &Memo, jobs: Vec<Job>) {
    let conn = open(file).expect("open the SQLite file");
    let mut direct = Direct {
        conn,
        memo: memo.clone(),
    };
    at_once(commit(&mut direct, jobs)).expect("a direct commit never waits");
}

/// The thread's connection.
struct Direct {
    conn: Connection,
    memo: Memo,
}

impl Transact for Direct {
    async fn transact(&mut self, jobs: &[Job]) -> Result<Vec<u64>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut known = Known::new(&self.memo);
        let mut seqs = Vec::with_capacity(jobs.len());
        for job in jobs {
            seqs.push(write(&mut On(&tx), Backend::Sqlite, &job.entry, &mut known).await?);
        }
        tx.commit()?;
        Ok(seqs)
    }

    fn memo(&self) -> &Memo {
        &self.memo
    }
}

/// Statements on the thread's connection, inside its transaction.
struct On<'c>(&'c Connection);

impl Conn for On<'_> {
    async fn fetch_int(&mut self, statement: &Statement) -> Result<Option<i64>, StoreError> {
        let mut prepared = statement.bound(self.0)?;
        let mut rows = prepared.raw_query();
        match rows.next().map_err(write_error)? {
            Some(row) => Ok(Some(row.get(0)?)),
            None => Ok(None),
        }
    }

    async fn execute(&mut self, statement: &Statement) -> Result<(), StoreError> {
        statement
            .bound(self.0)?
            .raw_execute()
            .map_err(write_error)?;
        Ok(())
    }

    async fn webhooks_enabled(&mut self) -> Result<bool, StoreError> {
        let enabled: i64 = self
            .0
            .query_row(outbox::WEBHOOKS_ENABLED, [], |row| row.get(0))?;
        Ok(enabled > 0)
    }

    async fn write_other(&mut self, _: &str, _: Timestamp, _: &Record) -> Result<(), StoreError> {
        Err(StoreError::NotHere)
    }
}

/// Unique and foreign-key violations become the typed errors callers act on,
/// as sqlx's do (`super::write_error`).
fn write_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match e.sqlite_error().map(|e| e.extended_code) {
        Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            StoreError::Duplicate
        }
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound,
        _ => StoreError::Sqlite(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circle::{AttendanceEvent, Input};
    use crate::store::testing::Place;
    use crate::store::tests::{invitation_row, room_row};
    use crate::store::{DB_FILE, Location};

    fn file_of(place: &Place) -> std::path::PathBuf {
        match &place.location {
            Location::Sqlite(dir) => dir.join(DB_FILE),
            Location::Postgres(_) => unreachable!("a SQLite place"),
        }
    }

    /// A sqlx write transaction that read first must not meet the thread's
    /// commit between its read and its write: it holds the lock from BEGIN.
    #[tokio::test]
    async fn a_write_transaction_holds_the_write_lock_from_its_begin() {
        let place = Place::sqlite();
        let store = place.open().await;
        let other = open(&file_of(&place)).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();

        let tx = store.write_tx().await.unwrap();
        let busy = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert_eq!(
            busy.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        tx.rollback().await.unwrap();
        other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").unwrap();
    }

    /// The thread writes plain entries itself and hands a revocation to sqlx;
    /// one room's journal stays numbered in order across the two.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_the_thread_cannot_write_go_through_sqlx_in_order() {
        let place = Place::sqlite();
        let store = place.open().await;
        store.create_room(&room_row("r1", 1)).await.unwrap();
        store
            .add_invitation(&invitation_row("r1", "p1", 2))
            .await
            .unwrap();
        let arrived = Record::Attendance {
            invitation_id: "p1".to_owned(),
            event: AttendanceEvent::Arrived,
        };
        let revoked = Record::Revoked {
            invitation_id: "p1".to_owned(),
        };
        let mut seqs = Vec::new();
        for (at, records) in [(10, vec![arrived]), (11, vec![revoked]), (12, vec![])] {
            seqs.push(
                store
                    .append("r1", Timestamp(at), &Input::Tick, &records)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(seqs, [1, 2, 3]);
        let record = store.record("r1").await.unwrap();
        assert_eq!(
            record.attendance.iter().map(|a| a.seq).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(record.revocations.len(), 1, "{:?}", record.revocations);
        let p1 = store.invitation("p1").await.unwrap().unwrap();
        assert_eq!(p1.revoked_at, Some(Timestamp(11)));
    }

    #[test]
    fn constraint_violations_become_the_errors_callers_act_on() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE a (id TEXT PRIMARY KEY); \
             CREATE TABLE b (a TEXT NOT NULL REFERENCES a (id)); INSERT INTO a VALUES ('x');",
        )
        .unwrap();
        let run = |sql| write_error(conn.execute_batch(sql).unwrap_err());
        assert!(matches!(
            run("INSERT INTO a VALUES ('x')"),
            StoreError::Duplicate
        ));
        assert!(matches!(
            run("INSERT INTO b VALUES ('y')"),
            StoreError::NotFound
        ));
        assert!(matches!(
            run("INSERT INTO b VALUES (NULL)"),
            StoreError::Sqlite(_)
        ));
    }
}
