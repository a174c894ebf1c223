//! The API's one error type: every failure is `{"error": {"code", "message"}}`
//! with a stable code (docs/api.md lists them all) and a message that is safe
//! to show the program. Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer` header, or a key we do not know. Says nothing
    /// about which: a prober learns nothing.
    #[error("a valid API key is required (Authorization: Bearer <key>)")]
    Unauthorized,
    /// The key is known and read-only; safe to say so to its holder.
    #[error("this API key is read-only")]
    ReadOnlyKey,
    #[error("no such API endpoint")]
    NotFound,
    #[error("this endpoint does not support that method")]
    MethodNotAllowed,
    #[error("no such room")]
    RoomUnknown,
    #[error("no such invitation in this room")]
    InvitationUnknown,
    /// The body is not the JSON the endpoint takes; serde's message names the
    /// field and what was wrong, about the caller's own input.
    #[error("{0}")]
    BadJson(String),
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than this server accepts (api.max_body_bytes)")]
    BodyTooLarge,
    /// Input that parsed but breaks a rule; `code` says which (docs/api.md).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("seat {0} is already held by an invitation that is not revoked")]
    SeatTaken(u32),
    #[error("the room is closed")]
    RoomClosed,
    #[error("the server holds its maximum number of rooms")]
    RoomLimit,
    /// An invitation token that is malformed, expired, revoked or for no
    /// room here (`POST /feedback`, keeper follow-up): says nothing about which.
    #[error("this invitation is not valid")]
    InvalidToken,
    #[error("feedback is asked only of participants who were in the circle")]
    NotEligible,
    #[error("this invitation has answered or declined the questionnaire already")]
    AlreadyAnswered,
    /// A valid invitation that may not do this (not a keeper of this room).
    #[error("only a read-write API key or a keeper invitation of this room can do that")]
    NotKeeper,
    #[error("the room has no final agreement")]
    NoAgreement,
    #[error("the final agreement has no item with that index")]
    ItemUnknown,
    #[error("no such outline")]
    OutlineUnknown,
    #[error("no such case")]
    CaseUnknown,
    #[error("rooms still belong to this case: delete them first")]
    CaseNotEmpty,
    #[error("the library has an outline of that name: delete it first, or choose another name")]
    OutlineExists,
    /// Logged with its detail; the caller only learns that it was our fault.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            Unauthorized | InvalidToken => StatusCode::UNAUTHORIZED,
            ReadOnlyKey | NotEligible | NotKeeper => StatusCode::FORBIDDEN,
            NotFound | RoomUnknown | InvitationUnknown | NoAgreement | ItemUnknown
            | OutlineUnknown | CaseUnknown => StatusCode::NOT_FOUND,
            AlreadyAnswered => StatusCode::CONFLICT,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BadJson(_) | Invalid { .. } => StatusCode::BAD_REQUEST,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SeatTaken(_) | RoomClosed | RoomLimit | OutlineExists | CaseNotEmpty => {
                StatusCode::CONFLICT
            }
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Unauthorized => "unauthorized",
            ReadOnlyKey => "read_only_key",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            RoomUnknown => "room_unknown",
            InvitationUnknown => "invitation_unknown",
            BadJson(_) => "bad_json",
            UnsupportedMediaType => "unsupported_media_type",
            BodyTooLarge => "body_too_large",
            Invalid { code, .. } => code,
            SeatTaken(_) => "seat_taken",
            RoomClosed => "room_closed",
            RoomLimit => "room_limit",
            InvalidToken => "invalid_token",
            NotEligible => "not_eligible",
            AlreadyAnswered => "already_answered",
            NotKeeper => "not_keeper",
            NoAgreement => "no_agreement",
            ItemUnknown => "item_unknown",
            OutlineUnknown => "outline_unknown",
            OutlineExists => "outline_exists",
            CaseUnknown => "case_unknown",
            CaseNotEmpty => "case_not_empty",
            Internal(_) => "internal",
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `room_unknown`, `duplicate_seat`, …
    pub code: String,
    /// For a human; may change between versions.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "API request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized | ApiError::InvalidToken) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<crate::rooms::RoomsError> for ApiError {
    fn from(e: crate::rooms::RoomsError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}
