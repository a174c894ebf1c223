//! What the program API (`crate::api`) needs of the store beyond rooms and
//! records: creating a room with all its invitations at once, adding
//! invitations without taking a live seat, a room's schedule and current
//! phase, paged listing, and deletion with retention (SPEC §4, §6.2).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::rooms::{RoomRow, insert_invitation, insert_room};
use super::{InvitationRow, Store, StoreError, enum_from_name, ts_from_db, ts_to_db, write_error};
use crate::circle::{Phase, Timestamp};

/// A room as the API lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoomSummary {
    pub room: RoomRow,
    /// The latest phase in the records, else the phase it was created in.
    pub phase: Phase,
    /// The scheduled start, for rooms created through the API with one.
    pub starts_at: Option<Timestamp>,
    /// The case the room belongs to, if the program gave one.
    pub case_id: Option<String>,
}

/// Why `create_api_room` created nothing.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the store holds its maximum number of rooms")]
    RoomLimit,
    #[error("no such case")]
    CaseUnknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn summary(r: &AnyRow) -> Result<RoomSummary, StoreError> {
    let settings: String = r.try_get("settings")?;
    let created_phase: String = r.try_get("phase")?;
    let latest: Option<String> = r.try_get("latest_phase")?;
    let starts_at: Option<i64> = r.try_get("starts_at")?;
    let room = RoomRow {
        id: r.try_get("id")?,
        settings: serde_json::from_str(&settings)
            .map_err(|_| StoreError::Corrupt("room settings"))?,
        phase: enum_from_name(created_phase.clone(), "phase")?,
        created_at: ts_from_db(r.try_get("created_at")?)?,
    };
    Ok(RoomSummary {
        room,
        phase: enum_from_name(latest.unwrap_or(created_phase), "phase")?,
        starts_at: starts_at.map(ts_from_db).transpose()?,
        case_id: r.try_get("case_id")?,
    })
}

/// The query `summary` reads, with `$rest` (a literal) after its FROM.
macro_rules! summary_select {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.settings, r.phase, r.created_at, a.starts_at, a.case_id, ",
            "(SELECT p.phase FROM phase_changes p WHERE p.room_id = r.id ",
            "ORDER BY p.seq DESC, p.ord DESC LIMIT 1) AS latest_phase ",
            "FROM rooms r LEFT JOIN api_rooms a ON a.room_id = r.id ",
            $rest
        )
    };
}

impl Store {
    /// In one transaction: the room, its schedule, its case and every
    /// invitation, or nothing. `Duplicate` if the id or an invitation id
    /// exists; `CaseUnknown` if the case does not (checked in the same
    /// transaction as the case's deletion checks for rooms).
    pub async fn create_api_room(
        &self,
        room: &RoomRow,
        starts_at: Option<Timestamp>,
        case_id: Option<&str>,
        invitations: &[InvitationRow],
        max_rooms: usize,
    ) -> Result<(), CreateError> {
        let mut tx = self.write_tx().await?;
        insert_room(&mut tx, room).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rooms")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max_rooms {
            return Err(CreateError::RoomLimit);
        }
        if let Some(case_id) = case_id {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE id = $1")
                .bind(case_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            if found == 0 {
                return Err(CreateError::CaseUnknown);
            }
        }
        sqlx::query(
            "INSERT INTO api_rooms (room_id, starts_at, created_at, case_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(&room.id)
        .bind(starts_at.map(ts_to_db).transpose()?)
        .bind(ts_to_db(room.created_at)?)
        .bind(case_id)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        for row in invitations {
            insert_invitation(&mut tx, row).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// In one transaction: every invitation, or none. `Duplicate` when one's
    /// seat is held by an unrevoked invitation of the room; `NotFound` when
    /// the room does not exist.
    pub async fn add_invitations(
        &self,
        room_id: &str,
        rows: &[InvitationRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for row in rows {
            // Insert first (takes the write lock), then look for a live seat holder.
            insert_invitation(&mut tx, row).await?;
            let taken: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM invitations WHERE room_id = $1 AND seat = $2 AND revoked_at IS NULL",
            )
            .bind(room_id)
            .bind(i64::from(row.invitation.seat))
            .fetch_one(&mut *tx)
            .await?;
            if taken > 1 {
                return Err(StoreError::Duplicate);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// One room as the API shows it.
    pub async fn room_summary(&self, room_id: &str) -> Result<Option<RoomSummary>, StoreError> {
        let sql = summary_select!("WHERE r.id = $1");
        let row = sqlx::query(sql)
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(summary).transpose()
    }

    /// Every room of a case, in creation order.
    pub async fn case_rooms(&self, case_id: &str) -> Result<Vec<RoomSummary>, StoreError> {
        let sql = summary_select!("WHERE a.case_id = $1 ORDER BY r.created_at, r.id");
        let rows = sqlx::query(sql).bind(case_id).fetch_all(&self.pool).await?;
        rows.iter().map(summary).collect()
    }

    /// Up to `limit` rooms in creation order, after `after` (the last
    /// `(created_at, id)` of the previous page).
    pub async fn rooms_page(
        &self,
        after: Option<(Timestamp, &str)>,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, StoreError> {
        let rows = match after {
            Some((at, id)) => {
                let sql = summary_select!(
                    "WHERE r.created_at > $1 OR (r.created_at = $2 AND r.id > $3) ORDER BY r.created_at, r.id LIMIT $4"
                );
                let at = ts_to_db(at)?;
                sqlx::query(sql)
                    .bind(at)
                    .bind(at)
                    .bind(id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = summary_select!("ORDER BY r.created_at, r.id LIMIT $1");
                sqlx::query(sql)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(summary).collect()
    }

    /// Deletes the room's whole record and its API schedule. `false` if
    /// there was no such room.
    pub async fn delete_api_room(&self, room_id: &str) -> Result<bool, StoreError> {
        let deleted = self.delete_room(room_id).await?;
        sqlx::query("DELETE FROM api_rooms WHERE room_id = $1")
            .bind(room_id)
            .execute(&self.writer)
            .await?;
        Ok(deleted)
    }

    /// Rooms with no activity since `cutoff`: created, scheduled to start
    /// and last journaled before it (retention, SPEC §4).
    pub async fn rooms_inactive_since(&self, cutoff: Timestamp) -> Result<Vec<String>, StoreError> {
        let cutoff = ts_to_db(cutoff)?;
        let ids = sqlx::query_scalar(
            "SELECT r.id FROM rooms r LEFT JOIN api_rooms a ON a.room_id = r.id \
             WHERE r.created_at < $1 AND (a.starts_at IS NULL OR a.starts_at < $2) \
             AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.room_id = r.id AND j.at >= $3) \
             ORDER BY r.created_at, r.id",
        )
        .bind(cutoff)
        .bind(cutoff)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids)
    }
}
