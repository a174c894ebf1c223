//! Issuing invitation links and creating rooms: shared by the demo, the
//! `invite` command and (later) the program API.

use crate::auth::{AuthError, TokenKeys, invitation_link};
use crate::circle::{Party, Phase, Role, Settings, Timestamp};
use crate::rooms::wall_clock;
use crate::store::{InvitationRow, RoomRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("token: {0}")]
    Token(#[from] AuthError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("no room with that id")]
    UnknownRoom,
}

/// One issued invitation. The link is a credential: give it to its person only.
pub struct Issued {
    pub link: String,
    pub invitation_id: String,
}

/// What an invitation is for.
pub struct Seat<'a> {
    pub seat: u32,
    pub role: Role,
    pub party: Option<Party>,
    pub name: &'a str,
}

/// Mints a token for `seat` in `room_id` and keeps the invitation (without
/// the token) in the store.
pub async fn issue(
    store: &Store,
    keys: &TokenKeys,
    public_url: &str,
    room_id: &str,
    seat: Seat<'_>,
    valid_secs: u64,
) -> Result<Issued, IssueError> {
    if store.room(room_id).await?.is_none() {
        return Err(IssueError::UnknownRoom);
    }
    let now = wall_clock();
    let now_secs = now.0 / 1000;
    let (token, claims) = keys.mint(
        room_id, seat.seat, seat.role, seat.party, seat.name, now_secs, valid_secs,
    )?;
    store
        .add_invitation(&InvitationRow {
            room_id: room_id.to_owned(),
            invitation: claims.invitation(),
            issued_at: now,
            expires_at: Timestamp(claims.exp.saturating_mul(1000)),
            revoked_at: None,
        })
        .await?;
    Ok(Issued {
        link: invitation_link(public_url, &token),
        invitation_id: claims.jti,
    })
}

/// Creates the room unless it exists; true when it was created.
pub async fn ensure_room(
    store: &Store,
    id: &str,
    settings: Settings,
    phase: Phase,
) -> Result<bool, StoreError> {
    if store.room(id).await?.is_some() {
        return Ok(false);
    }
    store
        .create_room(&RoomRow {
            id: id.to_owned(),
            settings,
            phase,
            created_at: wall_clock(),
        })
        .await?;
    Ok(true)
}
