//! The pure room state machine (SPEC §3, §7). No async runtime, sockets, clock or
//! media in here: time is an input, effects are outputs. Every rule of a
//! circle or conference lives in this module and nowhere else.
//!
//! Drive it like a sans-IO protocol: `Room::handle(now, input)`, then
//! `poll_output()` until `None`, and `Tick` it at `next_deadline()`.

mod agreement;
mod arrival;
mod command;
mod feedback;
mod floor;
mod gates;
mod gathering;
mod guardians;
mod interpreting;
mod outline;
mod output;
mod room;
mod script;
mod shown;
mod standard;
mod stepping_out;
mod summary;
mod supporters;
mod types;
mod values;
mod view;

#[cfg(test)]
mod tests;

pub use agreement::{agreement_text, text_hash, valid_due};
pub use command::{AgreementItem, ChatTo, Command, ConsentAnswer, Input};
pub use feedback::{FEEDBACK_SCALE, Question, Questionnaire, offers_feedback};
pub use floor::{MAX_PROMPT_CHARS, MAX_TURN_SECONDS};
pub use gathering::MAX_CHAT_CHARS;
pub use guardians::{GuardianConsent, MinorView};
pub use outline::{
    MAX_OUTLINE_NAME_CHARS, MAX_OUTLINE_STEPS, MAX_STEP_SPEAKERS, Outline, OutlineError,
    OutlineStep, Speaker, StepKind,
};
pub use output::{
    AgreementCopy, AttendanceEvent, ConsentDecision, EndReason, GateChange, Notice, Output, Record,
    Refusal, RoundMark,
};
pub use room::{Accepted, Link, Person, Room, Stage};
pub use summary::{AgreementSummary, KeeperSummary, Outcome, SummaryPerson};
pub use types::{
    CaucusId, ConsentItem, ConsentTerms, DEFAULT_GRACE_MS, DEFAULT_LANGUAGE, EntryOrder, FloorMode,
    Invitation, MediaKind, Party, PersonId, Phase, Role, RoomKind, SessionId, Settings,
    SupportContact, Timestamp, is_language_tag,
};
pub use values::{MAX_VALUE_CHARS, MAX_VALUES};
pub use view::{
    AgreementView, CaucusView, CircleView, OutlineView, PersonView, Presence, RoundView, TurnView,
    View,
};
