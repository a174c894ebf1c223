//! Each room's append-only journal of accepted inputs (SPEC §7): replaying
//! it through the state machine rebuilds the room.

use sqlx::Row;

use super::{Store, StoreError, from_db, outbox, records, ts_from_db, ts_to_db, write_error};
use crate::circle::{Input, Record, Timestamp};

impl Store {
    /// In one transaction: appends `input` at the room's next sequence number
    /// and writes every record it caused (and the webhook events they make). Returns that sequence number (from 1).
    /// `NotFound` if the room does not exist; nothing is written on any error.
    pub async fn append(
        &self,
        room_id: &str,
        at: Timestamp,
        input: &Input,
        records: &[Record],
    ) -> Result<u64, StoreError> {
        // Defence in depth: the room task should never hand these over, and
        // chat text must never reach the disk (SPEC §4).
        if let Input::Command { command, .. } = input
            && command.is_ephemeral()
        {
            return Err(StoreError::Ephemeral);
        }
        let json = serde_json::to_string(input)?;
        let at_db = ts_to_db(at)?;
        let mut tx = self.writer.begin().await?;
        // The first statement writes, so SQLite takes the write lock before
        // reading MAX(seq): no stale-snapshot upgrade failure under WAL.
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO journal (room_id, seq, at, input) \
             SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM journal WHERE room_id = ? \
             RETURNING seq",
        )
        .bind(room_id)
        .bind(at_db)
        .bind(&json)
        .bind(room_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error)?;
        for (ord, record) in records.iter().enumerate() {
            let ord = i64::try_from(ord).map_err(|_| StoreError::OutOfRange("record count"))?;
            records::write(&mut tx, room_id, seq, ord, at, record).await?;
        }
        // Webhook events, in the same transaction: none is lost (SPEC §6.2).
        outbox::enqueue(&mut tx, room_id, seq, at, records).await?;
        tx.commit().await?;
        from_db(seq, "journal seq")
    }

    /// The room's accepted inputs with their times, in the order accepted.
    pub async fn journal(&self, room_id: &str) -> Result<Vec<(Timestamp, Input)>, StoreError> {
        let rows = sqlx::query("SELECT at, input FROM journal WHERE room_id = ? ORDER BY seq")
            .bind(room_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let input: String = r.try_get("input")?;
                let input = serde_json::from_str(&input)
                    .map_err(|_| StoreError::Corrupt("journal input"))?;
                Ok((ts_from_db(r.try_get("at")?)?, input))
            })
            .collect()
    }
}
