//! When the journal writer commits. A lone append is committed at once. Once
//! appends queue together (the last commit held more than one), the writer
//! leaves `SPACING` between the starts of its commits and gathers what comes
//! meanwhile, so a burst shares a few large transactions instead of many
//! small ones: each costs a BEGIN, a COMMIT, a wake-up of the writer and one
//! of the tokio workers whatever its size (docs/benchmarks.md). Postgres's
//! `commit_delay`, which waits only while `commit_siblings` transactions are
//! open, follows the same idea.

use std::time::{Duration, Instant};

use super::group_commit::MAX_BATCH;

/// The longest an append waits for others to share its commit: well under
/// what a person notices, and a tenth of SPEC §9's p99 for an arrival.
pub(super) const SPACING: Duration = Duration::from_millis(5);

/// The writer's last commit: when it started and how many appends it held.
#[derive(Debug, Default)]
pub(super) struct Pace {
    last: Option<(Instant, usize)>,
}

impl Pace {
    /// How long to wait, at `now`, before committing the `queued` appends
    /// (a full batch goes at once).
    pub(super) fn wait(&self, queued: usize, now: Instant) -> Duration {
        match self.last {
            Some((started, size)) if size > 1 && queued < MAX_BATCH => {
                (started + SPACING).saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        }
    }

    /// A commit of `size` appends started at `at`.
    pub(super) fn started(&mut self, at: Instant, size: usize) {
        self.last = Some((at, size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_append_commits_at_once() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        assert_eq!(pace.wait(1, t0), Duration::ZERO);
        pace.started(t0, 1);
        // One append after another, as one room (or a test) sends them.
        let soon = t0 + Duration::from_millis(1);
        assert_eq!(pace.wait(1, soon), Duration::ZERO);
    }

    #[test]
    fn appends_that_queued_together_space_the_next_commit() {
        let t0 = Instant::now();
        let mut pace = Pace::default();
        pace.started(t0, 3);
        let now = t0 + Duration::from_millis(2);
        assert_eq!(pace.wait(1, now), SPACING - Duration::from_millis(2));
        // Past the spacing, or with a full batch, nothing to wait for.
        assert_eq!(pace.wait(1, t0 + SPACING * 2), Duration::ZERO);
        assert_eq!(pace.wait(MAX_BATCH, now), Duration::ZERO);
        // A commit of one ends the spacing: the burst is over.
        pace.started(now, 1);
        assert_eq!(pace.wait(1, now), Duration::ZERO);
    }
}
