//! Post-session feedback (issue 8): the questionnaire a room offers, and the
//! rule of who is offered it. The answers themselves never reach the room:
//! the edge stores them apart from anything that names a person.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::output::EndReason;
use super::room::Room;
use super::types::Role;

/// Every question is answered on this scale: 1 = not at all … 5 = completely.
pub const FEEDBACK_SCALE: u8 = 5;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
    /// Language → the text in that language.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, String>,
}

/// What a room asks the people who took part, after their visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    pub questions: Vec<Question>,
    /// Whether a free-text comment is offered.
    pub free_text: bool,
}

impl Default for Questionnaire {
    fn default() -> Questionnaire {
        Questionnaire::standard()
    }
}

/// Whether a visit ending for `reason` offers feedback: only to a
/// participant who was in the circle at least once, and only for endings
/// that close a session they took part in. Keepers and observers are not
/// asked; a decline, a denial, a withdrawal or a removal is never followed
/// by a questionnaire. (Whether they answered already is the store's to say.)
pub fn offers_feedback(role: Role, admitted_once: bool, reason: EndReason) -> bool {
    role == Role::Participant
        && admitted_once
        && matches!(
            reason,
            EndReason::Left | EndReason::RoomClosed | EndReason::SessionEnded
        )
}

impl Room {
    /// Whether the holder of this invitation may answer the questionnaire:
    /// a participant who was in the circle at least once and neither
    /// withdrew nor was removed (nor had the invitation revoked).
    pub fn feedback_eligible(&self, invitation_id: &str) -> bool {
        self.by_invitation
            .get(invitation_id)
            .and_then(|id| self.people.get(id))
            .is_some_and(|p| p.role() == Role::Participant && p.admitted_once && !p.gone_for_good())
    }
}
