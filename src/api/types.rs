//! The API's request and response bodies, described for OpenAPI. They mirror
//! the state machine's types (which stay free of HTTP concerns) and convert
//! to and from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use super::outlines::{NewOutline, OutlineStep, StepKind};

use crate::circle;

/// A unit enum of the API mirroring one of the state machine's, with both conversions.
macro_rules! mirror {
    ($(#[$meta:meta])* $name:ident = $orig:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl From<$name> for circle::$orig {
            fn from(v: $name) -> circle::$orig {
                match v { $($name::$variant => circle::$orig::$variant),+ }
            }
        }

        impl From<circle::$orig> for $name {
            fn from(v: circle::$orig) -> $name {
                match v { $(circle::$orig::$variant => $name::$variant),+ }
            }
        }
    };
}

mirror!(
    /// `circle` starts in talking-piece mode; `conference` in moderated floor with an entry order;
    /// `preparation` (a keeper with one party, their supporters and interpreter, before the joint
    /// meeting of their case) on open floor.
    RoomKind = RoomKind { Circle, Conference, Preparation }
);
mirror!(
    /// `observer`s never publish audio or video; everyone sees they are there.
    Role = Role { Keeper, Participant, Observer }
);
mirror!(
    /// A participant's label, for records and for the entry order.
    Party = Party { Harmed, Responsible, Supporter, Community, Professional, Interpreter, Guardian }
);
mirror!(
    /// `scheduled` → `open` → `in_session` ⇄ `paused` → `closed`.
    Phase = Phase { Scheduled, Open, InSession, Paused, Closed }
);

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub kind: RoomKind,
    /// Shown to people before they consent; 1–200 characters.
    pub title: String,
    /// RFC 3339 start time, in the future. Informative: a keeper opens the room.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// The consent terms; absent: the standard terms (voluntary, confidentiality, no recording, withdrawal).
    #[serde(default)]
    pub consent: Option<ConsentTerms>,
    /// What keepers consent to, in their own wording; absent: the standard keeper terms
    /// (confidentiality and its limits, no recording, respect for every choice, safety).
    #[serde(default)]
    pub keeper_consent: Option<ConsentTerms>,
    /// One invitation link is made per seat; at least one keeper.
    pub seats: Vec<SeatRequest>,
    #[serde(default)]
    pub options: RoomOptions,
    /// Asked of participants after their visit; absent: the standard questions.
    #[serde(default)]
    pub feedback: Option<Questionnaire>,
    /// The room's language, `[a-z]{2,3}` (`en`, `es`, `ar`, …); absent: `en`. People may choose another.
    #[serde(default)]
    pub language: Option<String>,
    /// An outline of the library to copy into the room (not with `outline`).
    #[serde(default)]
    pub outline_id: Option<String>,
    /// An outline for this room only (not with `outline_id`).
    #[serde(default)]
    pub outline: Option<NewOutline>,
    /// Where people can turn for support after the session: shown to everyone at
    /// the end of each visit. 0–10; absent: none.
    #[serde(default)]
    pub support_contacts: Vec<SupportContactRequest>,
    /// The case the room belongs to (`POST /api/v1/cases`); absent: none.
    #[serde(default)]
    pub case_id: Option<String>,
}

/// One support contact: `name` 1–100 characters (a service or a person),
/// `contact` 1–300 characters (a phone number, an address, opening hours).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportContactRequest {
    pub name: String,
    pub contact: String,
}

/// Post-session questions; each is answered on a 5-point scale (1 = not at all … 5 = completely).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    /// 1–10 questions with unique ids.
    pub questions: Vec<Question>,
    /// Whether a free-text comment is offered.
    pub free_text: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// `[a-z0-9_]`, 1–40 characters; reports compare questions by id.
    pub id: String,
    /// 1–500 characters.
    pub text: String,
    /// Language (`[a-z]{2,3}`) → the text in that language.
    #[serde(default)]
    pub translations: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentTerms {
    /// Recorded with every answer; 1–100 characters.
    pub version: String,
    /// 1–20 items, each with a unique id.
    pub items: Vec<ConsentItem>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentItem {
    /// `[a-z0-9_-]`, 1–64 characters.
    pub id: String,
    /// 1–2000 characters.
    pub text: String,
    /// Declining a required item ends the visit.
    pub required: bool,
    /// The text in other languages: language tag (`[a-z]{2,3}`) → text of 1–2000 characters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, String>,
}

// The API's terms and the room's have the same fields: one conversion each way.
impl From<ConsentTerms> for circle::ConsentTerms {
    fn from(terms: ConsentTerms) -> circle::ConsentTerms {
        circle::ConsentTerms {
            version: terms.version,
            items: terms
                .items
                .into_iter()
                .map(|i| circle::ConsentItem {
                    id: i.id,
                    text: i.text,
                    required: i.required,
                    translations: i.translations,
                })
                .collect(),
        }
    }
}

impl From<circle::ConsentTerms> for ConsentTerms {
    fn from(terms: circle::ConsentTerms) -> ConsentTerms {
        ConsentTerms {
            version: terms.version,
            items: terms
                .items
                .into_iter()
                .map(|i| ConsentItem {
                    id: i.id,
                    text: i.text,
                    required: i.required,
                    translations: i.translations,
                })
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatRequest {
    /// 1–10000; the talking piece goes round in ascending seat order.
    pub seat: u32,
    /// Display name in the circle; 1–100 characters. Kept with the invitation, never in webhooks or exports.
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub party: Option<Party>,
    /// This person's language, `[a-z]{2,3}`: the link carries it as `&lang=`. Absent: the room's.
    #[serde(default)]
    pub language: Option<String>,
    /// Only for party `interpreter` (role `participant`): the seats (1–10, each once) this
    /// person interprets for. Each must be another seat of this request or a seat the room
    /// holds already. Their voice then reaches everyone while one of those people has the
    /// turn, and only those people otherwise. Absent: none.
    #[serde(default)]
    pub interprets_for: Option<Vec<u32>>,
    /// Marks a minor (role `participant`): the seat of their guardian, another seat of this
    /// request or one the room holds already. The guardian accepts the consent terms on the
    /// minor's behalf before the minor can; a guardian who withdraws ends the minor's
    /// participation too. Absent: not a minor.
    #[serde(default)]
    pub guardian_seat: Option<u32>,
    /// Only for party `supporter` (role `participant`): the seat of the person this person
    /// supports, another seat of this request or one the room holds already. Under an entry
    /// order the supporter enters as that person's party, and comes in when they are admitted;
    /// a staggered exit may take them along. Absent: none.
    #[serde(default)]
    pub supports_seat: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomOptions {
    /// Conference rule: `then` is admitted only after someone of `first` is in and ready.
    /// Absent: the kind's default (conference: harmed, then responsible; circle: none). `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<EntryOrder>, nullable)]
    pub entry_order: Option<Option<EntryOrder>>,
    /// Speaking time per turn, 1–3600 seconds; nobody is cut off. Absent: no timer.
    #[serde(default)]
    pub turn_seconds: Option<u32>,
    /// How long a lost connection keeps its place, 0–3600 seconds. Absent: the server's `rooms.grace_seconds`.
    #[serde(default)]
    pub grace_seconds: Option<u32>,
    /// Whether keepers are heard without the piece. Absent: true.
    #[serde(default)]
    pub keeper_speaks_out_of_turn: Option<bool>,
    /// Whether a pause also stops everyone's video but the keepers'. Absent: true.
    #[serde(default)]
    pub pause_video: Option<bool>,
    /// Media only through the TURN relay (needs `[turn]` on the server). Absent: false.
    #[serde(default)]
    pub relay_only: Option<bool>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryOrder {
    pub first: Party,
    pub then: Party,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddInvitations {
    /// Seats not held by an unrevoked invitation of the room.
    pub seats: Vec<SeatRequest>,
}

/// One invitation link. The link is a credential: give it to its person only.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IssuedInvitation {
    pub invitation_id: String,
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    /// The seats this interpreter interprets for; empty for everyone else.
    pub interprets_for: Vec<u32>,
    /// A minor's guardian's seat; null for everyone else.
    pub guardian_seat: Option<u32>,
    /// A supporter's person's seat; null for everyone else.
    pub supports_seat: Option<u32>,
    /// `https://HOST/join#t=TOKEN`.
    pub link: String,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CreatedRoom {
    pub room_id: String,
    pub phase: Phase,
    pub starts_at: Option<String>,
    /// One per seat, in the order of the request.
    pub invitations: Vec<IssuedInvitation>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Invitations {
    pub invitations: Vec<IssuedInvitation>,
}

#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1–100, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoomSummary {
    pub room_id: String,
    pub kind: RoomKind,
    pub title: String,
    pub phase: Phase,
    pub starts_at: Option<String>,
    pub created_at: String,
    /// The case it belongs to; null for none.
    pub case_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoomList {
    /// In creation order.
    pub rooms: Vec<RoomSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Where a person is now. `away`: not here (never came, left, or timed out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Consent,
    Lobby,
    InCircle,
    Reconnecting,
    Away,
    Withdrawn,
    /// A keeper removed them (their link is revoked).
    Removed,
    /// The program revoked their link (`DELETE …/invitations/{id}`).
    Revoked,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonState {
    pub invitation_id: String,
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    /// The seats this interpreter interprets for; empty for everyone else.
    pub interprets_for: Vec<u32>,
    /// A minor's guardian's seat; null for everyone else.
    pub guardian_seat: Option<u32>,
    /// A supporter's person's seat; null for everyone else.
    pub supports_seat: Option<u32>,
    pub presence: Presence,
    pub revoked: bool,
}

/// A room's live state: phase and who is where. Nothing said, no chat, no names.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoomState {
    pub room_id: String,
    pub kind: RoomKind,
    pub title: String,
    pub phase: Phase,
    /// Whether the room's task runs on this server now (someone came since the start).
    pub running: bool,
    pub starts_at: Option<String>,
    pub created_at: String,
    /// The case it belongs to; null for none.
    pub case_id: Option<String>,
    /// Every invitation, in seat order.
    pub people: Vec<PersonState>,
}

/// A room's whole record (SPEC §4): who was invited, consents, attendance,
/// phases, rounds (who spoke or passed), the agreement. Times are RFC 3339.
/// People appear by invitation id; names and anything said are not in it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordExport {
    pub room: RecordRoom,
    pub invitations: Vec<RecordInvitation>,
    pub consents: Vec<RecordConsent>,
    pub attendance: Vec<RecordAttendance>,
    pub phase_changes: Vec<RecordPhase>,
    pub rounds: Vec<RecordRound>,
    pub agreements: Vec<RecordAgreement>,
    pub acknowledgements: Vec<RecordAcknowledgement>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordRoom {
    pub room_id: String,
    pub kind: RoomKind,
    pub title: String,
    pub consent: ConsentTerms,
    /// The keepers' own terms: keepers' consent events refer to these items.
    pub keeper_consent: ConsentTerms,
    pub created_at: String,
    pub starts_at: Option<String>,
    /// The case it belongs to, with the case's other rooms; null for none.
    pub case: Option<RecordCase>,
}

/// A room's case as its record shows it: what links the preparation
/// meetings and the joint meeting.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordCase {
    pub case_id: String,
    pub title: String,
    /// The case's other rooms, in creation order.
    pub other_rooms: Vec<RecordCaseRoom>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordCaseRoom {
    pub room_id: String,
    pub kind: RoomKind,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordInvitation {
    pub invitation_id: String,
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    /// The seats this interpreter interprets for; empty for everyone else.
    pub interprets_for: Vec<u32>,
    /// A minor's guardian's seat; null for everyone else.
    pub guardian_seat: Option<u32>,
    /// A supporter's person's seat; null for everyone else.
    pub supports_seat: Option<u32>,
    pub issued_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordConsent {
    pub invitation_id: String,
    pub item: String,
    pub version: String,
    /// `accepted`, `declined` or `withdrawn`.
    pub decision: String,
    pub at: String,
    /// A guardian's answer on a minor's behalf: the guardian's invitation id. Null: the
    /// person's own answer.
    pub given_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordAttendance {
    pub invitation_id: String,
    /// `arrived`, `resumed`, `admitted`, `denied`, `left`, `away`, `removed`, `withdrew`, `dismissed`.
    pub event: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordPhase {
    pub phase: Phase,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordRound {
    pub round: u32,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub marks: Vec<RecordRoundMark>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordRoundMark {
    pub invitation_id: String,
    /// `spoke` or `passed`; never what was said.
    pub mark: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordAgreement {
    pub version: u32,
    pub items: Vec<AgreementItem>,
    /// The canonical text whose SHA-256 people acknowledge.
    pub text: String,
    pub hash: String,
    pub is_final: bool,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AgreementItem {
    pub what: String,
    pub who: String,
    pub by: String,
    /// The follow-up date, `YYYY-MM-DD`, when the keeper gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The seat of the person who owns the item, when the keeper named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_seat: Option<u32>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordAcknowledgement {
    pub invitation_id: String,
    pub hash: String,
    pub at: String,
}
