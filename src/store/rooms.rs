//! Rooms, invitations and revocations; deleting a room's whole record.

use serde::Serialize;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Store, StoreError, enum_from_name, enum_name, ts_from_db, ts_to_db, u32_from_db, write_error,
};
use crate::circle::{Invitation, Phase, Settings, Timestamp};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoomRow {
    pub id: String,
    pub settings: Settings,
    /// The phase the room was created in; later phases are in the records.
    pub phase: Phase,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvitationRow {
    pub room_id: String,
    pub invitation: Invitation,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// An invitation query, revoked as either its row or a revocation says:
/// `invitation` and `invitations` both feed the memo, so they read alike.
macro_rules! invitation_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, room_id, seat, role, party, name, interprets_for, guardian_seat, \
             supports_seat, issued_at, expires_at, \
             COALESCE(revoked_at, (SELECT at FROM revocations WHERE invitation_id = invitations.id)) \
             AS revoked_at FROM invitations ",
            $rest
        )
    };
}

/// Deletes of every table holding one room's data, children before `rooms` so
/// foreign keys hold at each step.
const ROOM_DELETES: &[&str] = &[
    "DELETE FROM journal WHERE room_id = $1",
    "DELETE FROM consent_events WHERE room_id = $1",
    "DELETE FROM attendance WHERE room_id = $1",
    "DELETE FROM phase_changes WHERE room_id = $1",
    "DELETE FROM round_marks WHERE room_id = $1",
    "DELETE FROM rounds WHERE room_id = $1",
    "DELETE FROM agreements WHERE room_id = $1",
    "DELETE FROM acknowledgements WHERE room_id = $1",
    "DELETE FROM feedback_answers WHERE room_id = $1",
    "DELETE FROM feedback_given WHERE room_id = $1",
    "DELETE FROM agreement_items WHERE room_id = $1",
    "DELETE FROM revocations WHERE room_id = $1",
    "DELETE FROM invitations WHERE room_id = $1",
    "DELETE FROM room_owners WHERE room_id = $1",
];

impl Store {
    pub async fn create_room(&self, room: &RoomRow) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_room(&mut conn, room).await
    }

    pub async fn room(&self, id: &str) -> Result<Option<RoomRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        room_in(&mut conn, id).await
    }

    pub async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, settings, phase, created_at FROM rooms ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(room_row).collect()
    }

    /// Stores a minted invitation; `NotFound` if its room does not exist.
    pub async fn add_invitation(&self, row: &InvitationRow) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await?;
        insert_invitation(&mut conn, row).await
    }

    pub async fn invitations(&self, room_id: &str) -> Result<Vec<InvitationRow>, StoreError> {
        let read_at = self.memo.generation();
        let rows = sqlx::query(invitation_select!("WHERE room_id = $1 ORDER BY seat, id"))
            .bind(room_id)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(invitation_row)
            .collect::<Result<Vec<_>, _>>()?;
        // A room that starts reads these: its people's arrivals then need no read.
        self.memo.remember(read_at, &rows);
        Ok(rows)
    }

    /// Invitations issued or revoked at or after `since`, in every room: the
    /// owner of a running room learns from them what a program asked of
    /// another node (SPEC §6.6).
    pub async fn invitations_changed_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<InvitationRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, room_id, seat, role, party, name, interprets_for, guardian_seat, supports_seat, issued_at, expires_at, revoked_at \
             FROM invitations WHERE issued_at >= $1 OR revoked_at >= $1 ORDER BY room_id, seat, id",
        )
        .bind(ts_to_db(since)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invitation_row).collect()
    }

    /// Revokes an invitation by jti (the program's revocation); revoking
    /// again changes nothing (the first time stands). The first time, the
    /// webhook event `invitation.revoked` is written in the same transaction.
    /// `NotFound` if the jti is a stored invitation of another room, so one
    /// room's caller cannot revoke another's people.
    pub async fn revoke(
        &self,
        room_id: &str,
        invitation_id: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        // A foreign room's jti rolls this write back below.
        let first = mark_revoked(&mut tx, room_id, invitation_id, at).await?;
        let owner: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT room_id, party FROM invitations WHERE id = $1")
                .bind(invitation_id)
                .fetch_optional(&mut *tx)
                .await?;
        if owner.as_ref().is_some_and(|(owner, _)| owner != room_id) {
            return Err(StoreError::NotFound);
        }
        if first {
            let party = owner.and_then(|(_, party)| party);
            let data = serde_json::json!({"invitation_id": invitation_id, "party": party});
            super::outbox::enqueue_event(&mut tx, room_id, at, "invitation.revoked", data).await?;
        }
        tx.commit().await?;
        self.memo.forget_invitation(invitation_id);
        Ok(())
    }

    /// The stored invitation with this jti, with `revoked_at` set when it
    /// was revoked (by the invitation row or by a revocation of the same jti).
    pub async fn invitation(
        &self,
        invitation_id: &str,
    ) -> Result<Option<InvitationRow>, StoreError> {
        if let Some(row) = self.memo.invitation(invitation_id) {
            return Ok(Some(row));
        }
        let read_at = self.memo.generation();
        let row = sqlx::query(invitation_select!("WHERE id = $1"))
            .bind(invitation_id)
            .fetch_optional(&self.pool)
            .await?;
        let row = row.as_ref().map(invitation_row).transpose()?;
        self.memo.remember(read_at, &row);
        Ok(row)
    }

    pub async fn is_revoked(&self, invitation_id: &str) -> Result<bool, StoreError> {
        let hit: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM revocations WHERE invitation_id = $1")
                .bind(invitation_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(hit.is_some())
    }

    /// Retention: deletes the room with its journal, invitations, revocations
    /// and records, in one transaction, with the webhook event `room.deleted`.
    /// `false` if there was no such room.
    pub async fn delete_room(&self, room_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        if room_in(&mut tx, room_id).await?.is_some() {
            // Placed after the room's last event: a receiver sees it last.
            super::outbox::enqueue_event(
                &mut tx,
                room_id,
                crate::rooms::wall_clock(),
                "room.deleted",
                serde_json::json!({}),
            )
            .await?;
        }
        for sql in ROOM_DELETES {
            sqlx::query(*sql).bind(room_id).execute(&mut *tx).await?;
        }
        let deleted = sqlx::query("DELETE FROM rooms WHERE id = $1")
            .bind(room_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        self.memo.forget_invitations();
        Ok(deleted > 0)
    }
}

/// Records a revocation (first one wins) and stamps the invitation row if
/// it is there; true when this was the first. Shared by `revoke` and by
/// `Record::Revoked` in `append`.
pub(super) async fn mark_revoked(
    conn: &mut AnyConnection,
    room_id: &str,
    invitation_id: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    let at = ts_to_db(at)?;
    let first = sqlx::query(
        "INSERT INTO revocations (invitation_id, room_id, at) VALUES ($1, $2, $3) \
         ON CONFLICT (invitation_id) DO NOTHING",
    )
    .bind(invitation_id)
    .bind(room_id)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND room_id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(invitation_id)
    .bind(room_id)
    .execute(&mut *conn)
    .await?;
    Ok(first)
}

pub(super) async fn room_in(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<RoomRow>, StoreError> {
    let row = sqlx::query("SELECT id, settings, phase, created_at FROM rooms WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| room_row(&r)).transpose()
}

fn room_row(r: &AnyRow) -> Result<RoomRow, StoreError> {
    let settings: String = r.try_get("settings")?;
    Ok(RoomRow {
        id: r.try_get("id")?,
        settings: serde_json::from_str(&settings)
            .map_err(|_| StoreError::Corrupt("room settings"))?,
        phase: enum_from_name(r.try_get("phase")?, "phase")?,
        created_at: ts_from_db(r.try_get("created_at")?)?,
    })
}

pub(super) fn invitation_row(r: &AnyRow) -> Result<InvitationRow, StoreError> {
    let party: Option<String> = r.try_get("party")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let links: Option<String> = r.try_get("interprets_for")?;
    let guardian: Option<i64> = r.try_get("guardian_seat")?;
    let supports: Option<i64> = r.try_get("supports_seat")?;
    let interprets_for = match links {
        Some(json) => serde_json::from_str(&json)
            .map_err(|_| StoreError::Corrupt("invitation interprets_for"))?,
        None => Vec::new(),
    };
    Ok(InvitationRow {
        room_id: r.try_get("room_id")?,
        invitation: Invitation {
            id: r.try_get("id")?,
            seat: u32_from_db(r.try_get("seat")?, "seat")?,
            role: enum_from_name(r.try_get("role")?, "role")?,
            party: party.map(|p| enum_from_name(p, "party")).transpose()?,
            name: r.try_get("name")?,
            interprets_for,
            guardian: guardian
                .map(|s| u32_from_db(s, "guardian seat"))
                .transpose()?,
            supports: supports
                .map(|s| u32_from_db(s, "supported seat"))
                .transpose()?,
        },
        issued_at: ts_from_db(r.try_get("issued_at")?)?,
        expires_at: ts_from_db(r.try_get("expires_at")?)?,
        revoked_at: revoked_at.map(ts_from_db).transpose()?,
    })
}

/// Inside any transaction: one room row (also used by the API's all-or-nothing create).
pub(super) async fn insert_room(
    conn: &mut AnyConnection,
    room: &RoomRow,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO rooms (id, settings, phase, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&room.id)
        .bind(serde_json::to_string(&room.settings)?)
        .bind(enum_name(&room.phase, "phase")?)
        .bind(ts_to_db(room.created_at)?)
        .execute(&mut *conn)
        .await
        .map_err(write_error)?;
    Ok(())
}

/// Inside any transaction: one invitation row; `NotFound` if its room does not exist.
pub(super) async fn insert_invitation(
    conn: &mut AnyConnection,
    row: &InvitationRow,
) -> Result<(), StoreError> {
    let inv = &row.invitation;
    let party = inv
        .party
        .as_ref()
        .map(|p| enum_name(p, "party"))
        .transpose()?;
    // NULL rather than `[]`: most invitations have no link.
    let links = if inv.interprets_for.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&inv.interprets_for)?)
    };
    sqlx::query(
        "INSERT INTO invitations (id, room_id, seat, role, party, name, interprets_for, guardian_seat, supports_seat, issued_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&inv.id)
    .bind(&row.room_id)
    .bind(i64::from(inv.seat))
    .bind(enum_name(&inv.role, "role")?)
    .bind(party)
    .bind(&inv.name)
    .bind(links)
    .bind(inv.guardian.map(i64::from))
    .bind(inv.supports.map(i64::from))
    .bind(ts_to_db(row.issued_at)?)
    .bind(ts_to_db(row.expires_at)?)
    .bind(row.revoked_at.map(ts_to_db).transpose()?)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(())
}
