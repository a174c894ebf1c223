//! Retention (SPEC §4): a room's whole record is deleted `api.retention_days`
//! after its last activity (creation, scheduled start or last journal
//! entry). `purge_expired(now)` does one pass at a given time, so tests drive
//! it with any clock; the background task calls it hourly with the real one.

use std::sync::Arc;
use std::time::Duration;

use crate::circle::Timestamp;
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::StoreError;

const DAY_MS: u64 = 86_400_000;

/// How often the background task looks for expired rooms.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes every room inactive for the retention period before `now`, and
/// returns their ids. Running rooms (someone may be connected) are kept;
/// with `retention_days = 0` nothing is deleted.
pub async fn purge_expired(app: &App, now: Timestamp) -> Result<Vec<String>, StoreError> {
    let days = u64::from(app.config.api.retention_days);
    if days == 0 {
        return Ok(Vec::new());
    }
    let cutoff = Timestamp(now.0.saturating_sub(days.saturating_mul(DAY_MS)));
    let mut deleted = Vec::new();
    for room_id in app.store.rooms_inactive_since(cutoff).await? {
        if app.rooms.running(&room_id).await.is_some()
            || app.rooms.elsewhere(&room_id).await?.is_some()
        {
            continue;
        }
        if app
            .rooms
            .stop_and(&room_id, async || app.store.delete_api_room(&room_id).await)
            .await?
        {
            metrics::counter!("circlekeeper_api_rooms_deleted_total", "why" => "retention")
                .increment(1);
            deleted.push(room_id);
        }
    }
    if !deleted.is_empty() {
        tracing::info!(
            rooms = deleted.len(),
            "retention: deleted expired room records"
        );
    }
    Ok(deleted)
}

/// Runs `purge_expired` now and every hour until shutdown, when retention is on.
pub fn spawn_retention(app: Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.config.api.retention_days == 0 {
        return None;
    }
    let mut shutdown = app.shutdown.clone();
    Some(tokio::spawn(async move {
        loop {
            // With several nodes, one purges (SPEC §6.6).
            if crate::rooms::on_duty(&app, "retention").await
                && let Err(error) = purge_expired(&app, wall_clock()).await
            {
                tracing::error!(%error, "retention pass failed");
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }))
}
