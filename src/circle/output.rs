//! What comes out of a room: messages to sessions, gate changes, records.

use serde::Serialize;

use super::command::{AgreementItem, ChatTo};
use super::outline::Outline;
use super::summary::KeeperSummary;
use super::types::{MediaKind, Party, PersonId, Phase, SessionId};
use super::view::View;

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Deliver a message to one live session.
    Send { to: SessionId, notice: Notice },
    /// Close a session after telling it why.
    End {
        session: SessionId,
        reason: EndReason,
        /// The person's invitation id when this ending offers feedback
        /// (`offers_feedback`); the edge still checks they have not answered.
        offer_feedback: Option<String>,
        /// The final agreement text this person acknowledged, to keep (SPEC §3.5.5).
        agreement: Option<AgreementCopy>,
        /// For a keeper: who came, the rounds, the agreement (SPEC §10).
        summary: Option<Box<KeeperSummary>>,
    },
    /// Media gate: may `from`'s `kind` be forwarded to `to` from now on.
    Gate(GateChange),
    /// A durable record (SPEC §4), written with the journal entry that caused it.
    Record(Record),
}

/// A copy of the agreement as acknowledged: its canonical text and hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgreementCopy {
    pub text: String,
    pub hash: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GateChange {
    pub from: PersonId,
    pub to: PersonId,
    pub kind: MediaKind,
    pub open: bool,
}

/// A message for one person.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// Sent once when a connection is accepted.
    Welcome { session: SessionId, you: PersonId },
    /// The person's whole view of the room, after every change they can see.
    State { view: Box<View> },
    /// To keepers: someone asked for a pause.
    PauseRequested { by: PersonId },
    Chat {
        from: PersonId,
        to: ChatTo,
        text: String,
    },
    /// To the speaker and the keepers: the turn's time is up (nobody is cut off).
    TimeUp { person: PersonId },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Left,
    ConsentDeclined,
    ConsentWithdrawn,
    Denied,
    Removed,
    Revoked,
    RoomClosed,
    /// The keeper ended the session for this person's party.
    SessionEnded,
    /// The same invitation resumed on a newer connection.
    Replaced,
    /// A minor's guardian withdrew their consent, and with it the minor's (SPEC §3.1.6).
    GuardianWithdrew,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDecision {
    Accepted,
    Declined,
    Withdrawn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceEvent {
    Arrived,
    Resumed,
    Admitted,
    Denied,
    Left,
    /// The grace period ran out after a lost connection.
    Away,
    Removed,
    /// The program revoked their invitation while they were known to the room.
    Revoked,
    Withdrew,
    /// The keeper ended the session for this person's party, or closed the room.
    Dismissed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundMark {
    Spoke,
    Passed,
}

/// A durable record. People are named by invitation id, never by name.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Invited {
        invitation_id: String,
        seat: u32,
        party: Option<Party>,
    },
    Consent {
        invitation_id: String,
        item: String,
        version: String,
        decision: ConsentDecision,
        /// A guardian's consent for a minor (SPEC §3.1.6): the guardian's invitation id.
        given_by: Option<String>,
    },
    Attendance {
        invitation_id: String,
        event: AttendanceEvent,
    },
    PhaseChanged {
        phase: Phase,
    },
    RoundStarted {
        round: u32,
    },
    RoundMarked {
        round: u32,
        invitation_id: String,
        mark: RoundMark,
    },
    RoundEnded {
        round: u32,
    },
    Agreement {
        version: u32,
        items: Vec<AgreementItem>,
        text: String,
        hash: String,
        is_final: bool,
    },
    Acknowledged {
        invitation_id: String,
        hash: String,
    },
    Revoked {
        invitation_id: String,
    },
    /// A keeper set this outline: the program's library keeps it under its name.
    OutlineSaved {
        outline: Outline,
    },
}

/// Why an input was refused. A refused input changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this room is closed")]
    RoomClosed,
    #[error("this room has not opened yet")]
    RoomNotOpen,
    #[error("this room is locked: no new arrivals")]
    RoomLocked,
    #[error("this invitation has been revoked")]
    InvitationRevoked,
    #[error("consent was withdrawn with this invitation; a keeper can issue a new one")]
    ConsentWithdrawn,
    #[error("this invitation is already connected")]
    AlreadyConnected,
    #[error("unknown session")]
    UnknownSession,
    #[error("only a keeper can do that")]
    KeeperOnly,
    #[error("observers cannot do that")]
    ObserverCannot,
    #[error("not admitted yet: only consent, leave and withdraw are possible")]
    NotAdmitted,
    #[error("consent has already been given")]
    AlreadyConsented,
    #[error("a guardian must first agree to these terms on this person's behalf")]
    GuardianConsentNeeded,
    #[error("only this person's guardian can do that")]
    NotGuardian,
    #[error("the consent terms have changed; read them again")]
    ConsentVersionMismatch,
    #[error("every consent item needs exactly one answer")]
    ConsentIncomplete,
    #[error("no such person in this room")]
    UnknownPerson,
    #[error("that person is not waiting in the lobby")]
    NotInLobby,
    #[error("that person is not in the circle")]
    NotInCircle,
    #[error("the other party enters only after the first party is ready")]
    EntryOrderNotMet,
    #[error("only the first party of the entry order signals ready")]
    NotFirstParty,
    #[error("not possible in the room's current phase")]
    WrongPhase,
    #[error("not possible in the current floor mode")]
    WrongMode,
    #[error("you do not hold the talking piece or the floor")]
    NotHolder,
    #[error("no round is running")]
    NoRound,
    #[error("nobody is waiting with a raised hand")]
    NoHands,
    #[error("you may not post to the circle now")]
    MayNotChat,
    #[error("the message is empty or too long")]
    BadText,
    #[error("the seat order must list every person exactly once")]
    BadSeatOrder,
    #[error("a caucus needs at least two people who are in the circle and in no other caucus")]
    BadCaucus,
    #[error("no such caucus")]
    UnknownCaucus,
    #[error("there is no agreement yet")]
    NoAgreement,
    #[error("the agreement is not final yet")]
    AgreementNotFinal,
    #[error(
        "the agreement needs between 1 and 50 items, each with text, any due date as YYYY-MM-DD"
    )]
    BadAgreement,
    #[error("that is not the hash of the final agreement text")]
    HashMismatch,
    #[error("only a person with a party label acknowledges the agreement")]
    NoParty,
    #[error("you are not muted")]
    NotMuted,
    #[error("a value is out of range")]
    BadValue,
    #[error("nothing to change")]
    NoChange,
    #[error("this room has no outline")]
    NoOutline,
    #[error("the outline has no further step")]
    OutlineDone,
    #[error(
        "an outline needs a name of 1 to 100 characters and 1 to 20 steps, each prompt at most 500 characters and not blank except for an opening or closing"
    )]
    BadOutline,
    #[error("values: at most 12, each 1 to 120 characters on one line")]
    BadValues,
    #[error("a keeper cannot remove another keeper; the program can revoke a keeper's link")]
    KeeperProtected,
    /// Never made by the state machine: the room's driver refuses an input
    /// whose journal entry could not be written (SPEC §5.12).
    #[error("this could not be saved, so nothing changed; try again")]
    NotSaved,
}

impl Refusal {
    /// A stable machine-readable code for the wire protocol.
    pub fn code(self) -> &'static str {
        use Refusal::*;
        match self {
            RoomClosed => "room_closed",
            RoomNotOpen => "room_not_open",
            RoomLocked => "room_locked",
            InvitationRevoked => "invitation_revoked",
            ConsentWithdrawn => "consent_withdrawn",
            AlreadyConnected => "already_connected",
            UnknownSession => "unknown_session",
            KeeperOnly => "keeper_only",
            ObserverCannot => "observer_cannot",
            NotAdmitted => "not_admitted",
            AlreadyConsented => "already_consented",
            GuardianConsentNeeded => "guardian_consent_needed",
            NotGuardian => "not_guardian",
            ConsentVersionMismatch => "consent_version_mismatch",
            ConsentIncomplete => "consent_incomplete",
            UnknownPerson => "unknown_person",
            NotInLobby => "not_in_lobby",
            NotInCircle => "not_in_circle",
            EntryOrderNotMet => "entry_order_not_met",
            NotFirstParty => "not_first_party",
            WrongPhase => "wrong_phase",
            WrongMode => "wrong_mode",
            NotHolder => "not_holder",
            NoRound => "no_round",
            NoHands => "no_hands",
            MayNotChat => "may_not_chat",
            BadText => "bad_text",
            BadSeatOrder => "bad_seat_order",
            BadCaucus => "bad_caucus",
            UnknownCaucus => "unknown_caucus",
            NoAgreement => "no_agreement",
            AgreementNotFinal => "agreement_not_final",
            BadAgreement => "bad_agreement",
            HashMismatch => "hash_mismatch",
            NoParty => "no_party",
            NotMuted => "not_muted",
            BadValue => "bad_value",
            NoChange => "no_change",
            NoOutline => "no_outline",
            OutlineDone => "outline_done",
            BadOutline => "bad_outline",
            BadValues => "bad_values",
            KeeperProtected => "keeper_protected",
            NotSaved => "not_saved",
        }
    }

    /// Every refusal, for documentation tests.
    pub const ALL: &'static [Refusal] = &[
        Refusal::RoomClosed,
        Refusal::RoomNotOpen,
        Refusal::RoomLocked,
        Refusal::InvitationRevoked,
        Refusal::ConsentWithdrawn,
        Refusal::AlreadyConnected,
        Refusal::UnknownSession,
        Refusal::KeeperOnly,
        Refusal::ObserverCannot,
        Refusal::NotAdmitted,
        Refusal::AlreadyConsented,
        Refusal::GuardianConsentNeeded,
        Refusal::NotGuardian,
        Refusal::ConsentVersionMismatch,
        Refusal::ConsentIncomplete,
        Refusal::UnknownPerson,
        Refusal::NotInLobby,
        Refusal::NotInCircle,
        Refusal::EntryOrderNotMet,
        Refusal::NotFirstParty,
        Refusal::WrongPhase,
        Refusal::WrongMode,
        Refusal::NotHolder,
        Refusal::NoRound,
        Refusal::NoHands,
        Refusal::MayNotChat,
        Refusal::BadText,
        Refusal::BadSeatOrder,
        Refusal::BadCaucus,
        Refusal::UnknownCaucus,
        Refusal::NoAgreement,
        Refusal::AgreementNotFinal,
        Refusal::BadAgreement,
        Refusal::HashMismatch,
        Refusal::NoParty,
        Refusal::NotMuted,
        Refusal::BadValue,
        Refusal::NoChange,
        Refusal::NoOutline,
        Refusal::OutlineDone,
        Refusal::BadOutline,
        Refusal::BadValues,
        Refusal::KeeperProtected,
        Refusal::NotSaved,
    ];
}
