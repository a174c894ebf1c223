//! SPEC §10 "The end": what a keeper takes away from a session — who came,
//! how many rounds were held, where the agreement stands. Names and counts
//! only; never anything said.

use serde::Serialize;

use super::room::{Person, Room, Stage};
use super::types::{Party, Role};

/// Given to a keeper in `ended`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeeperSummary {
    /// Everyone the room knows, in seat order.
    pub people: Vec<SummaryPerson>,
    /// Rounds started in this room.
    pub rounds: u32,
    /// Absent when no agreement was drafted.
    pub agreement: Option<AgreementSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryPerson {
    pub name: String,
    pub role: Role,
    pub party: Option<Party>,
    pub outcome: Outcome,
}

/// How a person's part in the session ended, as far as the room knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Was in the circle at least once.
    TookPart,
    /// Withdrew their consent.
    Withdrew,
    /// Removed by a keeper, or their link revoked by the program.
    Removed,
    /// Never came into the circle: did not arrive, declined, or only waited.
    DidNotEnter,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgreementSummary {
    pub version: u32,
    pub items: usize,
    pub is_final: bool,
    /// Names of those who acknowledged the final text, in seat order.
    pub acknowledged_by: Vec<String>,
}

fn outcome(person: &Person) -> Outcome {
    match person.stage {
        Stage::Withdrawn => Outcome::Withdrew,
        Stage::Removed | Stage::Revoked => Outcome::Removed,
        _ if person.admitted_once => Outcome::TookPart,
        _ => Outcome::DidNotEnter,
    }
}

impl Room {
    pub(super) fn keeper_summary(&self) -> KeeperSummary {
        let in_seat_order = || self.seat_order.iter().filter_map(|id| self.people.get(id));
        KeeperSummary {
            people: in_seat_order()
                .map(|p| SummaryPerson {
                    name: p.invitation.name.clone(),
                    role: p.role(),
                    party: p.invitation.party,
                    outcome: outcome(p),
                })
                .collect(),
            rounds: self.floor.rounds_held,
            agreement: self.agreement.as_ref().map(|a| AgreementSummary {
                version: a.version,
                items: a.items.len(),
                is_final: a.is_final,
                acknowledged_by: in_seat_order()
                    .filter(|p| a.acknowledged.contains(&p.id))
                    .map(|p| p.invitation.name.clone())
                    .collect(),
            }),
        }
    }
}
