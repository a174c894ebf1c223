//! The agreement follow-up sweep (issue 8): an item still `open` after its
//! due date is reported missed (`agreement.item_missed`, reason `overdue`),
//! once. `sweep_overdue(now)` does one pass at a given time, so tests drive
//! it with any clock; the background task calls it hourly with the real one.

use std::sync::Arc;
use std::time::Duration;

use crate::circle::Timestamp;
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::StoreError;

/// How often the background task looks for overdue items.
const EVERY: Duration = Duration::from_secs(3600);

/// Reports every open item whose due date is before `now`'s UTC day and
/// was never reported missed; returns (room id, item index) of each. The
/// events carry the real time: the dispatcher sends nothing dated later.
pub async fn sweep_overdue(app: &App, now: Timestamp) -> Result<Vec<(String, u32)>, StoreError> {
    let missed = app.store.sweep_overdue_items(now, wall_clock()).await?;
    if !missed.is_empty() {
        metrics::counter!("circlekeeper_agreement_items_missed_total")
            .increment(missed.len() as u64);
        tracing::info!(
            items = missed.len(),
            "follow-up: overdue agreement items reported"
        );
    }
    Ok(missed)
}

/// Runs `sweep_overdue` now and every hour until shutdown.
pub fn spawn_followup(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    let mut shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        loop {
            // With several nodes, one sweeps (SPEC §6.6).
            if crate::rooms::on_duty(&app, "followup").await
                && let Err(error) = sweep_overdue(&app, wall_clock()).await
            {
                tracing::error!(%error, "follow-up sweep failed");
            }
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    })
}
