//! A room plus named fake people, stepped with simulated time. Every step
//! checks that the gate changes the room emitted add up to its open gates,
//! exactly as the media layer would see them.

use std::collections::{BTreeMap, BTreeSet};

use crate::circle::*;

pub struct Sim {
    pub room: Room,
    pub now: Timestamp,
    /// Everything the room output, in order, since the last `take`.
    pub outputs: Vec<Output>,
    /// The gates as the media layer knows them from `Output::Gate`.
    pub media_gates: BTreeSet<(PersonId, PersonId, MediaKind)>,
    pub sessions: BTreeMap<&'static str, SessionId>,
    pub ids: BTreeMap<&'static str, PersonId>,
    /// Every accepted, journaled input with its time: what the store would keep.
    pub journal: Vec<(Timestamp, Input)>,
}

/// Names the harness invites as minors, with their guardian's seat (SPEC §3.1.6).
pub const MINORS: &[(&str, u32)] = &[("mia", 4)];

/// Names the harness invites as supporters, with the seat of the person they support (§3.1.7).
pub const SUPPORTERS: &[(&str, u32)] = &[("cy", 3), ("sue", 3), ("hal", 2)];

pub fn invitation(name: &'static str, seat: u32, role: Role, party: Option<Party>) -> Invitation {
    Invitation {
        id: format!("jti-{name}"),
        seat,
        role,
        party,
        name: name.to_owned(),
        interprets_for: Vec::new(),
        guardian: MINORS.iter().find(|(n, _)| *n == name).map(|(_, g)| *g),
        supports: SUPPORTERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s),
    }
}

pub fn accept_all(terms: &ConsentTerms) -> Vec<ConsentAnswer> {
    terms
        .items
        .iter()
        .map(|i| ConsentAnswer {
            item: i.id.clone(),
            accept: true,
        })
        .collect()
}

impl Sim {
    pub fn new(kind: RoomKind, phase: Phase) -> Sim {
        Sim::with_settings(Settings::for_kind(kind, "Test circle"), phase)
    }

    pub fn with_settings(settings: Settings, phase: Phase) -> Sim {
        Sim {
            room: Room::new(settings, phase),
            now: Timestamp(1_700_000_000_000),
            outputs: Vec::new(),
            media_gates: BTreeSet::new(),
            sessions: BTreeMap::new(),
            ids: BTreeMap::new(),
            journal: Vec::new(),
        }
    }

    /// A circle in session with a keeper (seat 1) already in.
    pub fn circle_in_session() -> Sim {
        let mut sim = Sim::new(RoomKind::Circle, Phase::Open);
        sim.join("keeper", 1, Role::Keeper, None);
        sim.keeper(Command::StartSession).expect("start");
        sim
    }

    pub fn input(&mut self, input: Input) -> Result<Accepted, Refusal> {
        let before = self.room.clone();
        let result = self.room.handle(self.now, input.clone());
        let mut produced = Vec::new();
        while let Some(output) = self.room.poll_output() {
            produced.push(output);
        }
        match &result {
            Ok(accepted) => {
                if accepted.journal {
                    self.journal.push((self.now, input));
                }
            }
            Err(_) => {
                // A refusal changes nothing and says nothing.
                assert!(
                    produced.is_empty(),
                    "refusal produced outputs: {produced:?}"
                );
                let mut after = self.room.clone();
                let mut before = before;
                // `now` may advance on any input; everything else must be equal.
                after.now = before.now;
                before.outputs.clear();
                after.outputs.clear();
                assert!(before == after, "a refused input changed the room");
            }
        }
        for output in &produced {
            if let Output::Gate(g) = output {
                let key = (g.from, g.to, g.kind);
                if g.open {
                    assert!(self.media_gates.insert(key), "gate opened twice: {g:?}");
                } else {
                    assert!(
                        self.media_gates.remove(&key),
                        "closed a gate never opened: {g:?}"
                    );
                }
            }
        }
        let room_gates: BTreeSet<_> = self.room.open_gates().copied().collect();
        assert_eq!(
            room_gates, self.media_gates,
            "gate outputs disagree with the room"
        );
        self.outputs.extend(produced);
        result
    }

    pub fn arrive(
        &mut self,
        name: &'static str,
        seat: u32,
        role: Role,
        party: Option<Party>,
    ) -> Result<SessionId, Refusal> {
        let accepted = self.input(Input::Arrive {
            invitation: invitation(name, seat, role, party),
        })?;
        let session = accepted.session.expect("arrive returns a session");
        self.sessions.insert(name, session);
        let person = self
            .room
            .person_of_session(session)
            .expect("session maps to a person");
        self.ids.insert(name, person);
        Ok(session)
    }

    pub fn consent(&mut self, name: &'static str) -> Result<Accepted, Refusal> {
        let role = self.room.person(self.id(name)).map(|p| p.role());
        let terms = self
            .room
            .settings()
            .terms_for(role.unwrap_or(Role::Participant))
            .clone();
        self.cmd(
            name,
            Command::Consent {
                version: terms.version.clone(),
                answers: accept_all(&terms),
            },
        )
    }

    /// Arrive, consent, and (for non-keepers) be admitted by the first keeper.
    pub fn join(
        &mut self,
        name: &'static str,
        seat: u32,
        role: Role,
        party: Option<Party>,
    ) -> PersonId {
        self.arrive(name, seat, role, party).expect("arrive");
        self.consent(name).expect("consent");
        let id = self.id(name);
        if role != Role::Keeper {
            self.keeper(Command::Admit { person: id }).expect("admit");
        }
        id
    }

    pub fn id(&self, name: &str) -> PersonId {
        *self
            .ids
            .get(name)
            .unwrap_or_else(|| panic!("no person {name}"))
    }

    pub fn session(&self, name: &str) -> SessionId {
        *self
            .sessions
            .get(name)
            .unwrap_or_else(|| panic!("no session {name}"))
    }

    pub fn cmd(&mut self, name: &str, command: Command) -> Result<Accepted, Refusal> {
        let session = self.session(name);
        self.input(Input::Command { session, command })
    }

    /// A command from the person called "keeper".
    pub fn keeper(&mut self, command: Command) -> Result<Accepted, Refusal> {
        self.cmd("keeper", command)
    }

    pub fn disconnect(&mut self, name: &str) -> Result<Accepted, Refusal> {
        let session = self.session(name);
        self.input(Input::Disconnect { session })
    }

    /// Moves simulated time forward and ticks the room at every deadline on the way.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now.plus_ms(ms);
        while let Some(deadline) = self.room.next_deadline() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.input(Input::Tick).expect("tick");
        }
        self.now = target;
        self.input(Input::Tick).expect("tick");
    }

    pub fn hears(&self, from: &str, to: &str) -> bool {
        self.media_gates
            .contains(&(self.id(from), self.id(to), MediaKind::Audio))
    }

    pub fn sees(&self, from: &str, to: &str) -> bool {
        self.media_gates
            .contains(&(self.id(from), self.id(to), MediaKind::Video))
    }

    /// Receives anything at all from anyone?
    pub fn receives_anything(&self, name: &str) -> bool {
        let me = self.id(name);
        self.media_gates.iter().any(|(_, to, _)| *to == me)
    }

    pub fn sends_anything(&self, name: &str) -> bool {
        let me = self.id(name);
        self.media_gates.iter().any(|(from, _, _)| *from == me)
    }

    pub fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// The notices a session was sent since the last `take`.
    pub fn notices_to(&self, name: &str) -> Vec<Notice> {
        let session = self.session(name);
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, notice } if *to == session => Some(notice.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn ended(&self, name: &str) -> Option<EndReason> {
        let session = self.session(name);
        self.outputs.iter().find_map(|o| match o {
            Output::End {
                session: s, reason, ..
            } if *s == session => Some(*reason),
            _ => None,
        })
    }

    pub fn records(&self) -> Vec<Record> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Record(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn view(&self, name: &str) -> View {
        self.room.view_for(self.id(name))
    }

    pub fn circle_view(&self, name: &str) -> CircleView {
        match self.view(name) {
            View::Circle(view) => *view,
            other => panic!("{name} is not in the circle: {other:?}"),
        }
    }
}
