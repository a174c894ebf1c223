//! Invitation tokens as HTTP credentials, for the few endpoints a person
//! (not a program) calls: `POST /feedback` and a keeper's agreement
//! follow-up. Checked exactly as `/ws` checks them at `hello`
//! (`invitations::check_token`): signature, key, algorithm and claims, then
//! the stored invitation and its revocation.

use axum::http::{HeaderMap, header};

use crate::auth::Claims;
use crate::invitations::{TokenRefusal, check_token};
use crate::server::App;
use crate::store::StoreError;

/// What a presented invitation token came to.
pub(super) enum Presented {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not authentic, not current, malformed, or not backed by the store.
    Invalid,
    /// Authentic and current, but its invitation was revoked (or its holder removed).
    Revoked(Box<Claims>),
    Valid(Claims),
}

/// The bearer credential of a request, if any. The scheme is matched
/// without regard to case (RFC 9110 §11.1: `bearer`, `BEARER` and `Bearer`
/// are the same scheme), then one or more spaces, then the credential.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// Verifies the request's bearer token as an invitation token.
pub(super) async fn presented(app: &App, headers: &HeaderMap) -> Result<Presented, StoreError> {
    let Some(token) = bearer(headers) else {
        return Ok(Presented::Missing);
    };
    match check_token(&app.store, &app.keys, token).await {
        Ok(checked) => Ok(Presented::Valid(checked.claims)),
        Err(TokenRefusal::Token(_)) => Ok(Presented::Invalid),
        Err(TokenRefusal::Revoked(claims)) => Ok(Presented::Revoked(claims)),
        Err(TokenRefusal::Store(error)) => Err(error),
    }
}
