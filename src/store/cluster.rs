//! Nodes and room ownership (SPEC §6.6). Safety comes from the epoch, not
//! from clocks: every journal append of a room checks, in its own transaction,
//! that the room's epoch is still the one its node claimed, so a node that lost
//! the room (paused, partitioned, its lease lapsed and taken over) can never
//! write to it again. Leases only decide when another node may take over.

use sqlx::AnyConnection;

use super::{Store, StoreError, from_db, ts_from_db, ts_to_db};
use crate::circle::Timestamp;

/// A room's owner epoch as one node claimed it; appends carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence(pub u64);

/// What claiming a room gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This node owns the room now, at this epoch.
    Owned(Fence),
    /// A node whose lease is live owns it: its public URL.
    Elsewhere { node_id: String, public_url: String },
}

/// How often a claim re-reads after losing a race to another node's claim.
const CLAIM_TRIES: usize = 8;

impl Store {
    /// Writes (or extends) this node's lease until `until`.
    pub async fn renew_lease(
        &self,
        node_id: &str,
        public_url: &str,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO nodes (id, public_url, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, \
             lease_until = excluded.lease_until",
        )
        .bind(node_id)
        .bind(public_url)
        .bind(ts_to_db(until)?)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Ends this node's lease and duties at once (graceful shutdown): others
    /// may take its rooms and duties over without waiting for them to lapse.
    pub async fn end_lease(&self, node_id: &str) -> Result<(), StoreError> {
        for sql in [
            "UPDATE nodes SET lease_until = 0 WHERE id = $1",
            "UPDATE duties SET until_ms = 0 WHERE node_id = $1",
        ] {
            sqlx::query(sql).bind(node_id).execute(&self.writer).await?;
        }
        Ok(())
    }

    /// Claims `room_id` for `node_id` at `now`: when nobody owns it, when this
    /// node does (a restart: the epoch still rises, fencing any older process
    /// of the same node), or when its owner's lease ended before `now`.
    /// Each step is a compare-and-set on the epoch, so of two nodes claiming
    /// at once exactly one wins and the other sees it as the owner.
    pub async fn claim_room(
        &self,
        room_id: &str,
        node_id: &str,
        now: Timestamp,
    ) -> Result<Claim, StoreError> {
        let now = ts_to_db(now)?;
        let mut conn = self.writer.acquire().await?;
        for _ in 0..CLAIM_TRIES {
            if let Some(claim) = claim_once(&mut conn, room_id, node_id, now).await? {
                return Ok(claim);
            }
        }
        Err(StoreError::Contended)
    }

    /// The rooms `node_id` owns, with their epochs: a node compares them with
    /// the rooms it runs, to stop those another node has taken over.
    pub async fn owned_rooms(&self, node_id: &str) -> Result<Vec<(String, Fence)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT room_id, epoch FROM room_owners WHERE node_id = $1")
                .bind(node_id)
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(room, epoch)| Ok((room, Fence(from_db(epoch, "room epoch")?))))
            .collect()
    }
}

/// One read and one compare-and-set; `None` when another claim won the race.
async fn claim_once(
    conn: &mut AnyConnection,
    room_id: &str,
    node_id: &str,
    now: i64,
) -> Result<Option<Claim>, StoreError> {
    let owner: Option<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT o.node_id, o.epoch, n.lease_until, n.public_url \
         FROM room_owners o LEFT JOIN nodes n ON n.id = o.node_id WHERE o.room_id = $1",
    )
    .bind(room_id)
    .fetch_optional(&mut *conn)
    .await?;
    let epoch = match owner {
        None => {
            let won: Option<i64> = sqlx::query_scalar(
                "INSERT INTO room_owners (room_id, node_id, epoch) VALUES ($1, $2, 1) \
                 ON CONFLICT (room_id) DO NOTHING RETURNING epoch",
            )
            .bind(room_id)
            .bind(node_id)
            .fetch_optional(&mut *conn)
            .await?;
            won
        }
        Some((owner, _, Some(until), Some(public_url))) if owner != node_id && until >= now => {
            return Ok(Some(Claim::Elsewhere {
                node_id: owner,
                public_url,
            }));
        }
        Some((_, seen, _, _)) => {
            sqlx::query_scalar(
                "UPDATE room_owners SET node_id = $1, epoch = epoch + 1 \
                 WHERE room_id = $2 AND epoch = $3 RETURNING epoch",
            )
            .bind(node_id)
            .bind(room_id)
            .bind(seen)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    epoch
        .map(|e| Ok(Claim::Owned(Fence(from_db(e, "room epoch")?))))
        .transpose()
}

impl Store {
    /// Whether `node_id` may do the duty `name` now (webhook delivery, a
    /// sweep), claiming or extending it until `until`. A node keeps a duty
    /// while it renews it; another takes it once the claim ended before `now`.
    pub async fn hold_duty(
        &self,
        name: &str,
        node_id: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO duties (name, node_id, until_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, until_ms = excluded.until_ms \
             WHERE duties.node_id = excluded.node_id OR duties.until_ms < $4 \
             RETURNING node_id",
        )
        .bind(name)
        .bind(node_id)
        .bind(ts_to_db(until)?)
        .bind(ts_to_db(now)?)
        .fetch_optional(&self.writer)
        .await?;
        Ok(held.is_some())
    }

    /// The node other than `node_id` whose live lease (at `now`) owns the
    /// room, with its public URL: the room runs there. Its journal holds
    /// every input the room accepted, so a replay shows what it shows.
    pub async fn owner_elsewhere(
        &self,
        room_id: &str,
        node_id: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String)>, StoreError> {
        let owner = sqlx::query_as(
            "SELECT o.node_id, n.public_url FROM room_owners o JOIN nodes n ON n.id = o.node_id \
             WHERE o.room_id = $1 AND o.node_id <> $2 AND n.lease_until >= $3",
        )
        .bind(room_id)
        .bind(node_id)
        .bind(ts_to_db(now)?)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner)
    }

    /// The node holding the duty `name` and until when, if any node ever
    /// claimed it (for operators and tests; the claim may have lapsed).
    pub async fn duty_holder(&self, name: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT node_id, until_ms FROM duties WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(node, until)| Ok((node, ts_from_db(until)?)))
            .transpose()
    }
}
