//! Group commit for journal appends: one task owns the writes of every room's
//! journal and commits the appends that queued while the previous commit ran in
//! one transaction.
//!
//! A burst of arrivals is many rooms appending at once. Each append alone is
//! BEGIN, its inserts, COMMIT, each a round trip to sqlx's SQLite thread, and each
//! commit writes the same B-tree pages to the WAL again. One commit for the queue
//! keeps the inserts and pays BEGIN/COMMIT and the page writes once
//! (docs/benchmarks.md). No append waits for a timer: a lone append is committed at
//! once, and a batch is simply what arrived during the previous commit. On
//! Postgres an append is one statement (`composed`); on SQLite, one per record.

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::cluster::Fence;
use super::memo::Memo;
use super::records::Step;
use super::statement::{Composer, Statement};
use super::{Backend, StoreError, from_db, outbox, records, to_db, ts_to_db, write_error};
use crate::circle::{Record, Timestamp};

/// At most this many appends share one transaction, so one commit stays short.
const MAX_BATCH: usize = 256;

/// A journal append: `$1` the room, `$2` the time, `$3` the input.
macro_rules! insert {
    ($having:literal) => {
        concat!(
            "INSERT INTO journal (room_id, seq, at, input) \
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM journal WHERE room_id = $1",
            $having,
            " RETURNING seq"
        )
    };
}

/// On Postgres the no-op update takes the owner row's lock until commit, so a
/// takeover waits for this append and then replays it; if the takeover came
/// first, the update matches nothing (it re-reads the row it waited for) and
/// nothing is inserted.
macro_rules! held {
    () => {
        "held AS (UPDATE room_owners SET epoch = epoch WHERE room_id = $1 AND epoch = $4 RETURNING 1)"
    };
}

const INSERT: &str = insert!("");
/// An append that lands only while the room's epoch is still `$4`. SQLite
/// has one writer at a time, so reading the owner row is enough.
const FENCED_INSERT_SQLITE: &str =
    insert!(" HAVING EXISTS (SELECT 1 FROM room_owners WHERE room_id = $1 AND epoch = $4)");
const FENCED_INSERT_POSTGRES: &str = concat!(
    "WITH ",
    held!(),
    " ",
    insert!(" HAVING EXISTS (SELECT 1 FROM held)")
);

/// The same as parts of one composed statement, the entry in `j`.
const INSERT_PART: &str = concat!("j AS (", insert!(""), ")");
const FENCED_INSERT_PART_POSTGRES: &str = concat!(
    held!(),
    ", j AS (",
    insert!(" HAVING EXISTS (SELECT 1 FROM held)"),
    ")"
);

/// For a record statement run on its own: the entry just appended (`$1` the room).
const LATEST: &str = "WITH j AS (SELECT MAX(seq) AS seq FROM journal WHERE room_id = $1) ";

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
    pub(super) fn start(writer: AnyPool, backend: Backend, memo: Memo) -> Appender {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(
            Writer {
                pool: writer,
                backend,
                memo,
            },
            queue,
        ));
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

/// The writer task's connection and what it needs beside it.
struct Writer {
    pool: AnyPool,
    backend: Backend,
    memo: Memo,
}

async fn run(writer: Writer, mut queue: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!(BATCH_METRIC).record(batch.len() as f64);
        writer.commit(std::mem::take(&mut batch)).await;
    }
}

impl Writer {
    /// Commits the batch in one transaction. If that fails (a room deleted or
    /// taken over meanwhile, a full disk), nothing of it was written: each entry
    /// is then written alone, so one room's error is that room's only.
    async fn commit(&self, batch: Vec<Job>) {
        if batch.len() > 1 {
            match self.together(&batch).await {
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
            let _ = job.done.send(self.alone(&job.entry).await);
        }
    }

    async fn together(&self, batch: &[Job]) -> Result<Vec<u64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut seqs = Vec::with_capacity(batch.len());
        let mut known = self.known();
        for job in batch {
            seqs.push(write(&mut tx, self.backend, &job.entry, &mut known).await?);
        }
        tx.commit().await?;
        for job in batch {
            self.committed(&job.entry);
        }
        Ok(seqs)
    }

    async fn alone(&self, entry: &Entry) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq = write(&mut tx, self.backend, entry, &mut self.known()).await?;
        tx.commit().await?;
        self.committed(entry);
        Ok(seq)
    }

    fn known(&self) -> Known {
        Known {
            webhooks: self.memo.webhooks(),
            ..Known::default()
        }
    }

    /// What the memo must forget once `entry` is in: its revocations.
    fn committed(&self, entry: &Entry) {
        for record in &entry.records {
            if let Record::Revoked { invitation_id } = record {
                self.memo.forget_invitation(invitation_id);
            }
        }
    }
}

/// What a transaction has already checked, so a batch asks each thing once:
/// every statement is a round trip (to sqlx's SQLite thread, or to Postgres).
#[derive(Default)]
struct Known {
    /// Rooms whose epoch this transaction has checked (and, on Postgres, locked).
    fenced: Vec<(String, Fence)>,
    /// Whether webhooks are enabled, once read (or remembered: `Memo`).
    webhooks: Option<bool>,
}

impl Known {
    /// The epoch `entry`'s journal insert must check: the first append of a
    /// room in a transaction checks it inside the insert, no round trip of
    /// its own; the room's later appends in it need not.
    fn to_check(&self, entry: &Entry) -> Option<Fence> {
        entry.fence.filter(|&fence| {
            !self
                .fenced
                .iter()
                .any(|(r, f)| *r == entry.room_id && *f == fence)
        })
    }
}

/// The journal insert of `entry` in `sql` (one of the constants above), with
/// the epoch to check if any.
fn journal_statement(
    sql: &'static str,
    entry: &Entry,
    check: Option<Fence>,
) -> Result<Statement, StoreError> {
    let statement = Statement::new(sql)
        .text(entry.room_id.as_str())
        .int(ts_to_db(entry.at)?)
        .text(entry.input_json.as_str());
    Ok(match check {
        Some(fence) => statement.int(to_db(fence.0, "room epoch")?),
        None => statement,
    })
}

/// Appends the entry at its room's next sequence number, with its records and the
/// webhook events they make (SPEC §6.2: in the same transaction, none is lost).
async fn write(
    conn: &mut AnyConnection,
    backend: Backend,
    entry: &Entry,
    known: &mut Known,
) -> Result<u64, StoreError> {
    let check = known.to_check(entry);
    let steps = records::plan(&entry.room_id, entry.at, &entry.records)?;
    let events = outbox::events_of(&entry.records)?;
    let one_statement = backend == Backend::Postgres
        && steps
            .iter()
            .all(|step| matches!(step, Step::Run(s) if !s.is_alone()));
    let seq = if one_statement {
        let events = outbox::event_statements(&entry.room_id, entry.at, events, false)?;
        composed(entry, check, &steps, &events)?
            .fetch_int(conn)
            .await
            .map_err(write_error)?
    } else {
        one_by_one(conn, backend, entry, check, &steps, events, known).await?
    };
    // The aggregate gives a row unless the epoch check filtered it out.
    let seq = seq.ok_or(StoreError::NotOwner)?;
    if let Some(fence) = check {
        known.fenced.push((entry.room_id.clone(), fence));
    }
    from_db(seq, "journal seq")
}

/// On Postgres, the whole entry as one statement: each round trip is a wait
/// for the one writer, so an append costs one instead of one per record.
/// Each part reads the entry from `j`; when the epoch check refuses the
/// entry, `j` is empty and no part writes anything.
fn composed(
    entry: &Entry,
    check: Option<Fence>,
    steps: &[Step<'_>],
    events: &[Statement],
) -> Result<Statement, StoreError> {
    let journal = match check {
        Some(_) => FENCED_INSERT_PART_POSTGRES,
        None => INSERT_PART,
    };
    let mut whole = Composer::default();
    whole
        .sql("WITH ")
        .part(&journal_statement(journal, entry, check)?)?;
    let parts = steps.iter().filter_map(|step| match step {
        Step::Run(statement) => Some(statement),
        Step::Other(_) => None,
    });
    for (n, part) in parts.chain(events).enumerate() {
        whole.sql(&format!(", p{n} AS (")).part(part)?.sql(")");
    }
    whole.sql(" SELECT seq FROM j");
    Ok(whole.finish())
}

/// The entry statement by statement: on SQLite, where a statement is a call
/// to sqlx's thread rather than a wait on a socket, and for records that need
/// more than one statement.
async fn one_by_one(
    conn: &mut AnyConnection,
    backend: Backend,
    entry: &Entry,
    check: Option<Fence>,
    steps: &[Step<'_>],
    events: Vec<outbox::Pending>,
    known: &mut Known,
) -> Result<Option<i64>, StoreError> {
    let journal = match (check, backend) {
        (None, _) => INSERT,
        (Some(_), Backend::Sqlite) => FENCED_INSERT_SQLITE,
        (Some(_), Backend::Postgres) => FENCED_INSERT_POSTGRES,
    };
    // The first statement writes, so SQLite takes the write lock before
    // reading MAX(seq): no stale-snapshot upgrade failure under WAL.
    let Some(seq) = journal_statement(journal, entry, check)?
        .fetch_int(conn)
        .await
        .map_err(write_error)?
    else {
        return Ok(None);
    };
    for step in steps {
        match step {
            Step::Run(statement) => {
                statement
                    .prefixed(LATEST)
                    .execute(conn)
                    .await
                    .map_err(write_error)?;
            }
            Step::Other(record) => {
                records::write_other(conn, &entry.room_id, entry.at, record).await?;
            }
        }
    }
    if !events.is_empty() {
        let on = match known.webhooks {
            Some(on) => on,
            None => *known.webhooks.insert(outbox::webhooks_enabled(conn).await?),
        };
        // The statements check the setting too; reading it once per
        // transaction spares a statement per event, and making them, when
        // it is off.
        if on {
            let sqlite = backend == Backend::Sqlite;
            for statement in outbox::event_statements(&entry.room_id, entry.at, events, sqlite)? {
                statement.prefixed(LATEST).execute(conn).await?;
            }
        }
    }
    Ok(Some(seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{Place, on_both_backends};
    use crate::store::tests::{invitation_row, journal_times, room_row};

    type Answer = oneshot::Receiver<Result<u64, StoreError>>;

    /// The writer task's side of `store`, to commit a batch made by hand.
    fn writer_of(store: &crate::store::Store) -> Writer {
        Writer {
            pool: store.writer.clone(),
            backend: store.backend,
            memo: store.memo.clone(),
        }
    }

    fn job(room_id: &str, fence: Option<Fence>, at: u64, records: Vec<Record>) -> (Job, Answer) {
        let (done, committed) = oneshot::channel();
        let entry = Entry {
            room_id: room_id.to_owned(),
            fence,
            at: Timestamp(at),
            input_json: serde_json::to_string(&crate::circle::Input::Tick).unwrap(),
            records,
        };
        (Job { entry, done }, committed)
    }

    fn tick(room_id: &str, at: u64) -> (Job, Answer) {
        job(room_id, None, at, Vec::new())
    }

    async fn answers(answers: Vec<Answer>) -> Vec<Result<u64, String>> {
        let mut got = Vec::new();
        for answer in answers {
            got.push(answer.await.unwrap().map_err(|e| e.to_string()));
        }
        got
    }

    on_both_backends!(a_stale_epoch_refuses_its_entry_only_and_the_others_keep_records_and_events);
    async fn a_stale_epoch_refuses_its_entry_only_and_the_others_keep_records_and_events(
        place: Place,
    ) {
        use crate::circle::{AttendanceEvent, ConsentDecision};
        use crate::store::Claim;
        let store = place.open().await;
        store.set_webhooks_enabled(true).await.unwrap();
        store
            .renew_lease("a", "https://a.example", Timestamp(10_000))
            .await
            .unwrap();
        let mut fences = Vec::new();
        for room in ["r1", "r2"] {
            store.create_room(&room_row(room, 1)).await.unwrap();
            store
                .add_invitation(&invitation_row(room, &format!("{room}-p"), 2))
                .await
                .unwrap();
            let Claim::Owned(fence) = store.claim_room(room, "a", Timestamp(1_000)).await.unwrap()
            else {
                panic!("nobody else owns {room}");
            };
            fences.push(fence);
        }
        let left = |who: &str| Record::Attendance {
            invitation_id: who.to_owned(),
            event: AttendanceEvent::Left,
        };
        let consent = Record::Consent {
            invitation_id: "r1-p".to_owned(),
            item: "voluntary".to_owned(),
            version: "v1".to_owned(),
            decision: ConsentDecision::Accepted,
            given_by: None,
        };
        let (jobs, waiting): (Vec<_>, Vec<_>) = [
            job("r1", Some(fences[0]), 10, vec![left("r1-p")]),
            job("r2", Some(Fence(fences[1].0 + 1)), 11, vec![left("r2-p")]),
            job("r1", Some(fences[0]), 12, vec![consent]),
        ]
        .into_iter()
        .unzip();
        writer_of(&store).commit(jobs).await;
        assert_eq!(
            answers(waiting).await,
            [Ok(1), Err(StoreError::NotOwner.to_string()), Ok(2)]
        );

        let r1 = store.record("r1").await.unwrap();
        assert_eq!(
            r1.attendance
                .iter()
                .map(|a| (a.seq, a.event.as_str()))
                .collect::<Vec<_>>(),
            [(1, "left")]
        );
        assert_eq!(
            r1.consents
                .iter()
                .map(|c| (c.seq, c.item.as_str()))
                .collect::<Vec<_>>(),
            [(2, "voluntary")]
        );
        let r2 = store.record("r2").await.unwrap();
        assert!(r2.attendance.is_empty(), "the refused entry left no record");
        assert!(store.journal("r2").await.unwrap().is_empty());

        // Each event of r1, in order, names the person's party; r2 has none.
        let bodies: Vec<serde_json::Value> = store
            .outbox()
            .await
            .unwrap()
            .iter()
            .map(|row| serde_json::from_str(&row.body).unwrap())
            .collect();
        let seen: Vec<_> = bodies
            .iter()
            .map(|b| {
                (
                    b["type"].as_str().unwrap().to_owned(),
                    b["room_id"].as_str().unwrap().to_owned(),
                    b["data"]["invitation_id"].as_str().unwrap().to_owned(),
                    b["data"]["party"].clone(),
                )
            })
            .collect();
        let harmed = serde_json::json!("harmed");
        assert_eq!(
            seen,
            [
                (
                    "person.left".into(),
                    "r1".into(),
                    "r1-p".into(),
                    harmed.clone()
                ),
                (
                    "consent.recorded".into(),
                    "r1".into(),
                    "r1-p".into(),
                    harmed
                ),
            ]
        );
        assert_eq!(bodies[0]["data"]["reason"], "left");
        assert_eq!(bodies[1]["data"]["answers"][0]["item"], "voluntary");
    }

    on_both_backends!(one_failing_entry_does_not_fail_the_others_of_its_batch);
    async fn one_failing_entry_does_not_fail_the_others_of_its_batch(place: Place) {
        let store = place.open().await;
        store.create_room(&room_row("r1", 1)).await.unwrap();
        store.create_room(&room_row("r2", 1)).await.unwrap();
        let (jobs, waiting): (Vec<_>, Vec<_>) = [("r1", 10), ("gone", 11), ("r2", 12), ("r1", 13)]
            .into_iter()
            .map(|(room, at)| tick(room, at))
            .unzip();
        writer_of(&store).commit(jobs).await;
        assert_eq!(
            answers(waiting).await,
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
