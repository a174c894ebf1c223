//! The program's outline library: circle outlines to copy into rooms
//! (`outline_id` at creation). Keepers' `set_outline` saves here too, by name.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use crate::circle;
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::{StoreError, StoredOutline, rfc3339};

/// `opening` and `closing`: the keeper speaks, no round. The others (`closing_round` included: a
/// closing word from everyone) start a round with the prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Opening,
    CheckIn,
    Guidelines,
    Round,
    ClosingRound,
    Closing,
}

impl From<StepKind> for circle::StepKind {
    fn from(kind: StepKind) -> circle::StepKind {
        match kind {
            StepKind::Opening => circle::StepKind::Opening,
            StepKind::CheckIn => circle::StepKind::CheckIn,
            StepKind::Guidelines => circle::StepKind::Guidelines,
            StepKind::Round => circle::StepKind::Round,
            StepKind::ClosingRound => circle::StepKind::ClosingRound,
            StepKind::Closing => circle::StepKind::Closing,
        }
    }
}

impl From<circle::StepKind> for StepKind {
    fn from(kind: circle::StepKind) -> StepKind {
        match kind {
            circle::StepKind::Opening => StepKind::Opening,
            circle::StepKind::CheckIn => StepKind::CheckIn,
            circle::StepKind::Guidelines => StepKind::Guidelines,
            circle::StepKind::Round => StepKind::Round,
            circle::StepKind::ClosingRound => StepKind::ClosingRound,
            circle::StepKind::Closing => StepKind::Closing,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlineStep {
    pub kind: StepKind,
    /// At most 500 characters; not blank unless the step is an `opening` or `closing`.
    pub prompt: String,
    /// A conference script: the round goes to these seats or parties in this order, once each
    /// (a party: each of its people in seat order), in talking-piece and moderated floor alike.
    /// At most 20; only on a step that starts a round. Absent or empty: everyone in seat order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speakers: Vec<Speaker>,
}

/// `{"seat": 3}` (1–10000) or `{"party": "responsible"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Speaker {
    Seat(u32),
    Party(super::types::Party),
}

impl From<Speaker> for circle::Speaker {
    fn from(speaker: Speaker) -> circle::Speaker {
        match speaker {
            Speaker::Seat(seat) => circle::Speaker::Seat(seat),
            Speaker::Party(party) => circle::Speaker::Party(party.into()),
        }
    }
}

impl From<circle::Speaker> for Speaker {
    fn from(speaker: circle::Speaker) -> Speaker {
        match speaker {
            circle::Speaker::Seat(seat) => Speaker::Seat(seat),
            circle::Speaker::Party(party) => Speaker::Party(party.into()),
        }
    }
}

/// An outline: a name (1–100 characters, unique in the library) and 1–20 steps.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOutline {
    pub name: String,
    pub steps: Vec<OutlineStep>,
}

/// One outline of the library.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Outline {
    /// `ol_…`.
    pub id: String,
    pub name: String,
    pub steps: Vec<OutlineStep>,
    pub created_at: String,
    /// Changed when a keeper saved an outline of the same name in a room.
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OutlineList {
    /// By name.
    pub outlines: Vec<Outline>,
}

/// The state machine's outline, checked against its limits (`invalid_outline`).
pub(super) fn validated(outline: NewOutline) -> Result<circle::Outline, ApiError> {
    let outline = circle::Outline {
        name: outline.name,
        steps: outline
            .steps
            .into_iter()
            .map(|s| circle::OutlineStep {
                kind: s.kind.into(),
                prompt: s.prompt,
                speakers: s.speakers.into_iter().map(Into::into).collect(),
            })
            .collect(),
    };
    outline
        .validate()
        .map_err(|e| ApiError::invalid("invalid_outline", e.to_string()))?;
    Ok(outline)
}

fn body(row: StoredOutline) -> Outline {
    Outline {
        id: row.id,
        name: row.outline.name,
        steps: row
            .outline
            .steps
            .into_iter()
            .map(|s| OutlineStep {
                kind: s.kind.into(),
                prompt: s.prompt,
                speakers: s.speakers.into_iter().map(Into::into).collect(),
            })
            .collect(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// Save an outline to the library.
#[utoipa::path(
    post,
    path = "/api/v1/outlines",
    tag = "outlines",
    request_body = NewOutline,
    responses(
        (status = 201, description = "The saved outline", body = Outline),
        (status = 400, description = "`bad_json`, `invalid_outline`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 409, description = "`outline_exists`: the library has an outline of that name", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub async fn create_outline(
    State(app): State<Arc<App>>,
    ApiJson(request): ApiJson<NewOutline>,
) -> Result<(StatusCode, Json<Outline>), ApiError> {
    let outline = validated(request)?;
    match app.store.create_outline(&outline, wall_clock()).await {
        Ok(row) => Ok((StatusCode::CREATED, Json(body(row)))),
        Err(StoreError::Duplicate) => Err(ApiError::OutlineExists),
        Err(e) => Err(e.into()),
    }
}

/// List the library's outlines.
#[utoipa::path(
    get,
    path = "/api/v1/outlines",
    tag = "outlines",
    responses(
        (status = 200, description = "Every outline, by name", body = OutlineList),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
pub async fn list_outlines(State(app): State<Arc<App>>) -> Result<Json<OutlineList>, ApiError> {
    let outlines = app.store.outlines().await?.into_iter().map(body).collect();
    Ok(Json(OutlineList { outlines }))
}

/// Read one outline.
#[utoipa::path(
    get,
    path = "/api/v1/outlines/{outline_id}",
    tag = "outlines",
    params(("outline_id" = String, Path, description = "The outline's id")),
    responses(
        (status = 200, description = "The outline", body = Outline),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`outline_unknown`", body = ErrorBody),
    )
)]
pub async fn get_outline(
    State(app): State<Arc<App>>,
    Path(outline_id): Path<String>,
) -> Result<Json<Outline>, ApiError> {
    let row = app
        .store
        .outline(&outline_id)
        .await?
        .ok_or(ApiError::OutlineUnknown)?;
    Ok(Json(body(row)))
}

/// Delete an outline from the library.
///
/// Rooms that use it keep their own copy.
#[utoipa::path(
    delete,
    path = "/api/v1/outlines/{outline_id}",
    tag = "outlines",
    params(("outline_id" = String, Path, description = "The outline's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 404, description = "`outline_unknown`", body = ErrorBody),
    )
)]
pub async fn delete_outline(
    State(app): State<Arc<App>>,
    Path(outline_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app.store.delete_outline(&outline_id).await? {
        return Err(ApiError::OutlineUnknown);
    }
    Ok(StatusCode::NO_CONTENT)
}
