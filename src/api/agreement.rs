//! Agreement follow-up (issue 8): the items of a room's final agreement and
//! where each stands. The program (read-write key) or a keeper of the room
//! (their invitation token, also after the room closed) marks items `done`
//! or `not_done`; the harmed party is told through webhooks.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::auth::ByApiKey;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::invitation::{Presented, presented};
use crate::circle::{Role, valid_due};
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::{AgreementItemRow, ItemChange, ItemStatus, rfc3339};

/// Where an item stands: `open` until someone says `done` or `not_done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Done,
    NotDone,
}

impl From<ItemStatus> for Status {
    fn from(s: ItemStatus) -> Status {
        match s {
            ItemStatus::Open => Status::Open,
            ItemStatus::Done => Status::Done,
            ItemStatus::NotDone => Status::NotDone,
        }
    }
}

impl From<Status> for ItemStatus {
    fn from(s: Status) -> ItemStatus {
        match s {
            Status::Open => ItemStatus::Open,
            Status::Done => ItemStatus::Done,
            Status::NotDone => ItemStatus::NotDone,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FollowUpItem {
    /// From 0, in the order of the agreement.
    pub index: u32,
    pub what: String,
    pub who: String,
    /// "By when", as agreed in words.
    pub by: String,
    /// The follow-up date `YYYY-MM-DD`, if any.
    pub due: Option<String>,
    /// The seat of the person who owns the item, if the keeper named one; the item's
    /// webhooks then carry `owner` with their invitation ids.
    pub owner_seat: Option<u32>,
    pub status: Status,
    /// RFC 3339: finalisation or the last change.
    pub updated_at: String,
}

/// The final agreement and where each item stands.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FollowUp {
    pub version: u32,
    /// SHA-256 of the final text the parties acknowledged.
    pub hash: String,
    pub items: Vec<FollowUpItem>,
}

/// Absent stays `None`; `null` becomes `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemUpdate {
    #[serde(default)]
    pub status: Option<Status>,
    /// `YYYY-MM-DD`; `null` clears it. Changes the follow-up date only,
    /// never the acknowledged text.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub due: Option<Option<String>>,
}

fn item(row: AgreementItemRow) -> FollowUpItem {
    FollowUpItem {
        index: row.index,
        what: row.what,
        who: row.who,
        by: row.by,
        due: row.due,
        owner_seat: row.owner_seat,
        status: row.status.into(),
        updated_at: rfc3339(row.updated_at),
    }
}

async fn follow_up(app: &App, room_id: &str) -> Result<FollowUp, ApiError> {
    if app.store.room(room_id).await?.is_none() {
        return Err(ApiError::RoomUnknown);
    }
    let rows = app.store.agreement_items(room_id).await?;
    let Some(first) = rows.first() else {
        return Err(ApiError::NoAgreement);
    };
    Ok(FollowUp {
        version: first.version,
        hash: first.hash.clone(),
        items: rows.into_iter().map(item).collect(),
    })
}

/// Read the follow-up of a room's final agreement.
#[utoipa::path(
    get,
    path = "/api/v1/rooms/{room_id}/agreement",
    tag = "outcomes",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The final agreement's items and their status", body = FollowUp),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`room_unknown`, `no_agreement`", body = ErrorBody),
    )
)]
pub async fn agreement(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<Json<FollowUp>, ApiError> {
    Ok(Json(follow_up(&app, &room_id).await?))
}

/// Whether the request may change this room's agreement items: a read-write
/// key (the middleware checked it), or a current keeper invitation of this
/// very room.
async fn authorised(
    app: &App,
    headers: &HeaderMap,
    by_key: bool,
    room_id: &str,
) -> Result<(), ApiError> {
    if by_key {
        return Ok(());
    }
    match presented(app, headers).await? {
        Presented::Valid(claims) if claims.room == room_id && claims.role == Role::Keeper => Ok(()),
        Presented::Valid(_) => Err(ApiError::NotKeeper),
        Presented::Missing | Presented::Invalid | Presented::Revoked(_) => {
            Err(ApiError::InvalidToken)
        }
    }
}

/// Change an item's status or due date.
///
/// `done` sends `agreement.item_completed`, `not_done` sends
/// `agreement.item_missed` (each at most once per item). Authorised by a
/// read-write API key or by a keeper invitation token of this room
/// (`Authorization: Bearer <token>`), also after the room closed.
#[utoipa::path(
    patch,
    path = "/api/v1/rooms/{room_id}/agreement/items/{index}",
    tag = "outcomes",
    params(
        ("room_id" = String, Path, description = "The room's id"),
        ("index" = u32, Path, description = "The item's index, from 0"),
    ),
    request_body = ItemUpdate,
    responses(
        (status = 200, description = "The item after the change", body = FollowUpItem),
        (status = 400, description = "`bad_json`, `invalid_due`, `empty_update`", body = ErrorBody),
        (status = 401, description = "`unauthorized` (no credential), `invalid_token`", body = ErrorBody),
        (status = 403, description = "`read_only_key`, `not_keeper`", body = ErrorBody),
        (status = 404, description = "`room_unknown`, `no_agreement`, `item_unknown`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub async fn update_item(
    State(app): State<Arc<App>>,
    Path((room_id, index)): Path<(String, String)>,
    by_key: Option<Extension<ByApiKey>>,
    headers: HeaderMap,
    ApiJson(update): ApiJson<ItemUpdate>,
) -> Result<Json<FollowUpItem>, ApiError> {
    authorised(&app, &headers, by_key.is_some(), &room_id).await?;
    let index: u32 = index.parse().map_err(|_| ApiError::ItemUnknown)?;
    if update.status.is_none() && update.due.is_none() {
        return Err(ApiError::invalid(
            "empty_update",
            "give a status, a due date, or both",
        ));
    }
    if let Some(Some(due)) = &update.due
        && !valid_due(due)
    {
        return Err(ApiError::invalid(
            "invalid_due",
            "due must be a date written YYYY-MM-DD",
        ));
    }
    follow_up(&app, &room_id).await?;
    let change = ItemChange {
        status: update.status.map(Into::into),
        due: update.due,
    };
    let row = app
        .store
        .change_agreement_item(&room_id, index, &change, wall_clock())
        .await?
        .ok_or(ApiError::ItemUnknown)?;
    Ok(Json(item(row)))
}
