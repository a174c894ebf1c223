//! What each session was last shown. A `state` goes out when the person's
//! view changed; while changes come faster than the spacing, a person's
//! next view waits until the spacing since their last one has passed, and
//! shows everything that changed meanwhile (docs/decisions.md, "Views are
//! spaced while changes come fast"). The person who acted, and a person
//! whose stage changed, are shown at once.

use std::collections::BTreeMap;

use super::room::Stage;
use super::types::{SessionId, Timestamp};
use super::view::View;

#[derive(Clone, Debug, Default)]
pub(super) struct Shown {
    /// Least time between two views to one session; 0: no waiting.
    spacing_ms: u64,
    sessions: BTreeMap<SessionId, Last>,
}

#[derive(Clone, Debug)]
struct Last {
    view: View,
    at: Timestamp,
    /// A change came while the view waited: render it at `at + spacing`.
    due: bool,
}

/// Delivery memory, not room state: a room rebuilt from its journal equals
/// the live one whatever its sessions were shown.
impl PartialEq for Shown {
    fn eq(&self, _: &Shown) -> bool {
        true
    }
}

impl Shown {
    pub(super) fn set_spacing(&mut self, spacing_ms: u64) {
        self.spacing_ms = spacing_ms;
    }

    /// Forgets the sessions `live` no longer holds.
    pub(super) fn keep_only(&mut self, live: impl Fn(&SessionId) -> bool) {
        self.sessions.retain(|session, _| live(session));
    }

    /// Whether `session`'s next view waits: its last one went out less than
    /// the spacing ago, showing the stage the person is still at. Marks it due.
    pub(super) fn holds_back(&mut self, session: SessionId, stage: Stage, now: Timestamp) -> bool {
        let spacing = self.spacing_ms;
        let Some(last) = self.sessions.get_mut(&session) else {
            return false;
        };
        if now.0 >= last.at.0.saturating_add(spacing) || !shows_stage(&last.view, stage) {
            return false;
        }
        last.due = true;
        true
    }

    /// `view` to send if it differs from the one `session` last got.
    pub(super) fn changed(
        &mut self,
        session: SessionId,
        view: View,
        now: Timestamp,
    ) -> Option<View> {
        match self.sessions.get_mut(&session) {
            Some(last) if last.view == view => {
                last.due = false;
                None
            }
            _ => {
                let last = Last {
                    view: view.clone(),
                    at: now,
                    due: false,
                };
                self.sessions.insert(session, last);
                Some(view)
            }
        }
    }

    /// Sessions whose waiting view may go out at `now`.
    pub(super) fn due(&self, now: Timestamp) -> Vec<SessionId> {
        self.sessions
            .iter()
            .filter(|(_, last)| last.due && now.0 >= last.at.0.saturating_add(self.spacing_ms))
            .map(|(session, _)| *session)
            .collect()
    }

    /// When the first waiting view may go out.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.sessions
            .values()
            .filter(|last| last.due)
            .map(|last| Timestamp(last.at.0.saturating_add(self.spacing_ms)))
            .min()
    }
}

fn shows_stage(view: &View, stage: Stage) -> bool {
    match view {
        View::Consent { .. } => stage == Stage::Consent,
        View::Lobby { .. } => stage == Stage::Lobby,
        View::Circle(_) => stage == Stage::Admitted,
        View::Gone => !matches!(stage, Stage::Consent | Stage::Lobby | Stage::Admitted),
    }
}
