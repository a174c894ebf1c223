//! What goes into a room: inputs from the driver and commands from people.

use serde::{Deserialize, Serialize};

use super::outline::Outline;
use super::types::{CaucusId, FloorMode, Invitation, Party, PersonId, SessionId};

/// Everything that can change a room. The journal stores accepted inputs
/// with their time; replaying them rebuilds the room exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// An invitation was issued for this room (API, CLI or demo): the keeper
    /// sees the seat before its person arrives.
    Invite { invitation: Invitation },
    /// A connection presented a valid token for this room.
    Arrive { invitation: Invitation },
    /// A person's connection sent a command.
    Command {
        session: SessionId,
        command: Command,
    },
    /// A connection was lost (not a deliberate leave): the grace period starts.
    Disconnect { session: SessionId },
    /// An invitation was revoked outside the room (program API, CLI).
    Revoke { invitation_id: String },
    /// Time passed; deadlines (grace periods, turn timer) may fall due.
    Tick,
    /// The server restarted: every live connection is gone, and each gets
    /// its grace period to come back.
    Restored,
}

/// An answer to one consent item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentAnswer {
    pub item: String,
    pub accept: bool,
}

/// One item of the outcome agreement: what, who is responsible, by when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementItem {
    pub what: String,
    pub who: String,
    pub by: String,
    /// A date `YYYY-MM-DD` the program follows the item up on (`by` is the
    /// agreed words; `due` the machine-readable date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    /// The seat of the person who owns the item, so the follow-up can tell
    /// them; `who` still says it in words (and is what the text shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_seat: Option<u32>,
}

/// Where a chat message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatTo {
    /// Everyone in the sender's circle (or caucus); follows the speaking right.
    Circle,
    /// Privately to the keepers; always allowed once admitted.
    Keepers,
}

/// A person's command. The sender is always the session it arrived on,
/// never a field of the message (SPEC §5.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    // --- everyone ---
    /// Answer every item of the consent terms of `version`.
    Consent {
        version: String,
        answers: Vec<ConsentAnswer>,
    },
    /// A guardian answers the consent terms on behalf of their minor
    /// (SPEC §3.1.6), once they have passed their own consent gate.
    ConsentFor {
        person: PersonId,
        version: String,
        answers: Vec<ConsentAnswer>,
    },
    /// Leave now; the same link brings the person back (through the lobby).
    Leave,
    /// Withdraw consent: nothing more is forwarded from or to this person,
    /// and this invitation can never enter again.
    WithdrawConsent,
    /// Pass the talking piece on (talking-piece mode) or give the floor back (moderated).
    Pass,
    /// Pass the talking piece without speaking; recorded as a pass in the round.
    PassWithoutSpeaking,
    /// An interpreter finishing after their person's turn (SPEC §3.2.7) is
    /// done: from now on only their persons hear them again.
    DoneInterpreting,
    RaiseHand,
    LowerHand,
    /// "I need a moment": reaches the keepers at once.
    RequestPause,
    /// Clear a keeper's mute on one's own microphone; only the person can.
    Unmute,
    /// The first party of the entry order says the other side may enter.
    Ready,
    Chat {
        to: ChatTo,
        text: String,
    },
    Acknowledge {
        hash: String,
    },
    /// Step out alone (SPEC §3.3.4): nobody receives this person's media and
    /// they receive none; the circle sees only that they stepped out.
    StepOut,
    /// Come back from stepping out, with no new admission.
    StepBack,

    // --- keepers ---
    Admit {
        person: PersonId,
    },
    Deny {
        person: PersonId,
    },
    Lock,
    Unlock,
    OpenRoom,
    StartSession,
    Pause,
    Resume,
    CloseRoom,
    /// Staggered exit: end the session for everyone of one party, and with
    /// `with_supporters` the people who support them (SPEC §3.1.7).
    EndSessionFor {
        party: Party,
        #[serde(default)]
        with_supporters: bool,
    },
    /// Staggered exit for one person: their visit ends, their link stays good.
    EndSessionOf {
        person: PersonId,
    },
    SetMode {
        mode: FloorMode,
    },
    StartRound {
        prompt: String,
        first: Option<PersonId>,
    },
    EndRound,
    GivePiece {
        to: PersonId,
    },
    TakePiece,
    ReorderSeats {
        order: Vec<PersonId>,
    },
    /// Moderated floor: grant to `to`, or to the head of the hand queue.
    GrantFloor {
        to: Option<PersonId>,
    },
    RevokeFloor {
        person: PersonId,
    },
    SetTurnTimer {
        seconds: Option<u32>,
    },
    SetKeeperSpeaksOutOfTurn {
        allowed: bool,
    },
    OpenCaucus {
        members: Vec<PersonId>,
    },
    CloseCaucus {
        caucus: CaucusId,
    },
    Mute {
        person: PersonId,
    },
    Remove {
        person: PersonId,
    },
    DraftAgreement {
        items: Vec<AgreementItem>,
    },
    FinalizeAgreement,
    /// Replace the room's outline; it is also saved to the program's library.
    SetOutline {
        outline: Outline,
    },
    /// Move to the outline's next step.
    NextStep,
    /// Record the circle's values and guidelines (SPEC §3.2.8), replacing the
    /// list; everyone admitted sees them all session. Empty clears them.
    SetValues {
        values: Vec<String>,
    },
}

impl Command {
    /// The commands a person may send before being admitted (consent stage or lobby).
    pub fn allowed_before_admission(&self) -> bool {
        matches!(
            self,
            Command::Consent { .. }
                | Command::ConsentFor { .. }
                | Command::Leave
                | Command::WithdrawConsent
        )
    }

    /// Commands that change nothing durable: they are never journaled
    /// (chat is never stored, SPEC §4).
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Command::Chat { .. } | Command::RequestPause)
    }
}
