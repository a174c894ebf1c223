//! Views spaced while changes come fast (`Room::with_view_spacing`): a
//! `state` only when the view changed, the actor and a new stage at once,
//! everyone else at most once per spacing, and nothing left unshown.

use super::harness::*;
use crate::circle::*;

const SPACING: u64 = 100;

/// A circle in session with its keeper, spaced, quiet for a while.
fn spaced_circle() -> Sim {
    let mut sim = Sim::circle_in_session();
    sim.room = sim.room.clone().with_view_spacing(SPACING);
    sim.advance(10_000);
    sim.take();
    sim
}

fn states_to(sim: &Sim, name: &str) -> Vec<View> {
    sim.notices_to(name)
        .into_iter()
        .filter_map(|n| match n {
            Notice::State { view } => Some(*view),
            _ => None,
        })
        .collect()
}

fn presence_of(view: &View, person: PersonId) -> Option<Presence> {
    match view {
        View::Circle(circle) => circle
            .people
            .iter()
            .find(|p| p.id == person)
            .map(|p| p.presence.clone()),
        _ => None,
    }
}

#[test]
fn a_keeper_sees_a_burst_of_arrivals_at_once_then_all_of_it_after_the_spacing() {
    let mut sim = spaced_circle();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    let first = states_to(&sim, "keeper");
    assert_eq!(
        first.len(),
        1,
        "the first change after a quiet spell goes out at once"
    );
    assert_eq!(
        presence_of(&first[0], sim.id("ana")),
        Some(Presence::Consent)
    );
    sim.take();

    sim.arrive("ben", 3, Role::Participant, None).unwrap();
    sim.consent("ana").unwrap();
    assert_eq!(states_to(&sim, "keeper"), Vec::new(), "held back");
    // The one who acted sees it at once: ana's consent took her to the lobby.
    assert!(matches!(states_to(&sim, "ana")[..], [View::Lobby { .. }]));
    let last_shown = sim.now;
    assert_eq!(sim.room.next_deadline(), Some(last_shown.plus_ms(SPACING)));
    sim.take();

    sim.advance(SPACING - 1);
    assert_eq!(
        states_to(&sim, "keeper"),
        Vec::new(),
        "not before the spacing"
    );
    sim.advance(1);
    let caught_up = states_to(&sim, "keeper");
    assert_eq!(caught_up.len(), 1, "one view with everything that changed");
    assert_eq!(
        presence_of(&caught_up[0], sim.id("ana")),
        Some(Presence::Lobby)
    );
    assert_eq!(
        presence_of(&caught_up[0], sim.id("ben")),
        Some(Presence::Consent)
    );
    assert_eq!(caught_up[0], sim.view("keeper"));
    assert_eq!(sim.room.next_deadline(), None, "nothing waits any more");
}

#[test]
fn the_one_who_acts_and_the_one_whose_stage_changes_are_shown_at_once() {
    let mut sim = spaced_circle();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.consent("ana").unwrap();
    sim.take();
    // Within the spacing of both their last views.
    sim.keeper(Command::Admit {
        person: sim.id("ana"),
    })
    .unwrap();
    let to_keeper = states_to(&sim, "keeper");
    assert_eq!(to_keeper.len(), 1);
    assert_eq!(
        presence_of(&to_keeper[0], sim.id("ana")),
        Some(Presence::InCircle)
    );
    assert!(matches!(states_to(&sim, "ana")[..], [View::Circle(_)]));
}

#[test]
fn an_unchanged_view_is_not_sent_again() {
    let mut sim = spaced_circle();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.consent("ana").unwrap();
    sim.advance(10_000);
    sim.take();
    // Ben at the consent stage changes the keeper's view, not ana's in the lobby.
    sim.arrive("ben", 3, Role::Participant, None).unwrap();
    sim.advance(10_000);
    assert_eq!(states_to(&sim, "ana"), Vec::new());
    assert_eq!(states_to(&sim, "keeper").len(), 1);
}

#[test]
fn a_session_that_comes_back_gets_its_view_at_once() {
    let mut sim = spaced_circle();
    sim.join("ana", 2, Role::Participant, None);
    sim.take();
    sim.disconnect("ana").unwrap();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    let views = states_to(&sim, "ana");
    assert_eq!(
        views.len(),
        1,
        "a new session is shown its view, unchanged or not"
    );
    assert_eq!(views[0], sim.view("ana"));
}

#[test]
fn without_spacing_every_change_is_shown_at_once() {
    let mut sim = Sim::circle_in_session();
    sim.take();
    sim.arrive("ana", 2, Role::Participant, None).unwrap();
    sim.arrive("ben", 3, Role::Participant, None).unwrap();
    assert_eq!(states_to(&sim, "keeper").len(), 2);
    assert_eq!(sim.room.next_deadline(), None);
}
