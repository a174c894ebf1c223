//! The newcomer's demo circle: on a fresh store, one open circle with a
//! keeper and three participants, and their links printed to the terminal.

use crate::circle::{Party, Phase, Role, RoomKind, Settings};
use crate::invitations::{IssueError, Seat, ensure_room, issue};
use crate::server::App;

pub const DEMO_ROOM: &str = "demo-circle";

const DEMO_SEATS: &[(u32, Role, Option<Party>, &str)] = &[
    (1, Role::Keeper, None, "Keeper Kim"),
    (2, Role::Participant, Some(Party::Harmed), "Alex"),
    (3, Role::Participant, Some(Party::Responsible), "Sam"),
    (4, Role::Participant, Some(Party::Community), "Jordan"),
];

/// Creates the demo circle when the store has no room yet, and returns the
/// lines to print (empty when nothing was created). Links are minted anew
/// on every start, so a newcomer always has working ones.
pub async fn prepare(app: &App) -> Result<Vec<String>, IssueError> {
    let rooms = app.store.rooms().await?;
    let has_demo = rooms.iter().any(|r| r.id == DEMO_ROOM);
    if !rooms.is_empty() && !has_demo {
        return Ok(Vec::new());
    }
    let mut settings = Settings::for_kind(RoomKind::Circle, "Demo circle");
    settings.grace_ms = u64::from(app.config.rooms.grace_seconds) * 1000;
    ensure_room(&app.store, DEMO_ROOM, settings, Phase::Open).await?;
    let public_url = app.config.public_url();
    let mut lines = vec![
        String::new(),
        "A demo circle is ready. Open each link in its own browser tab or window:".to_owned(),
    ];
    for &(seat, role, party, name) in DEMO_SEATS {
        let seat = Seat {
            seat,
            role,
            party,
            name,
            interprets_for: &[],
        };
        let issued = issue(&app.store, &app.keys, &public_url, DEMO_ROOM, seat, 86_400).await?;
        let label = match role {
            Role::Keeper => format!("keeper      {name}"),
            _ => format!("participant {name}"),
        };
        lines.push(format!("  {label:<22} {}", issued.link));
    }
    lines.push(String::new());
    Ok(lines)
}
