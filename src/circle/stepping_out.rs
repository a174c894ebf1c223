//! Stepping out alone (SPEC §3.3.4): one action, at any time, for anyone in
//! the circle. Nobody receives their media and they receive none (the gates,
//! `may_forward`); the circle sees that they stepped out, never why; keepers
//! see it in the same update. One action brings them back, with no new
//! admission. A turn they held moves on, as when someone leaves.

use super::output::Refusal;
use super::room::{Accepted, Room};
use super::types::PersonId;

impl Room {
    pub(super) fn step_out(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        let person = self.people.get_mut(&me).ok_or(Refusal::UnknownPerson)?;
        if person.stepped_out {
            return Err(Refusal::NoChange);
        }
        person.stepped_out = true;
        // The piece skips absent people; a raised hand or a granted floor goes.
        self.floor_loses(me);
        Ok(Accepted::changed())
    }

    pub(super) fn step_back(&mut self, me: PersonId) -> Result<Accepted, Refusal> {
        let person = self.people.get_mut(&me).ok_or(Refusal::UnknownPerson)?;
        if !person.stepped_out {
            return Err(Refusal::NoChange);
        }
        person.stepped_out = false;
        Ok(Accepted::changed())
    }

    /// Is this person stepped out now?
    pub fn stepped_out(&self, id: PersonId) -> bool {
        self.people.get(&id).is_some_and(|p| p.stepped_out)
    }
}
