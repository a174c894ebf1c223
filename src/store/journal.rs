//! Each room's append-only journal of accepted inputs (SPEC §7): replaying
//! it through the state machine rebuilds the room.

use sqlx::Row;

use super::group_commit::Entry;
use super::{Fence, Store, StoreError, ts_from_db};
use crate::circle::{Input, Record, Timestamp};

impl Store {
    /// In one transaction: appends `input` at the room's next sequence number
    /// and writes every record it caused (and the webhook events they make).
    /// Returns that sequence number (from 1) once committed; appends of several
    /// rooms may share the commit (`group_commit`).
    /// `NotFound` if the room does not exist; nothing is written on any error.
    pub async fn append(
        &self,
        room_id: &str,
        at: Timestamp,
        input: &Input,
        records: &[Record],
    ) -> Result<u64, StoreError> {
        self.append_entry(room_id, None, at, input, records).await
    }

    /// `append`, only while the room's owner epoch is still `fence`; else
    /// `NotOwner` and nothing is written (SPEC §6.6). Room tasks append so.
    pub async fn append_fenced(
        &self,
        room_id: &str,
        fence: Fence,
        at: Timestamp,
        input: &Input,
        records: &[Record],
    ) -> Result<u64, StoreError> {
        self.append_entry(room_id, Some(fence), at, input, records)
            .await
    }

    async fn append_entry(
        &self,
        room_id: &str,
        fence: Option<Fence>,
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
        let entry = Entry {
            room_id: room_id.to_owned(),
            fence,
            at,
            input_json: serde_json::to_string(input)?,
            records: records.to_vec(),
        };
        self.appender.append(entry).await
    }

    /// The room's accepted inputs with their times, in the order accepted.
    pub async fn journal(&self, room_id: &str) -> Result<Vec<(Timestamp, Input)>, StoreError> {
        let rows = sqlx::query("SELECT at, input FROM journal WHERE room_id = $1 ORDER BY seq")
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
