//! The room: its state, the one entry point `handle`, and shared helpers.
//! The rules themselves live beside it: `arrival`, `floor`, `gathering`,
//! `agreement`, `gates`, `view`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::agreement::Agreement;
use super::command::{Command, Input};
use super::feedback::offers_feedback;
use super::floor::Floor;
use super::output::{AgreementCopy, AttendanceEvent, EndReason, Notice, Output, Record, Refusal};
use super::shown::Shown;
use super::types::{
    CaucusId, Invitation, MediaKind, PersonId, Phase, Role, SessionId, Settings, Timestamp,
};

/// Where a person is in their visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Connected, reading the consent terms.
    Consent,
    /// Waiting for a keeper to admit them.
    Lobby,
    /// In the circle.
    Admitted,
    /// Not here now (never came, left, declined, denied, dismissed or timed out); may come back.
    Away,
    /// Withdrew consent: this invitation never enters again.
    Withdrawn,
    /// Removed by a keeper: the invitation is dead.
    Removed,
    /// The program revoked the invitation (API): the invitation is dead.
    Revoked,
}

/// The person's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Online(SessionId),
    /// Connection lost; the place is kept until `until`.
    Grace {
        until: Timestamp,
    },
    Offline,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub id: PersonId,
    pub invitation: Invitation,
    pub stage: Stage,
    pub link: Link,
    /// The consent version this person accepted, if any.
    pub consented: Option<String>,
    /// A minor: the version their guardian accepted on their behalf (SPEC §3.1.6).
    pub guardian_consented: Option<String>,
    /// A keeper muted this person's audio; only the person can clear it.
    pub keeper_muted: bool,
    /// First party of the entry order: "the other side may come in".
    pub ready: bool,
    pub caucus: Option<CaucusId>,
    /// Was in the circle at least once in this room (the feedback offer).
    pub admitted_once: bool,
    /// Stepped out alone (SPEC §3.3.4): in the circle, but sends and
    /// receives nothing until they step back. Ends with the visit.
    pub stepped_out: bool,
}

impl Person {
    pub fn role(&self) -> Role {
        self.invitation.role
    }

    pub fn is_keeper(&self) -> bool {
        self.invitation.role == Role::Keeper
    }

    pub fn in_circle(&self) -> bool {
        self.stage == Stage::Admitted
    }

    /// On a visit now: reading the terms, in the lobby or in the circle.
    pub fn on_a_visit(&self) -> bool {
        matches!(self.stage, Stage::Consent | Stage::Lobby | Stage::Admitted)
    }

    /// Withdrawn, removed or revoked: this invitation never comes back.
    pub fn gone_for_good(&self) -> bool {
        matches!(
            self.stage,
            Stage::Withdrawn | Stage::Removed | Stage::Revoked
        )
    }

    pub fn session(&self) -> Option<SessionId> {
        match self.link {
            Link::Online(session) => Some(session),
            _ => None,
        }
    }
}

/// What `handle` tells the driver about an accepted input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The new session, for `Input::Arrive`.
    pub session: Option<SessionId>,
    /// Whether the input changed the room and belongs in the journal.
    pub journal: bool,
}

impl Accepted {
    pub(super) fn changed() -> Accepted {
        Accepted {
            session: None,
            journal: true,
        }
    }

    pub(super) fn unchanged() -> Accepted {
        Accepted {
            session: None,
            journal: false,
        }
    }
}

/// One room's whole state. Driven by `handle(now, input)`; its effects are
/// read with `poll_output()`; `next_deadline()` says when to `Tick` it.
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    pub(super) settings: Settings,
    pub(super) phase: Phase,
    /// Locked: no new arrivals reach the lobby (keepers still can).
    pub(super) locked: bool,
    /// The latest time seen; inputs never move it backwards.
    pub(super) now: Timestamp,
    pub(super) people: BTreeMap<PersonId, Person>,
    /// Invitation id (jti) to person, so a returning token finds its seat.
    pub(super) by_invitation: BTreeMap<String, PersonId>,
    /// The talking-piece order (clockwise); every known person once.
    pub(super) seat_order: Vec<PersonId>,
    /// The seats some invitation names as a minor's guardian: every view asks
    /// whether its person answers for a minor, and almost nobody does.
    pub(super) guardian_seats: BTreeSet<u32>,
    /// Live sessions, to route commands to their sender.
    pub(super) sessions: BTreeMap<SessionId, PersonId>,
    pub(super) next_session: u64,
    pub(super) floor: Floor,
    pub(super) caucuses: BTreeMap<CaucusId, BTreeSet<PersonId>>,
    pub(super) next_caucus: u32,
    pub(super) agreement: Option<Agreement>,
    /// The outline step the circle is at; `None` before the first `next_step`.
    pub(super) step: Option<usize>,
    /// The circle's values and guidelines, shown to everyone (SPEC §3.2.8).
    pub(super) values: Vec<String>,
    /// Revoked invitation ids, including ones never seen here.
    pub(super) revoked: BTreeSet<String>,
    /// The gates the media layer was last told are open.
    pub(super) open_gates: BTreeSet<(PersonId, PersonId, MediaKind)>,
    pub(super) outputs: VecDeque<Output>,
    /// What each session was last shown (not compared: see `Shown`).
    pub(super) shown: Shown,
}

impl Room {
    pub fn new(settings: Settings, phase: Phase) -> Room {
        let floor = Floor::new(settings.initial_mode());
        Room {
            settings,
            phase,
            locked: false,
            now: Timestamp(0),
            people: BTreeMap::new(),
            by_invitation: BTreeMap::new(),
            seat_order: Vec::new(),
            guardian_seats: BTreeSet::new(),
            sessions: BTreeMap::new(),
            next_session: 1,
            floor,
            caucuses: BTreeMap::new(),
            next_caucus: 1,
            agreement: None,
            step: None,
            values: Vec::new(),
            revoked: BTreeSet::new(),
            open_gates: BTreeSet::new(),
            outputs: VecDeque::new(),
            shown: Shown::default(),
        }
    }

    /// Spaces each session's views at least `spacing_ms` apart while changes
    /// come faster (`Shown`); without it every change is shown at once.
    pub fn with_view_spacing(mut self, spacing_ms: u64) -> Room {
        self.shown.set_spacing(spacing_ms);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn person(&self, id: PersonId) -> Option<&Person> {
        self.people.get(&id)
    }

    pub fn people(&self) -> impl Iterator<Item = &Person> {
        self.people.values()
    }

    pub fn person_of_session(&self, session: SessionId) -> Option<PersonId> {
        self.sessions.get(&session).copied()
    }

    pub fn holder(&self) -> Option<PersonId> {
        self.floor.holder
    }

    /// Every (from, to, kind) the media layer may forward now.
    pub fn open_gates(&self) -> impl Iterator<Item = &(PersonId, PersonId, MediaKind)> {
        self.open_gates.iter()
    }

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the room next needs a `Tick`: a grace period or a turn timer.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let grace = self.people.values().filter_map(|p| match p.link {
            Link::Grace { until } => Some(until),
            _ => None,
        });
        grace
            .chain(self.floor.timer_deadline())
            .chain(self.shown.next_due())
            .min()
    }

    /// The one entry point. A refused input changes nothing and outputs nothing.
    pub fn handle(&mut self, now: Timestamp, input: Input) -> Result<Accepted, Refusal> {
        self.now = self.now.max(now);
        let (actor, tick) = match &input {
            Input::Command { session, .. } => (Some(*session), false),
            Input::Tick => (None, true),
            _ => (None, false),
        };
        let accepted = match input {
            Input::Invite { invitation } => self.invite(invitation)?,
            Input::Arrive { invitation } => self.arrive(invitation)?,
            Input::Command { session, command } => self.command(session, command)?,
            Input::Disconnect { session } => self.disconnect(session)?,
            Input::Revoke { invitation_id } => self.revoke(invitation_id)?,
            Input::Tick => self.tick(),
            Input::Restored => self.restored(),
        };
        if accepted.journal {
            self.follow_interpreters();
            self.refresh_gates();
            self.show_views(actor.or(accepted.session));
        } else if tick {
            self.show_due_views();
        }
        Ok(accepted)
    }

    fn command(&mut self, session: SessionId, command: Command) -> Result<Accepted, Refusal> {
        let me = self
            .person_of_session(session)
            .ok_or(Refusal::UnknownSession)?;
        let person = self.people.get(&me).ok_or(Refusal::UnknownSession)?;
        if !person.in_circle() && !command.allowed_before_admission() {
            return Err(Refusal::NotAdmitted);
        }
        if is_keeper_command(&command) && !person.is_keeper() {
            return Err(Refusal::KeeperOnly);
        }
        use Command::*;
        match command {
            Consent { version, answers } => self.consent(me, &version, &answers),
            ConsentFor {
                person,
                version,
                answers,
            } => self.consent_for(me, person, &version, &answers),
            Leave => {
                self.end_visit(
                    me,
                    Stage::Away,
                    Some(EndReason::Left),
                    AttendanceEvent::Left,
                );
                Ok(Accepted::changed())
            }
            WithdrawConsent => self.withdraw(me),
            Pass => self.pass(me, false),
            PassWithoutSpeaking => self.pass(me, true),
            DoneInterpreting => self.done_interpreting(me),
            RaiseHand => self.raise_hand(me),
            LowerHand => self.lower_hand(me),
            RequestPause => self.request_pause(me),
            Unmute => self.unmute(me),
            Ready => self.ready(me),
            Chat { to, text } => self.chat(me, to, text),
            Acknowledge { hash } => self.acknowledge(me, &hash),
            Admit { person } => self.admit(person),
            Deny { person } => self.deny(person),
            Lock => self.set_locked(true),
            Unlock => self.set_locked(false),
            OpenRoom => self.change_phase(&[Phase::Scheduled], Phase::Open),
            StartSession => self.change_phase(&[Phase::Open], Phase::InSession),
            Pause => self.change_phase(&[Phase::InSession], Phase::Paused),
            Resume => self.change_phase(&[Phase::Paused], Phase::InSession),
            CloseRoom => self.close(),
            EndSessionFor {
                party,
                with_supporters,
            } => self.end_session_for(party, with_supporters),
            EndSessionOf { person } => self.end_session_of(person),
            SetMode { mode } => self.set_mode(mode),
            StartRound { prompt, first } => self.start_round(prompt, first),
            EndRound => self.end_round_command(),
            GivePiece { to } => self.give_piece(to),
            TakePiece => self.take_piece(),
            ReorderSeats { order } => self.reorder_seats(order),
            GrantFloor { to } => self.grant_floor(to),
            RevokeFloor { person } => self.revoke_floor(person),
            SetTurnTimer { seconds } => self.set_turn_timer(seconds),
            SetKeeperSpeaksOutOfTurn { allowed } => self.set_keeper_speaks(allowed),
            OpenCaucus { members } => self.open_caucus(members),
            CloseCaucus { caucus } => self.close_caucus(caucus),
            Mute { person } => self.mute(person),
            Remove { person } => self.remove(me, person),
            DraftAgreement { items } => self.draft_agreement(items),
            FinalizeAgreement => self.finalize_agreement(),
            SetOutline { outline } => self.set_outline(outline),
            NextStep => self.next_step(),
            StepOut => self.step_out(me),
            StepBack => self.step_back(me),
            SetValues { values } => self.set_values(values),
        }
    }

    fn tick(&mut self) -> Accepted {
        let now = self.now;
        let expired: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| matches!(p.link, Link::Grace { until } if until <= now))
            .map(|p| p.id)
            .collect();
        let mut changed = !expired.is_empty();
        for id in expired {
            self.end_visit(id, Stage::Away, None, AttendanceEvent::Away);
        }
        if let Some(person) = self.floor.timer_fires(now) {
            changed = true;
            self.send(person, Notice::TimeUp { person });
            self.send_keepers(Notice::TimeUp { person }, Some(person));
        }
        if changed {
            Accepted::changed()
        } else {
            Accepted::unchanged()
        }
    }

    // --- shared helpers for the rule files ---

    pub(super) fn known(&self, id: PersonId) -> Result<&Person, Refusal> {
        self.people.get(&id).ok_or(Refusal::UnknownPerson)
    }

    pub(super) fn invitation_id(&self, id: PersonId) -> String {
        self.people
            .get(&id)
            .map(|p| p.invitation.id.clone())
            .unwrap_or_default()
    }

    pub(super) fn send(&mut self, to: PersonId, notice: Notice) {
        if let Some(session) = self.people.get(&to).and_then(Person::session) {
            self.outputs.push_back(Output::Send {
                to: session,
                notice,
            });
        }
    }

    /// To every keeper in the circle, except `skip` (who already got it).
    pub(super) fn send_keepers(&mut self, notice: Notice, skip: Option<PersonId>) {
        let keepers: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| p.is_keeper() && p.in_circle() && Some(p.id) != skip)
            .map(|p| p.id)
            .collect();
        for keeper in keepers {
            self.send(keeper, notice.clone());
        }
    }

    pub(super) fn record(&mut self, record: Record) {
        self.outputs.push_back(Output::Record(record));
    }

    pub(super) fn attendance(&mut self, id: PersonId, event: AttendanceEvent) {
        let invitation_id = self.invitation_id(id);
        self.record(Record::Attendance {
            invitation_id,
            event,
        });
    }

    /// Ends a person's visit: closes their session (telling them why), takes
    /// them out of the floor and any caucus, and records it.
    pub(super) fn end_visit(
        &mut self,
        id: PersonId,
        stage: Stage,
        reason: Option<EndReason>,
        event: AttendanceEvent,
    ) {
        // What they acknowledged goes with them (SPEC §3.5.5).
        let agreement = self
            .agreement
            .as_ref()
            .filter(|a| a.is_final && a.acknowledged.contains(&id))
            .map(|a| AgreementCopy {
                text: a.text.clone(),
                hash: a.hash.clone(),
            });
        let summary = self
            .people
            .get(&id)
            .is_some_and(|p| p.is_keeper() && p.session().is_some() && reason.is_some())
            .then(|| Box::new(self.keeper_summary()));
        let Some(person) = self.people.get_mut(&id) else {
            return;
        };
        let link = std::mem::replace(&mut person.link, Link::Offline);
        person.stage = stage;
        person.stepped_out = false;
        let caucus = person.caucus.take();
        if let Link::Online(session) = link {
            self.sessions.remove(&session);
            if let Some(reason) = reason {
                let offer_feedback = offers_feedback(person.role(), person.admitted_once, reason)
                    .then(|| person.invitation.id.clone());
                self.outputs.push_back(Output::End {
                    session,
                    reason,
                    offer_feedback,
                    agreement,
                    summary,
                });
            }
        }
        self.sessions.retain(|_, p| *p != id);
        if let Some(caucus) = caucus {
            self.leave_caucus(id, caucus);
        }
        self.floor_loses(id);
        self.attendance(id, event);
    }

    /// After a change: each online person's view, if it changed, unless it
    /// waits (`Shown::holds_back`); `actor`, who made the change, never waits.
    fn show_views(&mut self, actor: Option<SessionId>) {
        self.forget_ended_sessions();
        let online: Vec<(PersonId, SessionId, Stage)> = self
            .people
            .values()
            .filter_map(|p| p.session().map(|s| (p.id, s, p.stage)))
            .collect();
        for (id, session, stage) in online {
            if Some(session) != actor && self.shown.holds_back(session, stage, self.now) {
                continue;
            }
            self.show(id, session);
        }
    }

    /// The views that waited and whose time has come.
    fn show_due_views(&mut self) {
        self.forget_ended_sessions();
        for session in self.shown.due(self.now) {
            if let Some(&id) = self.sessions.get(&session) {
                self.show(id, session);
            }
        }
    }

    /// A session that ended leaves nothing waiting behind (`next_deadline`).
    fn forget_ended_sessions(&mut self) {
        let sessions = &self.sessions;
        self.shown.keep_only(|s| sessions.contains_key(s));
    }

    fn show(&mut self, id: PersonId, session: SessionId) {
        let view = self.view_for(id);
        if let Some(view) = self.shown.changed(session, view, self.now) {
            self.outputs.push_back(Output::Send {
                to: session,
                notice: Notice::State {
                    view: Box::new(view),
                },
            });
        }
    }

    pub(super) fn new_session(&mut self, id: PersonId) -> SessionId {
        let session = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions.insert(session, id);
        session
    }
}

fn is_keeper_command(command: &Command) -> bool {
    use Command::*;
    matches!(
        command,
        Admit { .. }
            | Deny { .. }
            | Lock
            | Unlock
            | OpenRoom
            | StartSession
            | Pause
            | Resume
            | CloseRoom
            | EndSessionFor { .. }
            | EndSessionOf { .. }
            | SetMode { .. }
            | StartRound { .. }
            | EndRound
            | GivePiece { .. }
            | TakePiece
            | ReorderSeats { .. }
            | GrantFloor { .. }
            | RevokeFloor { .. }
            | SetTurnTimer { .. }
            | SetKeeperSpeaksOutOfTurn { .. }
            | OpenCaucus { .. }
            | CloseCaucus { .. }
            | Mute { .. }
            | Remove { .. }
            | DraftAgreement { .. }
            | FinalizeAgreement
            | SetOutline { .. }
            | NextStep
            | SetValues { .. }
    )
}
