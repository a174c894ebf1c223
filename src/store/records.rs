//! The durable records of SPEC §4: written with the journal entry that
//! caused them, read back whole for export. People appear by invitation id;
//! names live only in the invitations table.

use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rooms::{InvitationRow, RoomRow, invitation_row, mark_revoked, room_in};
use super::statement::Statement;
use super::{
    Store, StoreError, enum_from_name, enum_name, flag, from_db, ts_from_db, ts_to_db, u32_from_db,
};
use crate::circle::{AgreementItem, Phase, Record, Timestamp};

/// Everything kept about one room, for export.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoomRecord {
    pub room: RoomRow,
    pub invitations: Vec<InvitationRow>,
    pub revocations: Vec<RevocationRow>,
    pub consents: Vec<ConsentRow>,
    pub attendance: Vec<AttendanceRow>,
    pub phase_changes: Vec<PhaseChangeRow>,
    pub rounds: Vec<RoundRow>,
    pub agreements: Vec<AgreementRow>,
    pub acknowledgements: Vec<AcknowledgementRow>,
}

// `seq` in the rows below is the journal entry that caused the record.
// Decision, event and mark are kept as their serde names: the state
// machine's enums for them are serialize-only.

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RevocationRow {
    pub invitation_id: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsentRow {
    pub seq: u64,
    pub invitation_id: String,
    pub item: String,
    pub version: String,
    /// `accepted`, `declined` or `withdrawn`.
    pub decision: String,
    pub at: Timestamp,
    /// A guardian's answer for a minor: the guardian's invitation id.
    pub given_by: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttendanceRow {
    pub seq: u64,
    pub invitation_id: String,
    /// An `AttendanceEvent` name: `arrived`, `admitted`, `left`, …
    pub event: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseChangeRow {
    pub seq: u64,
    pub phase: Phase,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundRow {
    pub round: u32,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub marks: Vec<RoundMarkRow>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundMarkRow {
    pub seq: u64,
    pub invitation_id: String,
    /// `spoke` or `passed`; never what was said.
    pub mark: String,
    pub at: Timestamp,
}

/// One draft or finalisation of the outcome agreement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementRow {
    pub seq: u64,
    pub version: u32,
    pub items: Vec<AgreementItem>,
    pub text: String,
    pub hash: String,
    pub is_final: bool,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AcknowledgementRow {
    pub seq: u64,
    pub invitation_id: String,
    pub hash: String,
    pub at: Timestamp,
}

/// One step of writing an entry's records.
pub(super) enum Step<'r> {
    /// One statement that reads the entry's sequence number from a relation
    /// `j` (see `group_commit`); `$1` is the room.
    Run(Statement),
    /// A record with more to it than one statement (`write_other`).
    Other(&'r Record),
}

/// Whether `record` needs more than statements of its own (`write_other`):
/// reads, and writes outside the room's record.
pub(super) fn needs_more(record: &Record) -> bool {
    matches!(
        record,
        Record::Revoked { .. }
            | Record::OutlineSaved { .. }
            | Record::Agreement { is_final: true, .. }
    )
}

/// How an entry's records are written, in order, `ord` being each one's place.
/// A run of consent answers (one per item of the terms) is one statement.
pub(super) fn plan<'r>(
    room_id: &str,
    at: Timestamp,
    records: &'r [Record],
) -> Result<Vec<Step<'r>>, StoreError> {
    let mut steps = Vec::new();
    let mut first = 0;
    while let Some(rest) = records.get(first..).filter(|rest| !rest.is_empty()) {
        let run = rest
            .iter()
            .take_while(|r| matches!(r, Record::Consent { .. }))
            .count();
        let ord = i64::try_from(first).map_err(|_| StoreError::OutOfRange("record count"))?;
        if run > 0 {
            steps.push(Step::Run(consents(room_id, ord, at, &rest[..run])?));
            first += run;
            continue;
        }
        let record = &rest[0];
        if let Some(statement) = statement(room_id, ord, at, record)? {
            steps.push(Step::Run(statement));
        }
        if needs_more(record) {
            steps.push(Step::Other(record));
        }
        first += 1;
    }
    Ok(steps)
}

/// Consent answers, `ord` onwards, in one multi-row insert.
fn consents(
    room_id: &str,
    ord: i64,
    at: Timestamp,
    consents: &[Record],
) -> Result<Statement, StoreError> {
    use std::fmt::Write;
    let mut sql = String::from(
        "INSERT INTO consent_events (room_id, seq, at, ord, invitation_id, item, version, decision, given_by) \
         SELECT $1, j.seq, $2, v.* FROM j, (VALUES ",
    );
    for row in 0..consents.len() {
        let p = 3 + row * 6;
        let comma = if row == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{comma}(${}, ${}, ${}, ${}, ${}, ${})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        );
    }
    sql.push_str(") AS v");
    let mut statement = Statement::new(sql).text(room_id).int(ts_to_db(at)?);
    for (n, record) in (ord..).zip(consents) {
        let Record::Consent {
            invitation_id,
            item,
            version,
            decision,
            given_by,
        } = record
        else {
            return Err(StoreError::OutOfRange("a consent run"));
        };
        statement = statement
            .int(n)
            .text(invitation_id)
            .text(item)
            .text(version)
            .text(enum_name(decision, "consent decision")?)
            .opt_text(given_by.as_deref());
    }
    Ok(statement)
}

/// The one statement that writes `record`, if it has one.
fn statement(
    room_id: &str,
    ord: i64,
    at: Timestamp,
    record: &Record,
) -> Result<Option<Statement>, StoreError> {
    let at_db = ts_to_db(at)?;
    let statement = match record {
        // The invitation row is written when it is minted; the journal holds
        // the claims. The others are `write_other`'s.
        Record::Invited { .. } | Record::Revoked { .. } | Record::OutlineSaved { .. } => {
            return Ok(None);
        }
        Record::Consent { .. } => consents(room_id, ord, at, std::slice::from_ref(record))?,
        Record::Attendance { invitation_id, event } => Statement::new(
            "INSERT INTO attendance (room_id, seq, ord, invitation_id, event, at) \
             SELECT $1, j.seq, $2, $3, $4, $5 FROM j",
        )
        .text(room_id)
        .int(ord)
        .text(invitation_id)
        .text(enum_name(event, "attendance event")?)
        .int(at_db),
        Record::PhaseChanged { phase } => Statement::new(
            "INSERT INTO phase_changes (room_id, seq, ord, phase, at) SELECT $1, j.seq, $2, $3, $4 FROM j",
        )
        .text(room_id)
        .int(ord)
        .text(enum_name(phase, "phase")?)
        .int(at_db),
        Record::RoundStarted { round } => Statement::new(
            "INSERT INTO rounds (room_id, round, started_at, ended_at) SELECT $1, $2, $3, NULL FROM j",
        )
        .text(room_id)
        .int(i64::from(*round))
        .int(at_db),
        Record::RoundMarked {
            round,
            invitation_id,
            mark,
        } => Statement::new(
            "INSERT INTO round_marks (room_id, seq, ord, round, invitation_id, mark, at) \
             SELECT $1, j.seq, $2, $3, $4, $5, $6 FROM j",
        )
        .text(room_id)
        .int(ord)
        .int(i64::from(*round))
        .text(invitation_id)
        .text(enum_name(mark, "round mark")?)
        .int(at_db),
        // The first end stands; a round that never started has nothing to
        // end. An update may meet the round's insert of the same entry, so
        // it runs on its own.
        Record::RoundEnded { round } => Statement::new(
            "UPDATE rounds SET ended_at = $3 WHERE room_id = $1 AND round = $2 AND ended_at IS NULL",
        )
        .text(room_id)
        .int(i64::from(*round))
        .int(at_db)
        .alone(),
        Record::Agreement {
            version,
            items,
            text,
            hash,
            is_final,
        } => Statement::new(
            "INSERT INTO agreements (room_id, seq, ord, version, items, text, hash, is_final, at) \
             SELECT $1, j.seq, $2, $3, $4, $5, $6, $7, $8 FROM j",
        )
        .text(room_id)
        .int(ord)
        .int(i64::from(*version))
        .text(serde_json::to_string(items)?)
        .text(text)
        .text(hash)
        .bool(*is_final)
        .int(at_db),
        Record::Acknowledged { invitation_id, hash } => Statement::new(
            "INSERT INTO acknowledgements (room_id, seq, ord, invitation_id, hash, at) \
             SELECT $1, j.seq, $2, $3, $4, $5 FROM j",
        )
        .text(room_id)
        .int(ord)
        .text(invitation_id)
        .text(hash)
        .int(at_db),
    };
    Ok(Some(statement))
}

/// Writes, inside `append`'s transaction, what a `Step::Other` record needs
/// beyond its statement.
pub(super) async fn write_other(
    conn: &mut AnyConnection,
    room_id: &str,
    at: Timestamp,
    record: &Record,
) -> Result<(), StoreError> {
    match record {
        Record::Revoked { invitation_id } => mark_revoked(conn, room_id, invitation_id, at)
            .await
            .map(|_| ()),
        // Not the room's record: the program's library, in the same transaction.
        Record::OutlineSaved { outline } => super::outlines::save(conn, outline, at).await,
        Record::Agreement {
            version,
            items,
            hash,
            is_final: true,
            ..
        } => super::outcomes::seed_items(conn, room_id, *version, hash, items, at).await,
        _ => Ok(()),
    }
}

impl Store {
    /// The room's whole record (SPEC §4), each list in the order it happened.
    /// Read in one transaction so the parts agree with each other.
    pub async fn record(&self, room_id: &str) -> Result<RoomRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let room = room_in(&mut tx, room_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let all = |sql: &'static str| sqlx::query(sql).bind(room_id);

        let invitations = all(
            "SELECT id, room_id, seat, role, party, name, interprets_for, guardian_seat, supports_seat, issued_at, expires_at, revoked_at \
             FROM invitations WHERE room_id = $1 ORDER BY seat, id",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(invitation_row)
        .collect::<Result<_, _>>()?;

        let revocations = all("SELECT invitation_id, at FROM revocations WHERE room_id = $1 ORDER BY at, invitation_id")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(RevocationRow {
                    invitation_id: r.try_get("invitation_id")?,
                    at: ts_from_db(r.try_get("at")?)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;

        let consents = all(
            "SELECT seq, invitation_id, item, version, decision, at, given_by FROM consent_events \
             WHERE room_id = $1 ORDER BY seq, ord",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok(ConsentRow {
                seq: seq_of(r)?,
                invitation_id: r.try_get("invitation_id")?,
                item: r.try_get("item")?,
                version: r.try_get("version")?,
                decision: r.try_get("decision")?,
                at: ts_from_db(r.try_get("at")?)?,
                given_by: r.try_get("given_by")?,
            })
        })
        .collect::<Result<_, StoreError>>()?;

        let attendance = all("SELECT seq, invitation_id, event, at FROM attendance WHERE room_id = $1 ORDER BY seq, ord")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| {
                Ok(AttendanceRow {
                    seq: seq_of(r)?,
                    invitation_id: r.try_get("invitation_id")?,
                    event: r.try_get("event")?,
                    at: ts_from_db(r.try_get("at")?)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;

        let phase_changes =
            all("SELECT seq, phase, at FROM phase_changes WHERE room_id = $1 ORDER BY seq, ord")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok(PhaseChangeRow {
                        seq: seq_of(r)?,
                        phase: enum_from_name(r.try_get("phase")?, "phase")?,
                        at: ts_from_db(r.try_get("at")?)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?;

        let mut rounds =
            all("SELECT round, started_at, ended_at FROM rounds WHERE room_id = $1 ORDER BY round")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    let ended_at: Option<i64> = r.try_get("ended_at")?;
                    Ok(RoundRow {
                        round: u32_from_db(r.try_get("round")?, "round")?,
                        started_at: ts_from_db(r.try_get("started_at")?)?,
                        ended_at: ended_at.map(ts_from_db).transpose()?,
                        marks: Vec::new(),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        let marks = all(
            "SELECT seq, round, invitation_id, mark, at FROM round_marks WHERE room_id = $1 ORDER BY seq, ord",
        )
        .fetch_all(&mut *tx)
        .await?;
        for r in &marks {
            let round = u32_from_db(r.try_get("round")?, "round")?;
            // The foreign key guarantees the round exists.
            let Some(row) = rounds.iter_mut().find(|x| x.round == round) else {
                return Err(StoreError::Corrupt("round mark"));
            };
            row.marks.push(RoundMarkRow {
                seq: seq_of(r)?,
                invitation_id: r.try_get("invitation_id")?,
                mark: r.try_get("mark")?,
                at: ts_from_db(r.try_get("at")?)?,
            });
        }

        let agreements = all(
            "SELECT seq, version, items, text, hash, CASE WHEN is_final THEN 1 ELSE 0 END AS is_final, \
             at FROM agreements \
             WHERE room_id = $1 ORDER BY seq, ord",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let items: String = r.try_get("items")?;
            Ok(AgreementRow {
                seq: seq_of(r)?,
                version: u32_from_db(r.try_get("version")?, "agreement version")?,
                items: serde_json::from_str(&items)
                    .map_err(|_| StoreError::Corrupt("agreement items"))?,
                text: r.try_get("text")?,
                hash: r.try_get("hash")?,
                is_final: flag(r, "is_final")?,
                at: ts_from_db(r.try_get("at")?)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;

        let acknowledgements = all(
            "SELECT seq, invitation_id, hash, at FROM acknowledgements WHERE room_id = $1 ORDER BY seq, ord",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok(AcknowledgementRow {
                seq: seq_of(r)?,
                invitation_id: r.try_get("invitation_id")?,
                hash: r.try_get("hash")?,
                at: ts_from_db(r.try_get("at")?)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;

        tx.commit().await?;
        Ok(RoomRecord {
            room,
            invitations,
            revocations,
            consents,
            attendance,
            phase_changes,
            rounds,
            agreements,
            acknowledgements,
        })
    }
}

fn seq_of(r: &AnyRow) -> Result<u64, StoreError> {
    from_db(r.try_get("seq")?, "journal seq")
}
