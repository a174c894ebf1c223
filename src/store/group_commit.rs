//! Group commit for journal appends: one task owns the writes of every room's
//! journal and commits the appends that queued while the previous commit ran in
//! one transaction.
//!
//! A burst of arrivals is many rooms appending at once. Each append alone is
//! BEGIN, its inserts, COMMIT, each a round trip to sqlx's SQLite thread, and each
//! commit writes the same B-tree pages to the WAL again. One commit for the queue
//! keeps the inserts and pays BEGIN/COMMIT and the page writes once
//! (docs/benchmarks.md). No append waits for a timer: a lone append is committed at
//! once, and a batch is simply what arrived during the previous commit.

use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, from_db, outbox, records, ts_to_db, write_error};
use crate::circle::{Record, Timestamp};

/// At most this many appends share one transaction, so one commit stays short.
const MAX_BATCH: usize = 256;
/// Appends waiting for the writer; room tasks wait on a full queue (back-pressure).
const QUEUE: usize = 4096;

/// Appends per group commit, to see batching in `/metrics` during a burst.
const BATCH_METRIC: &str = "circlekeeper_journal_commit_batch";

/// One journal entry to write, with the records it caused.
pub(super) struct Entry {
    pub room_id: String,
    pub at: Timestamp,
    pub input_json: String,
    pub records: Vec<Record>,
}

struct Job {
    entry: Entry,
    done: oneshot::Sender<Result<u64, StoreError>>,
}

/// The sending side; cheap to clone. The writer task ends when every clone is gone.
#[derive(Clone, Debug)]
pub(super) struct Appender {
    jobs: mpsc::Sender<Job>,
}

impl Appender {
    /// Starts the writer task on the current tokio runtime.
    pub(super) fn start(writer: SqlitePool) -> Appender {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, queue));
        Appender { jobs }
    }

    /// Queues `entry` and waits until it is committed; returns its sequence number.
    pub(super) async fn append(&self, entry: Entry) -> Result<u64, StoreError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Job { entry, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        committed.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(writer: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!(BATCH_METRIC).record(batch.len() as f64);
        commit(&writer, std::mem::take(&mut batch)).await;
    }
}

/// Commits the batch in one transaction. If that fails (a room deleted meanwhile,
/// a full disk), nothing of it was written: each entry is then written alone, so
/// one room's error is that room's only.
async fn commit(writer: &SqlitePool, batch: Vec<Job>) {
    if batch.len() > 1 {
        match together(writer, &batch).await {
            Ok(seqs) => {
                for (job, seq) in batch.into_iter().zip(seqs) {
                    // The room task may have gone; its entry is written all the same.
                    let _ = job.done.send(Ok(seq));
                }
                return;
            }
            Err(e) => tracing::debug!(error = %e, "group commit failed; writing alone"),
        }
    }
    for job in batch {
        let _ = job.done.send(alone(writer, &job.entry).await);
    }
}

async fn together(writer: &SqlitePool, batch: &[Job]) -> Result<Vec<u64>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut seqs = Vec::with_capacity(batch.len());
    for job in batch {
        seqs.push(write(&mut tx, &job.entry).await?);
    }
    tx.commit().await?;
    Ok(seqs)
}

async fn alone(writer: &SqlitePool, entry: &Entry) -> Result<u64, StoreError> {
    let mut tx = writer.begin().await?;
    let seq = write(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Appends the entry at its room's next sequence number, with its records and the
/// webhook events they make (SPEC §6.2: in the same transaction, none is lost).
async fn write(conn: &mut SqliteConnection, entry: &Entry) -> Result<u64, StoreError> {
    let at_db = ts_to_db(entry.at)?;
    // The first statement writes, so SQLite takes the write lock before reading
    // MAX(seq): no stale-snapshot upgrade failure under WAL.
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO journal (room_id, seq, at, input) \
         SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM journal WHERE room_id = ? \
         RETURNING seq",
    )
    .bind(&entry.room_id)
    .bind(at_db)
    .bind(&entry.input_json)
    .bind(&entry.room_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(write_error)?;
    for (ord, record) in entry.records.iter().enumerate() {
        let ord = i64::try_from(ord).map_err(|_| StoreError::OutOfRange("record count"))?;
        records::write(conn, &entry.room_id, seq, ord, entry.at, record).await?;
    }
    outbox::enqueue(conn, &entry.room_id, seq, entry.at, &entry.records).await?;
    from_db(seq, "journal seq")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::tests::room_row;

    fn tick(room_id: &str, at: u64) -> (Job, oneshot::Receiver<Result<u64, StoreError>>) {
        let (done, committed) = oneshot::channel();
        let entry = Entry {
            room_id: room_id.to_owned(),
            at: Timestamp(at),
            input_json: serde_json::to_string(&crate::circle::Input::Tick).unwrap(),
            records: Vec::new(),
        };
        (Job { entry, done }, committed)
    }

    #[tokio::test]
    async fn one_failing_entry_does_not_fail_the_others_of_its_batch() {
        let store = Store::open_memory().await.unwrap();
        store.create_room(&room_row("r1", 1)).await.unwrap();
        store.create_room(&room_row("r2", 1)).await.unwrap();
        let (jobs, answers): (Vec<_>, Vec<_>) = [("r1", 10), ("gone", 11), ("r2", 12), ("r1", 13)]
            .into_iter()
            .map(|(room, at)| tick(room, at))
            .unzip();
        commit(&store.writer, jobs).await;
        let mut got = Vec::new();
        for answer in answers {
            got.push(answer.await.unwrap().map_err(|e| e.to_string()));
        }
        assert_eq!(
            got,
            [Ok(1), Err("not found".to_owned()), Ok(1), Ok(2)],
            "sequence numbers per room, and the missing room's own error"
        );
        let times: Vec<u64> = store
            .journal("r1")
            .await
            .unwrap()
            .iter()
            .map(|(at, _)| at.0)
            .collect();
        assert_eq!(times, [10, 13]);
        assert_eq!(store.journal("r2").await.unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rooms_keep_their_own_order() {
        let store = Store::open_memory().await.unwrap();
        let rooms: Vec<String> = (0..16).map(|i| format!("room-{i}")).collect();
        for room in &rooms {
            store.create_room(&room_row(room, 1)).await.unwrap();
        }
        let mut tasks = tokio::task::JoinSet::new();
        for room in rooms.clone() {
            let store = store.clone();
            tasks.spawn(async move {
                let mut seqs = Vec::new();
                for at in 0..20 {
                    let seq = store
                        .append(&room, Timestamp(at), &crate::circle::Input::Tick, &[])
                        .await
                        .unwrap();
                    seqs.push(seq);
                }
                seqs
            });
        }
        while let Some(seqs) = tasks.join_next().await {
            assert_eq!(seqs.unwrap(), (1..=20).collect::<Vec<u64>>());
        }
        for room in &rooms {
            let times: Vec<u64> = store
                .journal(room)
                .await
                .unwrap()
                .iter()
                .map(|(at, _)| at.0)
                .collect();
            assert_eq!(times, (0..20).collect::<Vec<u64>>(), "{room}");
        }
    }
}
