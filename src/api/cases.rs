//! Cases (SPEC §2 "Case", issue 15): a program's matter, grouping its
//! preparation meetings (kind `preparation`: a keeper with one party, their
//! supporters and interpreter) and the joint meeting. A room joins a case when
//! it is created (`case_id`); a case is deleted once no room names it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::types::{Party, RoomSummary as ApiRoomSummary};
use crate::circle::{self, Role};
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::{CaseDeleteError, CaseRow, RoomSummary, StoreError, rfc3339};

const MAX_TITLE_CHARS: usize = 200;

/// A new case: only a title, like a room's (no names of the people in it).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// 1–200 characters; the program's own reference, for its staff.
    pub title: String,
}

/// One room of a case: as the room list shows it, and what it prepares.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseRoom {
    #[serde(flatten)]
    pub room: ApiRoomSummary,
    /// For a preparation meeting, the party it prepares (`harmed`,
    /// `responsible` or `community`); null for the joint meeting, or before
    /// anyone of those parties is invited.
    pub prepares: Option<Party>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Case {
    pub case_id: String,
    pub title: String,
    pub created_at: String,
    /// Its rooms in creation order: preparation meetings and joint meeting.
    pub rooms: Vec<CaseRoom>,
}

/// The parties a preparation meeting is held with; the others (supporter,
/// interpreter, guardian, professional) come with one of them.
fn is_side(party: circle::Party) -> bool {
    matches!(
        party,
        circle::Party::Harmed | circle::Party::Responsible | circle::Party::Community
    )
}

/// The one side a preparation meeting's participants belong to, or
/// `preparation_mixes_parties` when they belong to two: a preparation
/// meeting never puts the harmed and the responsible party together.
pub fn prepared_side(
    people: impl IntoIterator<Item = (Role, Option<circle::Party>)>,
) -> Result<Option<circle::Party>, ApiError> {
    let mut side = None;
    for (role, party) in people {
        let Some(party) = party.filter(|p| role == Role::Participant && is_side(*p)) else {
            continue;
        };
        match side {
            None => side = Some(party),
            Some(s) if s == party => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "preparation_mixes_parties",
                    "a preparation meeting is held with one party (harmed, responsible or community) \
                     and their supporters, interpreter and guardian: invite the other party to their own",
                ));
            }
        }
    }
    Ok(side)
}

fn new_case_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("cs_{}", hex::encode(bytes))
}

async fn case_room(app: &App, summary: RoomSummary) -> Result<CaseRoom, ApiError> {
    let prepares = if summary.room.settings.kind == circle::RoomKind::Preparation {
        let invitations = app.store.invitations(&summary.room.id).await?;
        let people = invitations
            .iter()
            .filter(|r| r.revoked_at.is_none())
            .map(|r| (r.invitation.role, r.invitation.party));
        // Stored rooms passed the rule; a mix read back would be a bug.
        prepared_side(people).ok().flatten().map(Into::into)
    } else {
        None
    };
    Ok(CaseRoom {
        room: super::rooms::summary_of(summary),
        prepares,
    })
}

/// Create a case.
///
/// Rooms join it when they are created, with `case_id`.
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    request_body = NewCase,
    responses(
        (status = 201, description = "The case, with no rooms yet", body = Case),
        (status = 400, description = "`bad_json`, `invalid_title`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub async fn create_case(
    State(app): State<Arc<App>>,
    ApiJson(request): ApiJson<NewCase>,
) -> Result<(StatusCode, Json<Case>), ApiError> {
    if super::rooms::blank_or_long(&request.title, MAX_TITLE_CHARS) {
        return Err(ApiError::invalid(
            "invalid_title",
            format!("title must be 1–{MAX_TITLE_CHARS} characters, without control characters"),
        ));
    }
    let row = CaseRow {
        id: new_case_id(),
        title: request.title.trim().to_owned(),
        created_at: wall_clock(),
    };
    app.store.create_case(&row).await?;
    metrics::counter!("circlekeeper_api_cases_created_total").increment(1);
    let case = Case {
        case_id: row.id,
        title: row.title,
        created_at: rfc3339(row.created_at),
        rooms: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(case)))
}

/// Read a case and its rooms.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{case_id}",
    tag = "cases",
    params(("case_id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case and its rooms", body = Case),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`case_unknown`", body = ErrorBody),
    )
)]
pub async fn get_case(
    State(app): State<Arc<App>>,
    Path(case_id): Path<String>,
) -> Result<Json<Case>, ApiError> {
    let row = app
        .store
        .case(&case_id)
        .await?
        .ok_or(ApiError::CaseUnknown)?;
    let mut rooms = Vec::new();
    for summary in app.store.case_rooms(&case_id).await? {
        rooms.push(case_room(&app, summary).await?);
    }
    Ok(Json(Case {
        case_id: row.id,
        title: row.title,
        created_at: rfc3339(row.created_at),
        rooms,
    }))
}

/// Delete a case that no room belongs to any more.
///
/// Delete its rooms first (or let retention delete them): a case never
/// disappears from under a room's record.
#[utoipa::path(
    delete,
    path = "/api/v1/cases/{case_id}",
    tag = "cases",
    params(("case_id" = String, Path, description = "The case's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 404, description = "`case_unknown`", body = ErrorBody),
        (status = 409, description = "`case_not_empty`", body = ErrorBody),
    )
)]
pub async fn delete_case(
    State(app): State<Arc<App>>,
    Path(case_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match app.store.delete_case(&case_id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CaseDeleteError::NotFound) => Err(ApiError::CaseUnknown),
        Err(CaseDeleteError::NotEmpty) => Err(ApiError::CaseNotEmpty),
        Err(CaseDeleteError::Store(e)) => Err(e.into()),
    }
}

/// The case a room's record links to: the case and its other rooms.
pub async fn record_case(
    app: &App,
    room_id: &str,
    case_id: Option<&str>,
) -> Result<Option<super::types::RecordCase>, StoreError> {
    let Some(case_id) = case_id else {
        return Ok(None);
    };
    let Some(row) = app.store.case(case_id).await? else {
        return Ok(None);
    };
    let rooms = app
        .store
        .case_rooms(case_id)
        .await?
        .into_iter()
        .filter(|s| s.room.id != room_id)
        .map(|s| super::types::RecordCaseRoom {
            room_id: s.room.id,
            kind: s.room.settings.kind.into(),
        })
        .collect();
    Ok(Some(super::types::RecordCase {
        case_id: row.id,
        title: row.title,
        other_rooms: rooms,
    }))
}
