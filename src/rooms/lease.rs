//! This server as a node of several sharing one store (SPEC §6.6): it keeps
//! its lease and stops the rooms another node has taken over.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::wall_clock;
use crate::circle::Timestamp;
use crate::server::App;
use crate::store::Backend;

/// Who this server is among the nodes sharing the store.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    /// Where clients reach this node itself (redirects name it).
    pub url: String,
    pub lease: Duration,
}

impl Node {
    /// The lease's end if renewed now.
    pub fn lease_until(&self) -> Timestamp {
        let lease = u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX);
        Timestamp(wall_clock().0.saturating_add(lease))
    }
}

/// Whether this node does the periodic duty `name` now: one node of those
/// sharing the store does each. A store error counts as "not now".
pub async fn on_duty(app: &App, name: &str) -> bool {
    // SQLite is one node's store: nobody to share the duty with.
    if app.store.backend() == Backend::Sqlite {
        return true;
    }
    let node = app.rooms.node();
    // Held past this node's next pass, so the same node keeps sweeping while
    // it lives; another takes over only when it has been gone that long.
    let until = node.lease_until().plus_ms(DUTY_MARGIN_MS);
    match app
        .store
        .hold_duty(name, &node.id, wall_clock(), until)
        .await
    {
        Ok(held) => held,
        Err(error) => {
            tracing::warn!(%error, duty = name, "claiming a duty failed");
            false
        }
    }
}

/// How far behind ours another node's clock may be for its invitations and
/// revocations to still reach our rooms.
const CLOCK_MARGIN_MS: u64 = 60_000;

/// Sweeps run hourly; their duty outlives two passes.
const DUTY_MARGIN_MS: u64 = 2 * 60 * 60 * 1000;

/// Renews the lease every third of its length until shutdown, and after each
/// renewal stops the rooms this node no longer owns and tells its running
/// rooms of invitations issued or revoked through other nodes. Renewal failing (the
/// database unreachable) is logged and retried: safety does not depend on it,
/// since a room taken over refuses this node's appends by its epoch.
///
/// On SQLite, a store of one node, it does not run: nothing would read the
/// lease, and a write every few seconds wears a small machine's disk. A
/// second server on the same file refuses to start (`Lock::SqliteServer`).
pub fn spawn_lease(app: Arc<App>) -> Option<JoinHandle<()>> {
    if app.store.backend() == Backend::Sqlite {
        return None;
    }
    Some(tokio::spawn(async move {
        let node = app.rooms.node().clone();
        let mut stopped = app.shutdown.clone();
        let mut every = tokio::time::interval(node.lease / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut since = wall_clock();
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            let started = wall_clock();
            let renewed = app
                .store
                .renew_lease(&node.id, &node.url, node.lease_until())
                .await;
            if let Err(error) = renewed {
                tracing::warn!(%error, node = node.id, "lease renewal failed");
                continue;
            }
            if let Err(error) = app.rooms.stop_lost().await {
                tracing::warn!(%error, "reading this node's rooms failed");
            }
            match app.store.invitations_changed_since(since).await {
                Ok(rows) => {
                    app.rooms.catch_up(rows).await;
                    // Read again next time with a margin: other nodes' clocks
                    // may be behind ours, and a row read twice changes nothing.
                    since = Timestamp(started.0.saturating_sub(CLOCK_MARGIN_MS));
                }
                Err(error) => tracing::warn!(%error, "reading changed invitations failed"),
            }
        }
    }))
}
