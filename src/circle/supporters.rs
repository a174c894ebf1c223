//! SPEC §3.1.7: supporters. A supporter's invitation may name the seat of
//! the person they support. Under an entry order they count as that person's
//! party (a supporter of the responsible party waits as the responsible party
//! does) and come in when their person is admitted; a staggered exit may take
//! them along (`with_supporters`), and the keeper's console offers them for a
//! side room with their person.

use super::room::{Person, Room};
use super::types::{Party, PersonId};

impl Room {
    /// The people who name `id`'s seat as the one they support, in seat order.
    pub(super) fn supporters_of(&self, id: PersonId) -> Vec<PersonId> {
        let Some(seat) = self.people.get(&id).map(|p| p.invitation.seat) else {
            return Vec::new();
        };
        self.seat_order
            .iter()
            .copied()
            .filter(|s| {
                *s != id
                    && self
                        .people
                        .get(s)
                        .is_some_and(|p| p.invitation.supports == Some(seat))
            })
            .collect()
    }

    /// The party a person enters as: their own, or for a supporter the party
    /// of the person they support.
    pub(super) fn entry_party(&self, person: &Person) -> Option<Party> {
        let supported = person.invitation.supports.and_then(|seat| {
            self.people
                .values()
                .find(|p| p.invitation.seat == seat && p.id != person.id)
        });
        match supported {
            Some(p) => p.invitation.party,
            None => person.invitation.party,
        }
    }
}
