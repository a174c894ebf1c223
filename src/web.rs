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

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// (file name, content type, content). Flat names: `/client/{file}` is one path segment.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("../web-client/index.html")),
    ("join.html", HTML, include_str!("../web-client/join.html")),
    ("style.css", CSS, include_str!("../web-client/style.css")),
    ("icon.svg", SVG, include_str!("../web-client/icon.svg")),
    ("protocol.js", JS, include_str!("../web-client/protocol.js")),
    ("strings.js", JS, include_str!("../web-client/strings.js")),
    ("lang-en.js", JS, include_str!("../web-client/lang-en.js")),
    ("lang-es.js", JS, include_str!("../web-client/lang-es.js")),
    ("lang-ar.js", JS, include_str!("../web-client/lang-ar.js")),
    ("dom.js", JS, include_str!("../web-client/dom.js")),
    ("media.js", JS, include_str!("../web-client/media.js")),
    ("webrtc.js", JS, include_str!("../web-client/webrtc.js")),
    ("app.js", JS, include_str!("../web-client/app.js")),
    ("stage.js", JS, include_str!("../web-client/stage.js")),
    ("callbar.js", JS, include_str!("../web-client/callbar.js")),
    ("values.js", JS, include_str!("../web-client/values.js")),
    (
        "keeper-alerts.js",
        JS,
        include_str!("../web-client/keeper-alerts.js"),
    ),
    (
        "consent-form.js",
        JS,
        include_str!("../web-client/consent-form.js"),
    ),
    ("guardian.js", JS, include_str!("../web-client/guardian.js")),
    (
        "keeper-guide.js",
        JS,
        include_str!("../web-client/keeper-guide.js"),
    ),
    (
        "circle-parts.js",
        JS,
        include_str!("../web-client/circle-parts.js"),
    ),
    (
        "view-join.js",
        JS,
        include_str!("../web-client/view-join.js"),
    ),
    (
        "view-ended.js",
        JS,
        include_str!("../web-client/view-ended.js"),
    ),
    (
        "view-device.js",
        JS,
        include_str!("../web-client/view-device.js"),
    ),
    (
        "view-circle.js",
        JS,
        include_str!("../web-client/view-circle.js"),
    ),
    (
        "view-keeper.js",
        JS,
        include_str!("../web-client/view-keeper.js"),
    ),
    (
        "view-language.js",
        JS,
        include_str!("../web-client/view-language.js"),
    ),
    (
        "view-feedback.js",
        JS,
        include_str!("../web-client/view-feedback.js"),
    ),
    (
        "view-outline.js",
        JS,
        include_str!("../web-client/view-outline.js"),
    ),
];

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/join", get(|| async { asset("join.html") }))
        .route(
            "/client/{file}",
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
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
