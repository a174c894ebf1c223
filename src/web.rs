//! The browser client, embedded in the binary (no build step, no third
//! party): plain ES modules from `web-client/`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::server::App;

/// Only our own scripts, styles and sockets; no inline script, no frames,
/// no third-party anything (SPEC §5.10).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// (file name, content type, content)
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../web-client/index.html")),
    ("join.html", "text/html; charset=utf-8", include_str!("../web-client/join.html")),
    ("protocol.js", "text/javascript; charset=utf-8", include_str!("../web-client/protocol.js")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../web-client/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../web-client/style.css")),
];

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/join", get(|| async { asset("join.html") }))
        .route("/client/{file}", get(|Path(file): Path<String>| async move { asset(&file) }))
}

fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(file, ..)| *file == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
