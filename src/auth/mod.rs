//! Invitation tokens (SPEC §6.3, §5.3).
//!
//! An invitation link is `https://HOST/join#t=TOKEN`. The token is a JWT signed
//! with HS256 (the only algorithm accepted), carrying the room, seat, role,
//! party, display name, `exp`, `nbf` and `jti`, and names its signing key in
//! the header (`kid`). The `jti` is the identity of the invitation, which the
//! store checks (`crate::invitations::check_token`); this module only answers
//! "is this token authentic, current and well-formed?".
//!
//! Tokens are credentials: nothing in this module logs one, and no error
//! message or `Debug` output contains a token, the secret or a display name.

mod claims;
mod error;
mod secret;
mod token;

#[cfg(test)]
mod tests;

pub use claims::Claims;
pub use error::AuthError;
pub use secret::MIN_SECRET_BYTES;
pub(crate) use secret::load_or_create as load_or_create_secret;
pub use token::{DEFAULT_OVERLAP_SECS, LEEWAY_SECS, MAX_TOKEN_BYTES, Rotation, TokenKeys, key_id};

/// The link a person opens to join: `{public_url}/join#t={token}`.
///
/// The token travels in the URL fragment, so browsers never send it to the
/// server in a request line (SPEC §5.10).
pub fn invitation_link(public_url: &str, token: &str) -> String {
    format!("{}/join#t={}", public_url.trim_end_matches('/'), token)
}

/// The link with the person's language as a second fragment parameter,
/// `…/join#t=TOKEN&lang=es`. A language is neither a secret nor a right, so
/// it stays out of the signed token; the caller passes a valid language tag.
pub fn invitation_link_in(public_url: &str, token: &str, language: Option<&str>) -> String {
    with_language(invitation_link(public_url, token), language)
}

/// Adds `&lang=` to an invitation link (see `invitation_link_in`).
pub fn with_language(link: String, language: Option<&str>) -> String {
    match language {
        Some(language) => format!("{link}&lang={language}"),
        None => link,
    }
}
