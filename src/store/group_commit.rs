//! Group commit for journal appends: one writer owns the writes of every
//! room's journal and commits the appends that queued while the previous
//! commit ran in one transaction.
//!
//! A burst of arrivals is many rooms appending at once. Each append alone is
//! BEGIN, its inserts, COMMIT, and each commit writes the same B-tree pages to
//! the WAL again. One commit for the queue keeps the inserts and pays
//! BEGIN/COMMIT and the page writes once (docs/benchmarks.md). A lone append
//! is committed at once; while appends keep queuing together, commits are
//! spaced a few milliseconds apart so each holds more (`pace`). On Postgres
//! the writer is a task here and an append is one statement (`composed`); on
//! a SQLite file it is the journal thread (`journal_thread`), one call per
//! record.

use std::path::PathBuf;
use std::time::Instant;

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::cluster::Fence;
use super::journal_thread;
use super::memo::Memo;
use super::pace::Pace;
use super::records::Step;
use super::statement::{Composer, Statement};
use super::{
    Backend, StoreError, begin_write, from_db, outbox, records, to_db, ts_to_db, write_error,
};
use crate::circle::{Record, Timestamp};

/// At most this many appends share one transaction, so one commit stays short.
pub(super) const MAX_BATCH: usize = 256;

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
pub(super) const BATCH_METRIC: &str = "circlekeeper_journal_commit_batch";

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

pub(super) struct Job {
    pub entry: Entry,
    done: oneshot::Sender<Result<u64, StoreError>>,
}

/// What the writer receives: appends, or the request to close.
pub(super) enum Msg {
    Append(Job),
    /// Commit what came before, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The appends received before a close, and the close's answer if asked.
/// Appends after a close are dropped: their rooms get `Closed`.
pub(super) fn split(msgs: &mut Vec<Msg>) -> (Vec<Job>, Option<oneshot::Sender<()>>) {
    let mut jobs = Vec::with_capacity(msgs.len());
    for msg in msgs.drain(..) {
        match msg {
            Msg::Append(job) => jobs.push(job),
            Msg::Close(answer) => return (jobs, Some(answer)),
        }
    }
    (jobs, None)
}

/// The next commit, once the writer has waited as `pace` says: `msgs` and
/// what queued meanwhile (up to a batch), split at a close (`split`).
pub(super) fn next_batch(
    queue: &mut mpsc::Receiver<Msg>,
    msgs: &mut Vec<Msg>,
    pace: &mut Pace,
) -> (Vec<Job>, Option<oneshot::Sender<()>>) {
    while msgs.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(msg) => msgs.push(msg),
            Err(_) => break,
        }
    }
    let (jobs, close) = split(msgs);
    pace.started(Instant::now(), jobs.len());
    (jobs, close)
}

/// The sending side; cheap to clone. The writer ends when every clone is
/// gone, or when closed.
#[derive(Clone, Debug)]
pub(super) struct Appender {
    jobs: mpsc::Sender<Msg>,
}

impl Appender {
    /// Starts the writer: on a SQLite file (`sqlite_file`), the journal
    /// thread with its own connection (`journal_thread`); else a task on the
    /// current tokio runtime, writing through `writer`.
    pub(super) async fn start(
        writer: AnyPool,
        backend: Backend,
        memo: Memo,
        sqlite_file: Option<PathBuf>,
    ) -> Result<Appender, StoreError> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writer = Writer {
            pool: writer,
            backend,
            memo,
        };
        match sqlite_file {
            Some(file) => journal_thread::start(file, writer, queue).await?,
            None => {
                tokio::spawn(run(writer, queue));
            }
        }
        Ok(Appender { jobs })
    }

    /// Queues `entry` and waits until it is committed; returns its sequence number.
    pub(super) async fn append(&self, entry: Entry) -> Result<u64, StoreError> {
        let (done, committed) = oneshot::channel();
        self.jobs
            .send(Msg::Append(Job { entry, done }))
            .await
            .map_err(|_| StoreError::Closed)?;
        committed.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits what is queued, then closes the writer's connection; later
    /// appends fail with `Closed`.
    pub(super) async fn close(&self) {
        let (answer, closed) = oneshot::channel();
        if self.jobs.send(Msg::Close(answer)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Where a batch is written: sqlx (`Writer`), or on SQLite the journal
/// thread's own connection.
pub(super) trait Transact {
    /// Writes the jobs' entries in one transaction; their sequence numbers,
    /// in order. On an error nothing of them is written.
    async fn transact(&mut self, jobs: &[Job]) -> Result<Vec<u64>, StoreError>;

    fn memo(&self) -> &Memo;
}

/// Commits the batch in one transaction. If that fails (a room deleted or
/// taken over meanwhile, a full disk), nothing of it was written: each entry
/// is then written alone, so one room's error is that room's only.
pub(super) async fn commit(writer: &mut impl Transact, batch: Vec<Job>) {
    if batch.len() > 1 {
        match writer.transact(&batch).await {
            Ok(seqs) => {
                for (job, seq) in batch.into_iter().zip(seqs) {
                    committed(writer.memo(), &job.entry);
                    // The room task may have gone; its entry is written all the same.
                    let _ = job.done.send(Ok(seq));
                }
                return;
            }
            Err(e) => tracing::debug!(error = %e, "group commit failed; writing alone"),
        }
    }
    for job in batch {
        let result = writer.transact(std::slice::from_ref(&job)).await;
        let result = result.and_then(|seqs| seqs.first().copied().ok_or(StoreError::Closed));
        if result.is_ok() {
            committed(writer.memo(), &job.entry);
        }
        let _ = job.done.send(result);
    }
}

/// What the memo must forget once `entry` is in: its revocations.
fn committed(memo: &Memo, entry: &Entry) {
    for record in &entry.records {
        if let Record::Revoked { invitation_id } = record {
            memo.forget_invitation(invitation_id);
        }
    }
}

/// The writer task's connection and what it needs beside it.
pub(super) struct Writer {
    pool: AnyPool,
    backend: Backend,
    memo: Memo,
}

async fn run(mut writer: Writer, mut queue: mpsc::Receiver<Msg>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut pace = Pace::default();
    while queue.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        let wait = pace.wait(msgs.len(), Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let (batch, close) = next_batch(&mut queue, &mut msgs, &mut pace);
        if !batch.is_empty() {
            metrics::histogram!(BATCH_METRIC).record(batch.len() as f64);
            commit(&mut writer, batch).await;
        }
        if let Some(answer) = close {
            let _ = answer.send(());
            return;
        }
    }
}

impl Transact for Writer {
    async fn transact(&mut self, jobs: &[Job]) -> Result<Vec<u64>, StoreError> {
        let mut tx = begin_write(&self.pool, self.backend).await?;
        let mut known = Known::new(&self.memo);
        let mut seqs = Vec::with_capacity(jobs.len());
        for job in jobs {
            seqs.push(write(&mut *tx, self.backend, &job.entry, &mut known).await?);
        }
        tx.commit().await?;
        Ok(seqs)
    }

    fn memo(&self) -> &Memo {
        &self.memo
    }
}

/// A connection an entry's statements run on.
pub(super) trait Conn {
    async fn fetch_int(&mut self, statement: &Statement) -> Result<Option<i64>, StoreError>;
    async fn execute(&mut self, statement: &Statement) -> Result<(), StoreError>;
    async fn webhooks_enabled(&mut self) -> Result<bool, StoreError>;
    /// A record with more to it than one statement (`records::needs_more`).
    async fn write_other(
        &mut self,
        room_id: &str,
        at: Timestamp,
        record: &Record,
    ) -> Result<(), StoreError>;
}

impl Conn for AnyConnection {
    async fn fetch_int(&mut self, statement: &Statement) -> Result<Option<i64>, StoreError> {
        statement.fetch_int(self).await.map_err(write_error)
    }

    async fn execute(&mut self, statement: &Statement) -> Result<(), StoreError> {
        statement.execute(self).await.map_err(write_error)?;
        Ok(())
    }

    async fn webhooks_enabled(&mut self) -> Result<bool, StoreError> {
        outbox::webhooks_enabled(self).await
    }

    async fn write_other(
        &mut self,
        room_id: &str,
        at: Timestamp,
        record: &Record,
    ) -> Result<(), StoreError> {
        records::write_other(self, room_id, at, record).await
    }
}

/// What a transaction has already checked, so a batch asks each thing once:
/// every statement costs a round trip (to Postgres, or to sqlx's SQLite thread)
/// or at least a call.
pub(super) struct Known {
    /// Rooms whose epoch this transaction has checked (and, on Postgres, locked).
    fenced: Vec<(String, Fence)>,
    /// Whether webhooks are enabled, once read (or remembered: `Memo`).
    webhooks: Option<bool>,
}

impl Known {
    pub(super) fn new(memo: &Memo) -> Known {
        Known {
            fenced: Vec::new(),
            webhooks: memo.webhooks(),
        }
    }

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
pub(super) async fn write(
    conn: &mut impl Conn,
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
        conn.fetch_int(&composed(entry, check, &steps, &events)?)
            .await?
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
    conn: &mut impl Conn,
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
    let Some(seq) = conn
        .fetch_int(&journal_statement(journal, entry, check)?)
        .await?
    else {
        return Ok(None);
    };
    for step in steps {
        match step {
            Step::Run(statement) => conn.execute(&statement.prefixed(LATEST)).await?,
            Step::Other(record) => conn.write_other(&entry.room_id, entry.at, record).await?,
        }
    }
    if !events.is_empty() {
        let on = match known.webhooks {
            Some(on) => on,
            None => *known.webhooks.insert(conn.webhooks_enabled().await?),
        };
        // The statements check the setting too; reading it once per
        // transaction spares a statement per event, and making them, when
        // it is off.
        if on {
            let sqlite = backend == Backend::Sqlite;
            for statement in outbox::event_statements(&entry.room_id, entry.at, events, sqlite)? {
                conn.execute(&statement.prefixed(LATEST)).await?;
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

    /// Commits a batch made by hand as the store's own writer would: on a
    /// SQLite file the journal thread's connection, else sqlx.
    async fn commit_by_hand(place: &Place, store: &crate::store::Store, jobs: Vec<Job>) {
        match &place.location {
            crate::store::Location::Sqlite(dir) => {
                let file = dir.join(crate::store::DB_FILE);
                journal_thread::commit_on_new_connection(&file, &store.memo, jobs);
            }
            crate::store::Location::Postgres(_) => {
                let mut writer = Writer {
                    pool: store.writer.clone(),
                    backend: store.backend,
                    memo: store.memo.clone(),
                };
                commit(&mut writer, jobs).await;
            }
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
        commit_by_hand(&place, &store, jobs).await;
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
        commit_by_hand(&place, &store, jobs).await;
        assert_eq!(
            answers(waiting).await,
            [Ok(1), Err("not found".to_owned()), Ok(1), Ok(2)],
            "sequence numbers per room, and the missing room's own error"
        );
        assert_eq!(journal_times(&store, "r1").await, [10, 13]);
        assert_eq!(store.journal("r2").await.unwrap().len(), 1);
    }

    on_both_backends!(closing_commits_what_was_queued_and_refuses_what_comes_after);
    async fn closing_commits_what_was_queued_and_refuses_what_comes_after(place: Place) {
        let store = place.open().await;
        store.create_room(&room_row("r1", 1)).await.unwrap();
        let tick = crate::circle::Input::Tick;
        let queued = store.append("r1", Timestamp(10), &tick, &[]);
        let (seq, ()) = tokio::join!(queued, store.close());
        assert_eq!(seq.unwrap(), 1);
        let after = store.append("r1", Timestamp(11), &tick, &[]).await;
        assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
        drop(store);
        let reopened = place.open().await;
        assert_eq!(journal_times(&reopened, "r1").await, [10]);
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
