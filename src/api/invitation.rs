//! Invitation tokens as HTTP credentials, for the few endpoints a person
//! (not a program) calls: `POST /feedback` and a keeper's agreement
//! follow-up. Checked exactly as `/ws` checks them at `hello`: signature,
//! algorithm and claims by `TokenKeys::verify`, then revocation by the store.

use axum::http::{HeaderMap, header};

use crate::auth::Claims;
use crate::server::App;
use crate::store::StoreError;

/// What a presented invitation token came to.
pub(super) enum Presented {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not authentic, not current, or malformed.
    Invalid,
    /// Authentic and current, but its invitation was revoked (or its holder removed).
    Revoked(Claims),
    Valid(Claims),
}

/// The bearer credential of a request, if any.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Verifies the request's bearer token as an invitation token.
pub(super) async fn presented(app: &App, headers: &HeaderMap) -> Result<Presented, StoreError> {
    let Some(token) = bearer(headers) else {
        return Ok(Presented::Missing);
    };
    let claims = match app.keys.verify(token) {
        Ok(claims) => claims,
        Err(error) => {
            metrics::counter!("circlekeeper_token_rejections_total", "code" => error.code())
                .increment(1);
            return Ok(Presented::Invalid);
        }
    };
    if app.store.is_revoked(&claims.jti).await? {
        return Ok(Presented::Revoked(claims));
    }
    Ok(Presented::Valid(claims))
}
