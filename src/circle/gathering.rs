//! SPEC §3.1.5, §3.3, §3.4.3, §3.5.3–4: the room as a whole — phases and
//! lock, pause requests, caucus, mute, chat, closing and staggered exit.

use super::command::ChatTo;
use super::output::{AttendanceEvent, EndReason, Notice, Record, Refusal};
use super::room::{Accepted, Person, Room, Stage};
use super::types::{CaucusId, Party, PersonId, Phase};

pub const MAX_CHAT_CHARS: usize = 2000;

impl Room {
    pub(super) fn change_phase(&mut self, from: &[Phase], to: Phase) -> Result<Accepted, Refusal> {
        if !from.contains(&self.phase) {
            return Err(Refusal::WrongPhase);
        }
        self.phase = to;
        self.record(Record::PhaseChanged { phase: to });
        Ok(Accepted::changed())
    }

    pub(super) fn set_locked(&mut self, locked: bool) -> Result<Accepted, Refusal> {
        if self.locked == locked {
            return Err(Refusal::NoChange);
        }
        self.locked = locked;
        Ok(Accepted::changed())
    }

    /// All sessions end, media stops, the record is final.
    pub(super) fn close(&mut self) -> Result<Accepted, Refusal> {
        self.change_phase(
            &[
                Phase::Scheduled,
                Phase::Open,
                Phase::InSession,
                Phase::Paused,
            ],
            Phase::Closed,
        )?;
        let here: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| p.on_a_visit())
            .map(|p| p.id)
            .collect();
        for id in here {
            self.end_visit(
                id,
                Stage::Away,
                Some(EndReason::RoomClosed),
                AttendanceEvent::Dismissed,
            );
        }
        self.caucuses.clear();
        Ok(Accepted::changed())
    }

    /// Staggered exit: the keeper ends the session for one party first.
    pub(super) fn end_session_for(
        &mut self,
        party: Party,
        with_supporters: bool,
    ) -> Result<Accepted, Refusal> {
        let mut of_party: Vec<PersonId> = self
            .people
            .values()
            .filter(|p| p.invitation.party == Some(party) && p.on_a_visit())
            .map(|p| p.id)
            .collect();
        if with_supporters {
            let supporters: Vec<PersonId> = of_party
                .iter()
                .flat_map(|id| self.supporters_of(*id))
                .filter(|id| self.people.get(id).is_some_and(Person::on_a_visit))
                .collect();
            for id in supporters {
                if !of_party.contains(&id) {
                    of_party.push(id);
                }
            }
        }
        if of_party.is_empty() {
            return Err(Refusal::NoChange);
        }
        for id in of_party {
            self.dismiss(id);
        }
        Ok(Accepted::changed())
    }

    /// Staggered exit: the visit ends, the link stays good.
    fn dismiss(&mut self, id: PersonId) {
        self.end_visit(
            id,
            Stage::Away,
            Some(EndReason::SessionEnded),
            AttendanceEvent::Dismissed,
        );
    }

    /// One person's visit ends (SPEC §3.5.4), as in `end_session_for`; unlike
    /// removal their link stays good. Keepers are protected, as from removal.
    pub(super) fn end_session_of(&mut self, id: PersonId) -> Result<Accepted, Refusal> {
        let person = self.known(id)?;
        if person.is_keeper() {
            return Err(Refusal::KeeperProtected);
        }
        if !person.on_a_visit() {
            return Err(Refusal::NoChange);
        }
        self.dismiss(id);
        Ok(Accepted::changed())
    }

    /// "I need a moment": to the keepers at once. Nothing durable changes.
    pub(super) fn request_pause(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        self.send_keepers(Notice::PauseRequested { by: me }, None);
        Ok(Accepted::unchanged())
    }

    pub(super) fn open_caucus(&mut self, members: Vec<PersonId>) -> Result<Accepted, Refusal> {
        let mut set = std::collections::BTreeSet::new();
        for id in &members {
            let person = self.known(*id)?;
            if !person.in_circle() || person.caucus.is_some() || !set.insert(*id) {
                return Err(Refusal::BadCaucus);
            }
        }
        if set.len() < 2 {
            return Err(Refusal::BadCaucus);
        }
        let caucus = CaucusId(self.next_caucus);
        self.next_caucus += 1;
        for id in &set {
            if let Some(person) = self.people.get_mut(id) {
                person.caucus = Some(caucus);
            }
        }
        self.caucuses.insert(caucus, set);
        Ok(Accepted::changed())
    }

    pub(super) fn close_caucus(&mut self, caucus: CaucusId) -> Result<Accepted, Refusal> {
        let members = self
            .caucuses
            .remove(&caucus)
            .ok_or(Refusal::UnknownCaucus)?;
        for id in members {
            if let Some(person) = self.people.get_mut(&id) {
                person.caucus = None;
            }
        }
        Ok(Accepted::changed())
    }

    /// A member's visit ended; a caucus of fewer than two closes by itself.
    pub(super) fn leave_caucus(&mut self, id: PersonId, caucus: CaucusId) {
        let Some(members) = self.caucuses.get_mut(&caucus) else {
            return;
        };
        members.remove(&id);
        if members.len() < 2 {
            let _ = self.close_caucus(caucus);
        }
    }

    pub(super) fn mute(&mut self, id: PersonId) -> Result<Accepted, Refusal> {
        let person = self.known(id)?;
        if !person.in_circle() {
            return Err(Refusal::NotInCircle);
        }
        if person.keeper_muted {
            return Err(Refusal::NoChange);
        }
        if let Some(person) = self.people.get_mut(&id) {
            person.keeper_muted = true;
        }
        Ok(Accepted::changed())
    }

    pub(super) fn unmute(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        match self.people.get_mut(&me) {
            Some(person) if person.keeper_muted => {
                person.keeper_muted = false;
                Ok(Accepted::changed())
            }
            Some(_) => Err(Refusal::NotMuted),
            None => Err(Refusal::UnknownPerson),
        }
    }

    /// Chat follows the speaking right; a private word to the keepers is always
    /// allowed. Never stored, never journaled.
    pub(super) fn chat(
        &mut self,
        me: PersonId,
        to: ChatTo,
        text: String,
    ) -> Result<Accepted, Refusal> {
        let length = text.trim().chars().count();
        if length == 0 || text.chars().count() > MAX_CHAT_CHARS {
            return Err(Refusal::BadText);
        }
        let my_caucus = self.known(me)?.caucus;
        let recipients: Vec<PersonId> = match to {
            ChatTo::Keepers => {
                let mut keepers: Vec<PersonId> = self
                    .people
                    .values()
                    .filter(|p| p.is_keeper() && p.in_circle())
                    .map(|p| p.id)
                    .collect();
                if !keepers.contains(&me) {
                    keepers.push(me);
                }
                keepers
            }
            ChatTo::Circle => {
                let allowed = my_caucus.is_some() || self.may_speak(me);
                if !allowed {
                    return Err(Refusal::MayNotChat);
                }
                self.people
                    .values()
                    .filter(|p| p.in_circle() && p.caucus == my_caucus)
                    .map(|p| p.id)
                    .collect()
            }
        };
        for id in recipients {
            self.send(
                id,
                Notice::Chat {
                    from: me,
                    to,
                    text: text.clone(),
                },
            );
        }
        Ok(Accepted::unchanged())
    }
}
