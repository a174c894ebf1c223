//! The room's vocabulary: identities, roles, parties, phases and settings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::feedback::Questionnaire;
use super::outline::Outline;

/// Milliseconds since the Unix epoch. The state machine never reads a clock:
/// the driver passes the time in with every input.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// A person in one room, numbered in order of first appearance (stable under replay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub u32);

/// One live connection of a person; a resumed connection gets a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub u64);

/// A private side room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaucusId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Circle,
    Conference,
    /// A keeper with one party, their supporters and interpreter, before
    /// the joint meeting of their case (SPEC §2 "Case").
    Preparation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Keeper,
    Participant,
    Observer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Harmed,
    Responsible,
    Supporter,
    Community,
    Professional,
    Interpreter,
    Guardian,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    Open,
    InSession,
    Paused,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloorMode {
    /// Only the holder of the talking piece speaks.
    TalkingPiece,
    /// Ordered hand-raise queue; only people granted the floor speak.
    Moderated,
    /// Everyone admitted may speak.
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

/// What an invitation says about its holder. The token carries it signed;
/// the room keeps it so the keeper sees seats before people arrive.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    /// The token's `jti`: the identity of this invitation, and the key of revocation.
    pub id: String,
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    /// Display name; personal data, so `Debug` never prints it.
    pub name: String,
    /// SPEC §2 link: the seats an interpreter interprets for (their audio
    /// widens to everyone while one of them has the turn, §3.2.7). Empty for
    /// everyone else, and absent from older journals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interprets_for: Vec<u32>,
    /// SPEC §2 link: this person is a minor, and this is their guardian's
    /// seat (§3.1.6: the guardian consents on their behalf first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardian: Option<u32>,
    /// SPEC §2 link: a supporter's person, by seat (§3.1.7: they enter with
    /// them under an entry order, and may leave with them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports: Option<u32>,
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &"<redacted>")
            .field("seat", &self.seat)
            .field("role", &self.role)
            .field("party", &self.party)
            .field("name", &"<redacted>")
            .field("interprets_for", &self.interprets_for)
            .field("guardian", &self.guardian)
            .field("supports", &self.supports)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentItem {
    pub id: String,
    pub text: String,
    pub required: bool,
    /// The item's text in other languages (language tag → text); `text` is the fallback.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, String>,
}

/// The versioned terms a person accepts before entering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentTerms {
    pub version: String,
    pub items: Vec<ConsentItem>,
}

/// Conference rule: the `then` party is admitted only after someone of the
/// `first` party is admitted and has said they are ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryOrder {
    pub first: Party,
    pub then: Party,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub kind: RoomKind,
    pub title: String,
    pub consent: ConsentTerms,
    /// What keepers consent to: their own wording, not the participants'
    /// (issue 14). Rooms stored before it existed get the standard keeper terms.
    #[serde(default = "ConsentTerms::keeper_standard")]
    pub keeper_consent: ConsentTerms,
    pub entry_order: Option<EntryOrder>,
    pub keeper_speaks_out_of_turn: bool,
    /// Speaking time per turn; the server warns, never cuts off.
    pub turn_seconds: Option<u32>,
    /// How long a lost connection keeps its place (SPEC §3.7).
    pub grace_ms: u64,
    /// Asked of participants after their visit (issue 8).
    #[serde(default = "Questionnaire::standard")]
    pub feedback: Questionnaire,
    /// The room's language (a primary language tag): what the client shows
    /// unless the link or the person chooses another.
    #[serde(default = "default_language")]
    pub language: String,
    /// The keeper's plan of the circle, walked with `next_step`.
    #[serde(default)]
    pub outline: Option<Outline>,
    /// While paused, only keepers' video is forwarded too (SPEC §3.3.2: nobody is
    /// watched in a break). Rooms stored before the setting existed get the default.
    #[serde(default = "pause_video_default")]
    pub pause_video: bool,
    /// Where people can turn for support after the session (SPEC §3.5.5), shown at
    /// the end of every visit. Set by the program.
    #[serde(default)]
    pub support_contacts: Vec<SupportContact>,
    /// Media only through a TURN relay (SPEC §6.5), for a programme that
    /// must not expose people's addresses to the server's network path. A
    /// transport setting: no rule of the circle reads it.
    #[serde(default)]
    pub relay_only: bool,
}

/// One support contact of a room: who, and how to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportContact {
    pub name: String,
    pub contact: String,
}

fn pause_video_default() -> bool {
    true
}

pub const DEFAULT_GRACE_MS: u64 = 30_000;

pub const DEFAULT_LANGUAGE: &str = "en";

fn default_language() -> String {
    DEFAULT_LANGUAGE.to_owned()
}

/// A primary language tag as rooms, links and translations use it: two or
/// three lowercase ASCII letters (`en`, `es`, `ar`, `fil`).
pub fn is_language_tag(tag: &str) -> bool {
    (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase())
}

impl Settings {
    /// The consent terms a person with `role` reads: keepers have their own.
    pub fn terms_for(&self, role: Role) -> &ConsentTerms {
        match role {
            Role::Keeper => &self.keeper_consent,
            _ => &self.consent,
        }
    }

    /// The defaults of SPEC §2: a circle starts in talking-piece mode, a
    /// conference in moderated floor with the harmed party entering first.
    pub fn for_kind(kind: RoomKind, title: impl Into<String>) -> Settings {
        Settings {
            kind,
            title: title.into(),
            consent: ConsentTerms::standard(),
            keeper_consent: ConsentTerms::keeper_standard(),
            entry_order: match kind {
                RoomKind::Circle | RoomKind::Preparation => None,
                RoomKind::Conference => Some(EntryOrder {
                    first: Party::Harmed,
                    then: Party::Responsible,
                }),
            },
            keeper_speaks_out_of_turn: true,
            turn_seconds: None,
            grace_ms: DEFAULT_GRACE_MS,
            feedback: Questionnaire::standard(),
            language: default_language(),
            outline: None,
            pause_video: pause_video_default(),
            support_contacts: Vec::new(),
            relay_only: false,
        }
    }

    pub fn initial_mode(&self) -> FloorMode {
        match self.kind {
            RoomKind::Circle => FloorMode::TalkingPiece,
            RoomKind::Conference => FloorMode::Moderated,
            // A conversation between a keeper and one side: nobody to keep apart.
            RoomKind::Preparation => FloorMode::Open,
        }
    }
}
