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

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::cluster::Fence;
use super::{StoreError, from_db, outbox, records, to_db, ts_to_db, write_error};
use crate::circle::{Record, Timestamp};

/// At most this many appends share one transaction, so one commit stays short.
const MAX_BATCH: usize = 256;
/// sqlx's name for the SQLite backend (`AnyConnection::backend_name`).
const SQLITE: &str = "SQLite";

/// A journal append that lands only while the room's epoch is still `$5`.
/// SQLite has one writer at a time, so reading the owner row is enough.
const FENCED_INSERT_SQLITE: &str = "INSERT INTO journal (room_id, seq, at, input) \
     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM journal WHERE room_id = $4 \
     HAVING EXISTS (SELECT 1 FROM room_owners WHERE room_id = $4 AND epoch = $5) \
     RETURNING seq";

/// On Postgres the no-op update takes the owner row's lock until commit, so a
/// takeover waits for this append and then replays it; if the takeover came
/// first, the update matches nothing (it re-reads the row it waited for) and
/// nothing is inserted.
const FENCED_INSERT_POSTGRES: &str = "WITH held AS ( \
         UPDATE room_owners SET epoch = epoch WHERE room_id = $4 AND epoch = $5 RETURNING 1) \
     INSERT INTO journal (room_id, seq, at, input) \
     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM journal WHERE room_id = $4 \
     HAVING EXISTS (SELECT 1 FROM held) \
     RETURNING seq";
/// Appends waiting for the writer; room tasks wait on a full queue (back-pressure).
const QUEUE: usize = 4096;

/// Appends per group commit, to see batching in `/metrics` during a burst.
const BATCH_METRIC: &str = "circlekeeper_journal_commit_batch";

/// One journal entry to write, with the records it caused.
pub(super) struct Entry {
    pub room_id: String,
    /// The owner epoch the append must still hold; `None` for unfenced
    /// writers (tests, single-process tools).
    pub fence: Option<Fence>,
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
    pub(super) fn start(writer: AnyPool) -> Appender {
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

async fn run(writer: AnyPool, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!(BATCH_METRIC).record(batch.len() as f64);
        commit(&writer, std::mem::take(&mut batch)).await;
    }
}

/// Commits the batch in one transaction. If that fails (a room deleted meanwhile,
/// a full disk), nothing of it was written: each entry is then written alone, so
/// one room's error is that room's only.
async fn commit(writer: &AnyPool, batch: Vec<Job>) {
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

async fn together(writer: &AnyPool, batch: &[Job]) -> Result<Vec<u64>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut seqs = Vec::with_capacity(batch.len());
    let mut known = Known::default();
    for job in batch {
        seqs.push(write(&mut tx, &job.entry, &mut known).await?);
    }
    tx.commit().await?;
    Ok(seqs)
}

async fn alone(writer: &AnyPool, entry: &Entry) -> Result<u64, StoreError> {
    let mut tx = writer.begin().await?;
    let seq = write(&mut tx, entry, &mut Known::default()).await?;
    tx.commit().await?;
    Ok(seq)
}

/// What a transaction has already checked, so a batch asks each thing once:
/// every statement is a round trip (to sqlx's SQLite thread, or to Postgres).
#[derive(Default)]
struct Known {
    /// Rooms whose epoch this transaction has checked (and, on Postgres, locked).
    fenced: Vec<(String, Fence)>,
    /// Whether webhooks are enabled, once read.
    webhooks: Option<bool>,
}

/// Appends the entry at its room's next sequence number, with its records and the
/// webhook events they make (SPEC §6.2: in the same transaction, none is lost).
async fn write(
    conn: &mut AnyConnection,
    entry: &Entry,
    known: &mut Known,
) -> Result<u64, StoreError> {
    let at_db = ts_to_db(entry.at)?;
    // The first append of a room in a transaction checks its epoch inside the
    // journal insert: no round trip of its own.
    let unchecked = entry.fence.filter(|&fence| {
        !known
            .fenced
            .iter()
            .any(|(r, f)| *r == entry.room_id && *f == fence)
    });
    let seq: Option<i64> = match unchecked {
        // The first statement writes, so SQLite takes the write lock before
        // reading MAX(seq): no stale-snapshot upgrade failure under WAL.
        None => sqlx::query_scalar(
            "INSERT INTO journal (room_id, seq, at, input) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM journal WHERE room_id = $4 \
             RETURNING seq",
        )
        .bind(&entry.room_id)
        .bind(at_db)
        .bind(&entry.input_json)
        .bind(&entry.room_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(write_error)?,
        Some(fence) => sqlx::query_scalar(if conn.backend_name() == SQLITE {
            FENCED_INSERT_SQLITE
        } else {
            FENCED_INSERT_POSTGRES
        })
        .bind(&entry.room_id)
        .bind(at_db)
        .bind(&entry.input_json)
        .bind(&entry.room_id)
        .bind(to_db(fence.0, "room epoch")?)
        .fetch_optional(&mut *conn)
        .await
        .map_err(write_error)?,
    };
    // The aggregate gives a row unless the epoch check filtered it out.
    let seq = seq.ok_or(StoreError::NotOwner)?;
    if let Some(fence) = unchecked {
        known.fenced.push((entry.room_id.clone(), fence));
    }
    records::write_all(conn, &entry.room_id, seq, entry.at, &entry.records).await?;
    outbox::enqueue(
        conn,
        &entry.room_id,
        seq,
        entry.at,
        &entry.records,
        &mut known.webhooks,
    )
    .await?;
    from_db(seq, "journal seq")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{Place, on_both_backends};
    use crate::store::tests::{journal_times, room_row};

    fn tick(room_id: &str, at: u64) -> (Job, oneshot::Receiver<Result<u64, StoreError>>) {
        let (done, committed) = oneshot::channel();
        let entry = Entry {
            room_id: room_id.to_owned(),
            fence: None,
            at: Timestamp(at),
            input_json: serde_json::to_string(&crate::circle::Input::Tick).unwrap(),
            records: Vec::new(),
        };
        (Job { entry, done }, committed)
    }

    on_both_backends!(one_failing_entry_does_not_fail_the_others_of_its_batch);
    async fn one_failing_entry_does_not_fail_the_others_of_its_batch(place: Place) {
        let store = place.open().await;
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
        assert_eq!(journal_times(&store, "r1").await, [10, 13]);
        assert_eq!(store.journal("r2").await.unwrap().len(), 1);
    }

    on_both_backends!(multi_thread: concurrent_rooms_keep_their_own_order);
    async fn concurrent_rooms_keep_their_own_order(place: Place) {
        let store = place.open().await;
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
            let times = journal_times(&store, room).await;
            assert_eq!(times, (0..20).collect::<Vec<u64>>(), "{room}");
        }
    }
}
