//! Outcomes (issue 8): anonymous post-session feedback, the follow-up of the
//! final agreement's items with their webhooks, and what reports read.
//!
//! Feedback is kept so that it cannot be traced to a person: an answer row
//! holds the room and the party label only, the "has answered" row holds
//! the invitation id only, and neither has a time or an insertion order
//! (`slot` is random; see migrations/0003_outcomes.sql).

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::outbox::{enqueue_event, rfc3339};
use super::{
    Backend, Store, StoreError, enum_from_name, enum_name, flag, from_db, ts_from_db, ts_to_db,
    u32_from_db, write_error,
};
use crate::circle::{AgreementItem, Party, RoomKind, Timestamp};

/// One person's answers to a questionnaire, or their decline. Nothing in it
/// says who.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackSet {
    pub party: Option<Party>,
    pub declined: bool,
    /// Question id → 1..=5. Questions left out are absent.
    pub answers: BTreeMap<String, u8>,
    pub comment: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Open,
    Done,
    NotDone,
}

/// One item of a room's final agreement and where it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct AgreementItemRow {
    /// From 0, in the order of the agreement.
    pub index: u32,
    /// The final agreement's version and hash the item belongs to.
    pub version: u32,
    pub hash: String,
    pub what: String,
    pub who: String,
    pub by: String,
    pub due: Option<String>,
    /// The seat of the person who owns the item, if the keeper named one.
    pub owner_seat: Option<u32>,
    pub status: ItemStatus,
    pub updated_at: Timestamp,
}

/// A change to one item: a new status and/or a new due date (`Some(None)`
/// clears it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemChange {
    pub status: Option<ItemStatus>,
    pub due: Option<Option<String>>,
}

/// A room as reports see it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportRoom {
    pub id: String,
    /// The first time the room went `in_session`, if it ever did.
    pub started_at: Option<Timestamp>,
    /// Whether it reached `closed`.
    pub closed: bool,
    pub kind: RoomKind,
    /// The case it belongs to, if any.
    pub case_id: Option<String>,
}

/// The one field of a room's settings that reports need, read without the rest.
#[derive(Deserialize)]
struct KindOf {
    kind: RoomKind,
}

/// A random storage key: rows sit in random order, not in order of arrival.
fn random_slot() -> i64 {
    rand::rng().random_range(1..i64::MAX)
}

/// How often a random slot is drawn again after a (vanishingly rare) collision.
const SLOT_TRIES: usize = 4;

/// Postgres only: rewrites every answer row and every "has answered" row of
/// the room, in `slot` order, inside the transaction that added one of each.
/// Otherwise the new pair would share a transaction id (`xmin`) that no other
/// row has, and sit last in the tables' physical order (`ctid`): anyone who
/// may read the tables could pair an answer with its person. Afterwards all of
/// the room's rows share the one `xmin` and lie in random order, as SQLite's
/// random storage key keeps them. A room has tens of rows at most.
async fn unlink_feedback_rows(conn: &mut AnyConnection, room_id: &str) -> Result<(), StoreError> {
    for sql in [
        "WITH moved AS (DELETE FROM feedback_answers WHERE room_id = $1 RETURNING *) \
         INSERT INTO feedback_answers SELECT * FROM moved ORDER BY slot",
        "WITH moved AS (DELETE FROM feedback_given WHERE room_id = $1 RETURNING *) \
         INSERT INTO feedback_given SELECT * FROM moved ORDER BY slot",
    ] {
        sqlx::query(sql).bind(room_id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inside `append`'s transaction, when an agreement is finalised: its items
/// become `open` (replacing the items of an earlier final version).
pub(super) async fn seed_items(
    conn: &mut AnyConnection,
    room_id: &str,
    version: u32,
    hash: &str,
    items: &[AgreementItem],
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM agreement_items WHERE room_id = $1")
        .bind(room_id)
        .execute(&mut *conn)
        .await?;
    for (index, item) in items.iter().enumerate() {
        let index = i64::try_from(index).map_err(|_| StoreError::OutOfRange("item index"))?;
        sqlx::query(
            "INSERT INTO agreement_items (room_id, idx, version, hash, what, who, by_when, due, \
             status, updated_at, completed_notified, missed_notified, owner_seat) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, FALSE, FALSE, $10)",
        )
        .bind(room_id)
        .bind(index)
        .bind(i64::from(version))
        .bind(hash)
        .bind(item.what.trim())
        .bind(item.who.trim())
        .bind(item.by.trim())
        .bind(&item.due)
        .bind(ts_to_db(at)?)
        .bind(item.owner_seat.map(i64::from))
        .execute(&mut *conn)
        .await
        .map_err(write_error)?;
    }
    Ok(())
}

fn item_row(r: &AnyRow) -> Result<AgreementItemRow, StoreError> {
    Ok(AgreementItemRow {
        index: u32_from_db(r.try_get("idx")?, "item index")?,
        version: u32_from_db(r.try_get("version")?, "agreement version")?,
        hash: r.try_get("hash")?,
        what: r.try_get("what")?,
        who: r.try_get("who")?,
        by: r.try_get("by_when")?,
        due: r.try_get("due")?,
        owner_seat: r
            .try_get::<Option<i64>, _>("owner_seat")?
            .map(|s| u32_from_db(s, "owner seat"))
            .transpose()?,
        status: enum_from_name(r.try_get("status")?, "item status")?,
        updated_at: ts_from_db(r.try_get("updated_at")?)?,
    })
}

/// `$head`, the columns `item_row` reads (and the notified flags), then `$rest`.
macro_rules! item_sql {
    ($head:literal, $rest:literal) => {
        concat!(
            $head,
            " idx, version, hash, what, who, by_when, due, owner_seat, status, updated_at, ",
            "CASE WHEN completed_notified THEN 1 ELSE 0 END AS completed_notified, ",
            "CASE WHEN missed_notified THEN 1 ELSE 0 END AS missed_notified ",
            $rest
        )
    };
}

/// Which webhook an item change or the sweep sends.
enum ItemEvent {
    Completed,
    /// `reason`: `not_done` (marked so) or `overdue` (the due date passed while open).
    Missed(&'static str),
}

/// Inside a transaction: the item event, addressed to the harmed party.
async fn notify_item(
    conn: &mut AnyConnection,
    room_id: &str,
    item: &AgreementItemRow,
    event: ItemEvent,
    at: Timestamp,
) -> Result<(), StoreError> {
    let harmed = enum_name(&Party::Harmed, "party")?;
    let invitation_ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM invitations WHERE room_id = $1 AND party = $2 ORDER BY seat, id",
    )
    .bind(room_id)
    .bind(&harmed)
    .fetch_all(&mut *conn)
    .await?;
    let mut data = json!({
        "index": item.index,
        "version": item.version,
        "hash": item.hash,
        "due": item.due,
        "status": enum_name(&item.status, "item status")?,
        "notify": { "party": harmed, "invitation_ids": invitation_ids },
    });
    // The item's owner is told of it too (issue 15): their seat and its live invitations.
    if let Some(seat) = item.owner_seat {
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM invitations WHERE room_id = $1 AND seat = $2 AND revoked_at IS NULL \
             ORDER BY id",
        )
        .bind(room_id)
        .bind(i64::from(seat))
        .fetch_all(&mut *conn)
        .await?;
        data["owner"] = json!({ "seat": seat, "invitation_ids": owners });
    }
    let kind = match event {
        ItemEvent::Completed => "agreement.item_completed",
        ItemEvent::Missed(reason) => {
            data["reason"] = Value::from(reason);
            "agreement.item_missed"
        }
    };
    enqueue_event(conn, room_id, at, kind, data).await
}

impl Store {
    /// Whether this invitation has answered or declined the room's questionnaire.
    pub async fn feedback_given(
        &self,
        room_id: &str,
        invitation_id: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.given_in(&mut conn, room_id, invitation_id).await
    }

    /// In one transaction: marks the invitation as having answered and
    /// keeps the answers apart from it. `false` (nothing written) if it had
    /// answered already.
    pub async fn give_feedback(
        &self,
        room_id: &str,
        invitation_id: &str,
        set: &FeedbackSet,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let party = set
            .party
            .as_ref()
            .map(|p| enum_name(p, "party"))
            .transpose()?;
        let answers = serde_json::to_string(&set.answers)?;
        // Write first, so SQLite takes the write lock before the check.
        for attempt in 1..=SLOT_TRIES {
            let written = sqlx::query(
                "INSERT INTO feedback_answers (slot, room_id, party, declined, answers, comment) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(random_slot())
            .bind(room_id)
            .bind(&party)
            .bind(set.declined)
            .bind(&answers)
            .bind(&set.comment)
            .execute(&mut *tx)
            .await
            .map_err(write_error);
            match written {
                Ok(_) => break,
                Err(StoreError::Duplicate) if attempt < SLOT_TRIES => continue,
                Err(e) => return Err(e),
            }
        }
        if self.given_in(&mut tx, room_id, invitation_id).await? {
            return Ok(false);
        }
        for attempt in 1..=SLOT_TRIES {
            let written = sqlx::query(
                "INSERT INTO feedback_given (slot, room_id, invitation_id) VALUES ($1, $2, $3)",
            )
            .bind(random_slot())
            .bind(room_id)
            .bind(invitation_id)
            .execute(&mut *tx)
            .await
            .map_err(write_error);
            match written {
                Ok(_) => break,
                // A racing answer of the same invitation: the check above
                // cannot see it yet; the unique key does.
                Err(StoreError::Duplicate)
                    if self.given_in(&mut tx, room_id, invitation_id).await? =>
                {
                    return Ok(false);
                }
                Err(StoreError::Duplicate) if attempt < SLOT_TRIES => continue,
                Err(e) => return Err(e),
            }
        }
        if self.backend == Backend::Postgres {
            unlink_feedback_rows(&mut tx, room_id).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn given_in(
        &self,
        conn: &mut AnyConnection,
        room_id: &str,
        invitation_id: &str,
    ) -> Result<bool, StoreError> {
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM feedback_given WHERE room_id = $1 AND invitation_id = $2",
        )
        .bind(room_id)
        .bind(invitation_id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(hit.is_some())
    }

    /// Every answer set of the room, in no meaningful order.
    pub async fn feedback_sets(&self, room_id: &str) -> Result<Vec<FeedbackSet>, StoreError> {
        let rows = sqlx::query(
            "SELECT party, CASE WHEN declined THEN 1 ELSE 0 END AS declined, answers, comment \
             FROM feedback_answers \
             WHERE room_id = $1 ORDER BY slot",
        )
        .bind(room_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let party: Option<String> = r.try_get("party")?;
                let answers: String = r.try_get("answers")?;
                Ok(FeedbackSet {
                    party: party.map(|p| enum_from_name(p, "party")).transpose()?,
                    declined: flag(r, "declined")?,
                    answers: serde_json::from_str(&answers)
                        .map_err(|_| StoreError::Corrupt("feedback answers"))?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }

    /// The items of the room's final agreement, in order (empty if none is final).
    pub async fn agreement_items(
        &self,
        room_id: &str,
    ) -> Result<Vec<AgreementItemRow>, StoreError> {
        let sql = item_sql!(
            "SELECT",
            "FROM agreement_items WHERE room_id = $1 ORDER BY idx"
        );
        let rows = sqlx::query(sql).bind(room_id).fetch_all(&self.pool).await?;
        rows.iter().map(item_row).collect()
    }

    /// Applies `change` to one item and, in the same transaction, queues its
    /// webhook: `agreement.item_completed` when it becomes `done`,
    /// `agreement.item_missed` when it becomes `not_done`, each at most once
    /// per item. `None` if the room has no such item.
    pub async fn change_agreement_item(
        &self,
        room_id: &str,
        index: u32,
        change: &ItemChange,
        now: Timestamp,
    ) -> Result<Option<AgreementItemRow>, StoreError> {
        let mut tx = self.write_tx().await?;
        // Write first (a no-op), so SQLite takes the write lock before reading.
        sqlx::query("UPDATE agreement_items SET idx = idx WHERE room_id = $1 AND idx = $2")
            .bind(room_id)
            .bind(i64::from(index))
            .execute(&mut *tx)
            .await?;
        let sql = item_sql!(
            "SELECT",
            "FROM agreement_items WHERE room_id = $1 AND idx = $2"
        );
        let Some(row) = sqlx::query(sql)
            .bind(room_id)
            .bind(i64::from(index))
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let mut item = item_row(&row)?;
        let mut completed_notified = flag(&row, "completed_notified")?;
        let mut missed_notified = flag(&row, "missed_notified")?;
        let before = item.status;
        if let Some(status) = change.status {
            item.status = status;
        }
        if let Some(due) = &change.due {
            item.due = due.clone();
        }
        item.updated_at = now;
        let event = match (before, item.status) {
            (from, ItemStatus::Done) if from != ItemStatus::Done && !completed_notified => {
                completed_notified = true;
                Some(ItemEvent::Completed)
            }
            (from, ItemStatus::NotDone) if from != ItemStatus::NotDone && !missed_notified => {
                missed_notified = true;
                Some(ItemEvent::Missed("not_done"))
            }
            _ => None,
        };
        sqlx::query(
            "UPDATE agreement_items SET status = $1, due = $2, updated_at = $3, \
             completed_notified = $4, missed_notified = $5 WHERE room_id = $6 AND idx = $7",
        )
        .bind(enum_name(&item.status, "item status")?)
        .bind(&item.due)
        .bind(ts_to_db(now)?)
        .bind(completed_notified)
        .bind(missed_notified)
        .bind(room_id)
        .bind(i64::from(index))
        .execute(&mut *tx)
        .await?;
        if let Some(event) = event {
            notify_item(&mut tx, room_id, &item, event, now).await?;
        }
        tx.commit().await?;
        Ok(Some(item))
    }

    /// The follow-up sweep: every item still `open` whose due date is before
    /// `today`'s (UTC) day and that was never reported missed gets its
    /// `agreement.item_missed` (reason `overdue`), stamped `now`, in one
    /// transaction. Returns the (room, index) of each item reported.
    pub async fn sweep_overdue_items(
        &self,
        today: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<(String, u32)>, StoreError> {
        let today = rfc3339(today)[..10].to_owned();
        let mut tx = self.write_tx().await?;
        // Claim the rows first (this write takes SQLite's write lock).
        let sql = item_sql!(
            "UPDATE agreement_items SET missed_notified = TRUE \
             WHERE status = 'open' AND missed_notified = FALSE AND due IS NOT NULL AND due < $1 \
             RETURNING room_id,",
            ""
        );
        let rows = sqlx::query(sql).bind(&today).fetch_all(&mut *tx).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let room_id: String = row.try_get("room_id")?;
            items.push((room_id, item_row(row)?));
        }
        items.sort_by(|a, b| (&a.0, a.1.index).cmp(&(&b.0, b.1.index)));
        for (room_id, item) in &items {
            notify_item(&mut tx, room_id, item, ItemEvent::Missed("overdue"), now).await?;
        }
        tx.commit().await?;
        Ok(items
            .into_iter()
            .map(|(room, item)| (room, item.index))
            .collect())
    }

    /// Every room with its kind and case, when its session first started
    /// and whether it closed.
    pub async fn report_rooms(&self) -> Result<Vec<ReportRoom>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.settings, a.case_id, \
             (SELECT MIN(p.at) FROM phase_changes p WHERE p.room_id = r.id AND p.phase = 'in_session') \
               AS started_at, \
             (SELECT COUNT(*) FROM phase_changes p WHERE p.room_id = r.id AND p.phase = 'closed') \
               AS closings \
             FROM rooms r LEFT JOIN api_rooms a ON a.room_id = r.id \
             ORDER BY r.created_at, r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let started_at: Option<i64> = r.try_get("started_at")?;
                let closings: i64 = r.try_get("closings")?;
                let settings: String = r.try_get("settings")?;
                let KindOf { kind } = serde_json::from_str(&settings)
                    .map_err(|_| StoreError::Corrupt("room settings"))?;
                Ok(ReportRoom {
                    id: r.try_get("id")?,
                    started_at: started_at.map(ts_from_db).transpose()?,
                    closed: from_db(closings, "closings")? > 0,
                    kind,
                    case_id: r.try_get("case_id")?,
                })
            })
            .collect()
    }
}
