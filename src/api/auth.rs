//! Bearer API keys (SPEC §5.9): the configuration holds only each key's
//! SHA-256; a presented key is hashed and compared with every configured hash
//! in constant time, so neither timing nor the order of keys tells anything.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::config::ApiKeyConfig;
use crate::server::App;

/// The configured key matching `presented`, if any. Every key is compared.
pub fn find_key<'a>(keys: &'a [ApiKeyConfig], presented: &str) -> Option<&'a ApiKeyConfig> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for key in keys {
        let mut expected = [0u8; 32];
        // Validated at load time; a bad entry simply matches nothing.
        let decoded = hex::decode_to_slice(&key.key_sha256, &mut expected).is_ok();
        let equal: bool = digest.ct_eq(&expected).into();
        if decoded && equal && found.is_none() {
            found = Some(key);
        }
    }
    found
}

/// Put on a request the middleware let through on an API key (read-write
/// unless the method only reads).
#[derive(Clone, Copy, Debug)]
pub struct ByApiKey;

/// Routes whose handler also accepts a keeper's invitation token in place
/// of a key, and checks it itself (see `agreement.rs`).
const KEEPER_TOKEN_ROUTES: &[&str] = &["/api/v1/rooms/{room_id}/agreement/items/{index}"];

pub async fn require_key(
    State(app): State<Arc<App>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let presented = super::invitation::bearer(request.headers());
    let Some(key) = presented.and_then(|p| find_key(&app.config.api.keys, p)) else {
        let keeper_route = request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| KEEPER_TOKEN_ROUTES.contains(&p.as_str()));
        if keeper_route && presented.is_some() {
            return next.run(request).await;
        }
        return ApiError::Unauthorized.into_response();
    };
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    if key.read_only && !reads {
        return ApiError::ReadOnlyKey.into_response();
    }
    tracing::debug!(key = %key.id, method = %request.method(), "API request");
    request.extensions_mut().insert(ByApiKey);
    next.run(request).await
}
