//! The program API under `/api/v1/` (SPEC §6.2, §5.9): programs create rooms
//! and get one invitation link per seat, add and revoke invitations, read a
//! room's live state, list rooms, export and delete records. Bearer API keys;
//! every error is `{"error": {"code", "message"}}` (`error.rs`). The OpenAPI
//! document is generated from these handlers (utoipa) and served at
//! `/api/v1/openapi.json`; docs/api.md is the guide.

mod agreement;
mod auth;
mod cases;
mod error;
mod extract;
pub mod feedback;
mod followup;
mod invitation;
mod outlines;
mod record;
pub mod reports;
mod retention;
mod rooms;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::server::App;

pub use error::{ApiError, ErrorBody};
pub use followup::{spawn_followup, sweep_overdue};
pub use record::csv;
pub use retention::{purge_expired, spawn_retention};

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Circle Keeper program API",
        version = "1",
        description = "Create restorative-justice circles and conferences, hand out invitation links, read and delete their records. See docs/api.md."
    ),
    modifiers(&BearerKey),
    security(("api_key" = [])),
    tags(
        (name = "rooms", description = "Rooms, their invitations and records"),
        (name = "outcomes", description = "Feedback, agreement follow-up and reports"),
        (name = "outlines", description = "The program's library of circle outlines"),
        (name = "cases", description = "Cases: preparation meetings and the joint meeting of one matter")
    )
)]
struct ApiDoc;

/// Declares the bearer API key scheme that every operation requires.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn documented() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(rooms::create_room, rooms::list_rooms))
        .routes(routes!(rooms::room_state, rooms::delete_room))
        .routes(routes!(rooms::add_invitations))
        .routes(routes!(rooms::revoke_invitation))
        .routes(routes!(record::export_record))
        .routes(routes!(record::export_record_csv))
        .routes(routes!(feedback::room_feedback))
        .routes(routes!(agreement::agreement))
        .routes(routes!(agreement::update_item))
        .routes(routes!(reports::reports))
        .routes(routes!(reports::reports_csv))
        .routes(routes!(outlines::create_outline, outlines::list_outlines))
        .routes(routes!(outlines::get_outline, outlines::delete_outline))
        .routes(routes!(cases::create_case))
        .routes(routes!(cases::get_case, cases::delete_case))
}

/// The OpenAPI document of the API, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().split_for_parts().1
}

/// The API's routes, to merge into the server's router.
pub fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let (router, openapi) = documented().split_for_parts();
    let document: Arc<str> = match openapi.to_pretty_json() {
        Ok(json) => Arc::from(json),
        Err(_) => Arc::from("{}"),
    };
    router
        .route(&format!("{PREFIX}/{{*rest}}"), any(unknown_route))
        .route(PREFIX, any(unknown_route))
        .layer(RequestBodyLimitLayer::new(app.config.api.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_key,
        ))
        // The document describes the API; it needs no key.
        .route(
            &format!("{PREFIX}/openapi.json"),
            get(move || {
                let document = document.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        document.to_string(),
                    )
                }
            }),
        )
        // A participant's own invitation is the credential here (issue 8).
        .route(
            "/feedback",
            post(feedback::answer).layer(RequestBodyLimitLayer::new(feedback::MAX_FEEDBACK_BODY)),
        )
        .layer(middleware::from_fn(json_errors))
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound
}

/// Answers that axum or tower-http make themselves (405 from the method
/// router, 413 from the body limit) become our JSON errors too.
async fn json_errors(request: Request<Body>, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge.into_response(),
        _ => response,
    }
}
