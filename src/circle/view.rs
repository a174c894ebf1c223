//! What each person may see of the room (SPEC §3.1.3, §5.7): nothing of the
//! room before admission; the circle once admitted; the lobby for keepers.

use serde::Serialize;

use super::command::AgreementItem;
use super::guardians::MinorView;
use super::outline::OutlineStep;
use super::output::RoundMark;
use super::room::{Link, Person, Room, Stage};
use super::types::{
    CaucusId, ConsentTerms, EntryOrder, FloorMode, Party, PersonId, Phase, Role, RoomKind,
};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum View {
    /// Before consent: the title and the terms, nothing else.
    Consent {
        title: String,
        kind: RoomKind,
        /// The room's language; each stage carries it so the client can choose.
        language: String,
        terms: ConsentTerms,
        /// A minor whose guardian has not yet accepted these terms for them (SPEC §3.1.6).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        guardian_needed: bool,
    },
    /// In the lobby: "a keeper will let you in", nothing else (and, for a
    /// guardian, the minors they answer for).
    Lobby {
        title: String,
        kind: RoomKind,
        language: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        minors: Vec<MinorView>,
    },
    /// Admitted.
    Circle(Box<CircleView>),
    /// The visit is over (sent only in tests; a session ends with `End`).
    Gone,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CircleView {
    pub you: PersonId,
    pub role: Role,
    pub title: String,
    pub kind: RoomKind,
    pub language: String,
    pub phase: Phase,
    pub locked: bool,
    pub mode: FloorMode,
    pub keeper_speaks_out_of_turn: bool,
    /// While paused, only keepers' video is forwarded (room setting).
    pub pause_video: bool,
    pub turn_seconds: Option<u32>,
    pub entry_order: Option<EntryOrder>,
    /// In seat order. Participants see the people in the circle; keepers see everyone.
    pub people: Vec<PersonView>,
    pub holder: Option<PersonId>,
    /// Who the piece goes to on a pass.
    pub next: Option<PersonId>,
    pub round: Option<RoundView>,
    pub hands: Vec<PersonId>,
    pub granted: Vec<PersonId>,
    pub turn: Option<TurnView>,
    /// Your own caucus, if you are in one.
    pub caucus: Option<CaucusView>,
    /// Every open caucus (keepers only; empty for others).
    pub caucuses: Vec<CaucusView>,
    pub agreement: Option<AgreementView>,
    /// The keeper's plan of the circle and the step it is at.
    pub outline: Option<OutlineView>,
    /// The circle's values and guidelines, as the keeper recorded them.
    pub values: Vec<String>,
    /// For a guardian: the minors they answer for (SPEC §3.1.6); empty for others.
    pub minors: Vec<MinorView>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutlineView {
    pub name: String,
    pub steps: Vec<OutlineStep>,
    /// Index into `steps` of the step the circle is at; null before the first.
    pub current: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Reading the consent terms (keepers only see this).
    Consent,
    /// Waiting in the lobby (keepers only see this).
    Lobby,
    InCircle,
    /// Lost connection, place kept for the grace period.
    Reconnecting,
    Away,
    Withdrawn,
    /// Removed by a keeper.
    Removed,
    /// The program revoked the invitation.
    Revoked,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PersonView {
    pub id: PersonId,
    pub name: String,
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    pub presence: Presence,
    pub may_speak: bool,
    pub muted: bool,
    pub in_caucus: bool,
    pub hand_raised: bool,
    pub ready: bool,
    /// The people this person interprets for (SPEC §2 link); empty for most.
    pub interprets_for: Vec<PersonId>,
    /// An interpreter finishing after their person's turn: heard by
    /// everyone until they send `done_interpreting` or a keeper takes it.
    pub interpreting: bool,
    /// Stepped out alone: nothing is forwarded to or from them (never why).
    pub stepped_out: bool,
    /// A minor: their guardian's seat (SPEC §2 link); null for everyone else.
    pub guardian_seat: Option<u32>,
    /// A supporter: the seat of the person they support; null otherwise.
    pub supports_seat: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundView {
    pub number: u32,
    pub prompt: String,
    pub marks: Vec<(PersonId, RoundMark)>,
    /// A scripted round's speakers in order (SPEC §3.2.9); empty: the seat order.
    pub order: Vec<PersonId>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TurnView {
    pub person: PersonId,
    /// Time left when this view was made; the client counts down from it.
    pub remaining_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaucusView {
    pub id: CaucusId,
    pub members: Vec<PersonId>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementView {
    pub version: u32,
    pub items: Vec<AgreementItem>,
    pub text: String,
    pub hash: String,
    pub is_final: bool,
    pub acknowledged_by: Vec<PersonId>,
}

fn presence(person: &Person) -> Presence {
    match (person.stage, person.link) {
        (Stage::Consent, _) => Presence::Consent,
        (Stage::Lobby, _) => Presence::Lobby,
        (Stage::Admitted, Link::Grace { .. }) => Presence::Reconnecting,
        (Stage::Admitted, _) => Presence::InCircle,
        (Stage::Away, _) => Presence::Away,
        (Stage::Withdrawn, _) => Presence::Withdrawn,
        (Stage::Removed, _) => Presence::Removed,
        (Stage::Revoked, _) => Presence::Revoked,
    }
}

impl Room {
    pub fn view_for(&self, id: PersonId) -> View {
        let Some(me) = self.people.get(&id) else {
            return View::Gone;
        };
        let title = self.settings.title.clone();
        let kind = self.settings.kind;
        let language = self.settings.language.clone();
        match me.stage {
            Stage::Consent => View::Consent {
                title,
                kind,
                language,
                terms: self.settings.terms_for(me.role()).clone(),
                guardian_needed: self.needs_guardian(me),
            },
            Stage::Lobby => View::Lobby {
                title,
                kind,
                language,
                minors: self.minors_of(me),
            },
            Stage::Admitted => View::Circle(Box::new(self.circle_view(me))),
            Stage::Away | Stage::Withdrawn | Stage::Removed | Stage::Revoked => View::Gone,
        }
    }

    fn circle_view(&self, me: &Person) -> CircleView {
        let keeper = me.is_keeper();
        let people = self
            .seat_order
            .iter()
            .filter_map(|id| self.people.get(id))
            .filter(|p| keeper || p.in_circle())
            .map(|p| PersonView {
                id: p.id,
                name: p.invitation.name.clone(),
                seat: p.invitation.seat,
                role: p.role(),
                party: p.invitation.party,
                presence: presence(p),
                may_speak: self.may_speak(p.id) && !p.keeper_muted,
                muted: p.keeper_muted,
                in_caucus: p.caucus.is_some(),
                hand_raised: self.floor.hands.contains(&p.id),
                ready: p.ready,
                interprets_for: self.persons_of(p.id),
                interpreting: self.floor.finishing.contains(&p.id),
                stepped_out: p.stepped_out,
                guardian_seat: p.invitation.guardian,
                supports_seat: p.invitation.supports,
            })
            .collect();
        let caucus_view =
            |(id, members): (&CaucusId, &std::collections::BTreeSet<PersonId>)| CaucusView {
                id: *id,
                members: members.iter().copied().collect(),
            };
        CircleView {
            you: me.id,
            role: me.role(),
            title: self.settings.title.clone(),
            kind: self.settings.kind,
            language: self.settings.language.clone(),
            phase: self.phase,
            locked: self.locked,
            mode: self.floor.mode,
            keeper_speaks_out_of_turn: self.settings.keeper_speaks_out_of_turn,
            pause_video: self.settings.pause_video,
            turn_seconds: self.settings.turn_seconds,
            entry_order: self.settings.entry_order,
            people,
            holder: self.floor.holder,
            next: self.upcoming(),
            round: self.floor.round.as_ref().map(|r| RoundView {
                number: r.number,
                prompt: r.prompt.clone(),
                marks: r.marks.clone(),
                order: r.order.clone(),
            }),
            hands: self.floor.hands.clone(),
            granted: self.floor.granted.iter().copied().collect(),
            turn: self.floor.turn.map(|t| TurnView {
                person: t.person,
                remaining_ms: t.ends_at.0.saturating_sub(self.now.0),
            }),
            caucus: me
                .caucus
                .and_then(|c| self.caucuses.get_key_value(&c))
                .map(caucus_view),
            caucuses: if keeper {
                self.caucuses.iter().map(caucus_view).collect()
            } else {
                Vec::new()
            },
            agreement: self.agreement.as_ref().map(|a| AgreementView {
                version: a.version,
                items: a.items.clone(),
                text: a.text.clone(),
                hash: a.hash.clone(),
                is_final: a.is_final,
                acknowledged_by: a.acknowledged.iter().copied().collect(),
            }),
            outline: self.settings.outline.as_ref().map(|o| OutlineView {
                name: o.name.clone(),
                steps: o.steps.clone(),
                current: self.step,
            }),
            values: self.values.clone(),
            minors: self.minors_of(me),
        }
    }
}
