//! Issuing invitation links and creating rooms: shared by the demo, the
//! `invite` command and (later) the program API; and checking a presented
//! token against the stored invitation (SPEC §5.11).

use crate::auth::{AuthError, Claims, TokenKeys, invitation_link};
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

/// Why a presented invitation token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefusal {
    /// Shown with the error's code: the token is not authentic, not current
    /// or malformed. A correctly signed token that names no stored invitation,
    /// or differs from it, is shown exactly as a forged one
    /// (`token_bad_signature`), so it teaches its holder nothing.
    #[error("{0}")]
    Token(#[from] AuthError),
    /// Shown as `invitation_revoked`: authentic, but revoked (or its holder removed).
    #[error("this invitation has been revoked")]
    Revoked(Box<Claims>),
    /// Logged, shown as `server_error`.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// A token that is authentic, current, stored unchanged and not revoked.
pub struct Checked {
    pub claims: Claims,
    /// The stored invitation: the truth about who the holder is.
    pub stored: InvitationRow,
}

/// Checks a presented token: its signature and claims (`TokenKeys::verify`),
/// then the stored invitation of its jti (SPEC §5.11): it must exist, be for
/// the same room, seat, role and party with the same expiry, and not be
/// revoked. Only then is the token trusted, and then as the store says.
pub async fn check_token(
    store: &Store,
    keys: &TokenKeys,
    token: &str,
) -> Result<Checked, TokenRefusal> {
    let claims = keys.verify(token).inspect_err(|error| {
        metrics::counter!("circlekeeper_token_rejections_total", "code" => error.code())
            .increment(1);
    })?;
    let Some(stored) = store.invitation(&claims.jti).await? else {
        return Err(not_ours("invitation_unknown"));
    };
    let inv = &stored.invitation;
    let same = stored.room_id == claims.room
        && inv.seat == claims.seat
        && inv.role == claims.role
        && inv.party == claims.party
        && stored.expires_at == Timestamp(claims.exp.saturating_mul(1000));
    if !same {
        return Err(not_ours("invitation_mismatch"));
    }
    if stored.revoked_at.is_some() {
        return Err(TokenRefusal::Revoked(Box::new(claims)));
    }
    Ok(Checked { claims, stored })
}

/// A correctly signed token the store does not back: the signing secret has
/// leaked or an old one is in use. Logged for the operator (never the token);
/// refused like a forgery.
fn not_ours(why: &'static str) -> TokenRefusal {
    metrics::counter!("circlekeeper_token_rejections_total", "code" => why).increment(1);
    tracing::warn!(
        why,
        "a correctly signed token does not match the stored invitations: \
         is the token secret leaked? (`circlekeeper keys rotate`)"
    );
    TokenRefusal::Token(AuthError::BadSignature)
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
    /// An interpreter's seats (SPEC §2 link); empty for everyone else.
    pub interprets_for: &'a [u32],
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
            // The link lives in the stored invitation, not in the token.
            invitation: crate::circle::Invitation {
                interprets_for: seat.interprets_for.to_vec(),
                ..claims.invitation()
            },
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
