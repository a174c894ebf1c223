//! Rooms and invitations: create, list, read the live state, delete; add
//! and revoke invitations. Every input is validated whole before anything is
//! written, and each write is one transaction: nothing is half-created.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::cases::prepared_side;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::types::{
    AddInvitations, CreateRoom, CreatedRoom, Invitations, IssuedInvitation, ListParams,
    PersonState, Presence, RoomList, RoomState, RoomSummary, SeatRequest, SupportContactRequest,
};
use crate::auth::invitation_link_in;
use crate::circle::{
    self, ConsentTerms, Input, Link, MAX_TURN_SECONDS, Phase, Room, Settings, Stage, Timestamp,
    is_language_tag,
};
use crate::rooms::wall_clock;
use crate::server::App;
use crate::store::{CreateError, InvitationRow, RoomRow, StoreError, rfc3339};

const MAX_TITLE_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 100;
const MAX_SEAT: u32 = 10_000;
const MAX_CONSENT_ITEMS: usize = 20;
const MAX_GRACE_SECONDS: u32 = 3600;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;

pub(super) fn blank_or_long(text: &str, max: usize) -> bool {
    text.trim().is_empty() || text.chars().count() > max || text.chars().any(char::is_control)
}

/// Seat numbers, names and the seat count; `existing` seats are held already.
fn validate_seats(seats: &[SeatRequest], room_size: usize, max: usize) -> Result<(), ApiError> {
    if seats.is_empty() {
        return Err(ApiError::invalid(
            "invalid_seats",
            "seats must list at least one seat",
        ));
    }
    if room_size + seats.len() > max {
        return Err(ApiError::invalid(
            "invalid_seats",
            format!("a room holds at most {max} people (limits.max_people_per_room)"),
        ));
    }
    let mut seen = HashSet::new();
    for seat in seats {
        if !(1..=MAX_SEAT).contains(&seat.seat) {
            return Err(ApiError::invalid(
                "invalid_seats",
                format!("seat numbers are 1 to {MAX_SEAT}, not {}", seat.seat),
            ));
        }
        if !seen.insert(seat.seat) {
            return Err(ApiError::invalid(
                "duplicate_seat",
                format!("seat {} is listed twice", seat.seat),
            ));
        }
        if blank_or_long(&seat.name, MAX_NAME_CHARS) {
            return Err(ApiError::invalid(
                "invalid_name",
                format!(
                    "the name of seat {} must be 1 to {MAX_NAME_CHARS} characters, not blank, without control characters",
                    seat.seat
                ),
            ));
        }
        if let Some(language) = &seat.language {
            check_language(language, &format!("the language of seat {}", seat.seat))?;
        }
    }
    Ok(())
}

const MAX_LINKS: usize = 10;

/// SPEC §2 links: `guardian_seat` only on a participant, naming another
/// participant (not a minor) of this request or a seat `held` already; and
/// `interprets_for` only on an interpreter, naming 1 to
/// `MAX_LINKS` other seats, each once, each of this request or `held` already.
fn validate_links(seats: &[SeatRequest], held: &HashSet<u32>) -> Result<(), ApiError> {
    let bad = |message: String| ApiError::invalid("invalid_link", message);
    for seat in seats {
        let Some(links) = &seat.interprets_for else {
            continue;
        };
        let n = seat.seat;
        if seat.party != Some(super::types::Party::Interpreter)
            || seat.role != super::types::Role::Participant
        {
            return Err(bad(format!(
                "seat {n}: interprets_for is only for a participant of party interpreter"
            )));
        }
        if links.is_empty() || links.len() > MAX_LINKS {
            return Err(bad(format!(
                "seat {n}: interprets_for names 1 to {MAX_LINKS} seats"
            )));
        }
        let mut seen = HashSet::new();
        for &other in links {
            if other == n {
                return Err(bad(format!("seat {n} cannot interpret for itself")));
            }
            if !seen.insert(other) {
                return Err(bad(format!("seat {n}: seat {other} is named twice")));
            }
            if !held.contains(&other) && !seats.iter().any(|s| s.seat == other) {
                return Err(bad(format!(
                    "seat {n} interprets for seat {other}, which this room does not have"
                )));
            }
        }
    }
    for seat in seats {
        let (n, Some(guardian)) = (seat.seat, seat.guardian_seat) else {
            continue;
        };
        if seat.role != super::types::Role::Participant {
            return Err(bad(format!(
                "seat {n}: guardian_seat marks a minor, who is a participant"
            )));
        }
        if guardian == n {
            return Err(bad(format!("seat {n} cannot be their own guardian")));
        }
        // The guardian answers for the minor: a participant of this request, or a seat held already.
        let in_request = seats.iter().find(|s| s.seat == guardian);
        let ok = match in_request {
            Some(g) => g.role == super::types::Role::Participant && g.guardian_seat.is_none(),
            None => held.contains(&guardian),
        };
        if !ok {
            return Err(bad(format!(
                "seat {n}: guardian seat {guardian} must be a participant of this room who is not a minor"
            )));
        }
    }
    for seat in seats {
        let (n, Some(supported)) = (seat.seat, seat.supports_seat) else {
            continue;
        };
        if seat.party != Some(super::types::Party::Supporter)
            || seat.role != super::types::Role::Participant
        {
            return Err(bad(format!(
                "seat {n}: supports_seat is only for a participant of party supporter"
            )));
        }
        if supported == n {
            return Err(bad(format!("seat {n} cannot support itself")));
        }
        if !held.contains(&supported) && !seats.iter().any(|s| s.seat == supported) {
            return Err(bad(format!(
                "seat {n} supports seat {supported}, which this room does not have"
            )));
        }
    }
    Ok(())
}

/// `invalid_language` unless `tag` is a primary language tag (`[a-z]{2,3}`).
fn check_language(tag: &str, what: &str) -> Result<(), ApiError> {
    if is_language_tag(tag) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "invalid_language",
        format!("{what} must be a language tag of 2 or 3 lowercase letters, like \"es\""),
    ))
}

/// `field`: where the terms were given (`consent`, `keeper_consent`), for the message.
fn validate_consent(
    field: &str,
    terms: super::types::ConsentTerms,
) -> Result<ConsentTerms, ApiError> {
    let bad = |message: String| ApiError::invalid("invalid_consent", message);
    if blank_or_long(&terms.version, 100) {
        return Err(bad(format!("{field}.version must be 1 to 100 characters")));
    }
    if terms.items.is_empty() || terms.items.len() > MAX_CONSENT_ITEMS {
        return Err(bad(format!(
            "{field}.items must hold 1 to {MAX_CONSENT_ITEMS} items"
        )));
    }
    let mut ids = HashSet::new();
    for item in &terms.items {
        let id_ok = !item.id.is_empty()
            && item.id.len() <= 64
            && item
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !id_ok {
            return Err(bad(format!(
                "consent item id {:?} must be 1 to 64 of [a-z0-9_-]",
                item.id
            )));
        }
        if !ids.insert(item.id.clone()) {
            return Err(bad(format!("consent item id {:?} is used twice", item.id)));
        }
        if item.text.trim().is_empty() || item.text.chars().count() > 2000 {
            return Err(bad(format!(
                "the text of consent item {:?} must be 1 to 2000 characters",
                item.id
            )));
        }
        for (language, text) in &item.translations {
            if !is_language_tag(language) {
                return Err(bad(format!(
                    "the translations of consent item {:?} are keyed by language tags of 2 or 3 lowercase letters, not {language:?}",
                    item.id
                )));
            }
            if text.trim().is_empty() || text.chars().count() > 2000 {
                return Err(bad(format!(
                    "the {language:?} text of consent item {:?} must be 1 to 2000 characters",
                    item.id
                )));
            }
        }
    }
    Ok(terms.into())
}

/// An RFC 3339 time as a timestamp; `None` if it is not one (or before 1970).
pub(super) fn parse_time(text: &str) -> Option<Timestamp> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).ok().map(Timestamp)
}

const MAX_SUPPORT_CONTACTS: usize = 10;
const MAX_SUPPORT_NAME_CHARS: usize = 100;
const MAX_SUPPORT_CONTACT_CHARS: usize = 300;

fn support_contacts_of(
    contacts: &[SupportContactRequest],
) -> Result<Vec<circle::SupportContact>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "invalid_support_contacts",
            format!(
                "support_contacts: at most {MAX_SUPPORT_CONTACTS}, each a name of 1 to \
                 {MAX_SUPPORT_NAME_CHARS} characters and a contact of 1 to \
                 {MAX_SUPPORT_CONTACT_CHARS}, not blank"
            ),
        )
    };
    if contacts.len() > MAX_SUPPORT_CONTACTS {
        return Err(invalid());
    }
    contacts
        .iter()
        .map(|c| {
            if blank_or_long(&c.name, MAX_SUPPORT_NAME_CHARS)
                || blank_or_long(&c.contact, MAX_SUPPORT_CONTACT_CHARS)
            {
                return Err(invalid());
            }
            Ok(circle::SupportContact {
                name: c.name.trim().to_owned(),
                contact: c.contact.trim().to_owned(),
            })
        })
        .collect()
}

fn settings_of(app: &App, request: &CreateRoom) -> Result<Settings, ApiError> {
    if blank_or_long(&request.title, MAX_TITLE_CHARS) {
        return Err(ApiError::invalid(
            "invalid_title",
            format!("title must be 1 to {MAX_TITLE_CHARS} characters, not blank"),
        ));
    }
    let mut settings = Settings::for_kind(request.kind.into(), request.title.trim());
    if let Some(terms) = request.consent.clone() {
        settings.consent = validate_consent("consent", terms)?;
    }
    if let Some(terms) = request.keeper_consent.clone() {
        settings.keeper_consent = validate_consent("keeper_consent", terms)?;
    }
    if let Some(questionnaire) = request.feedback.clone() {
        settings.feedback = super::feedback::questionnaire_of(questionnaire)?;
    }
    settings.support_contacts = support_contacts_of(&request.support_contacts)?;
    let options = &request.options;
    match options.entry_order {
        None => {}
        Some(None) => settings.entry_order = None,
        Some(Some(order)) => {
            if order.first == order.then {
                return Err(ApiError::invalid(
                    "invalid_option",
                    "options.entry_order needs two different parties",
                ));
            }
            settings.entry_order = Some(circle::EntryOrder {
                first: order.first.into(),
                then: order.then.into(),
            });
        }
    }
    if let Some(seconds) = options.turn_seconds
        && !(1..=MAX_TURN_SECONDS).contains(&seconds)
    {
        return Err(ApiError::invalid(
            "invalid_option",
            format!("options.turn_seconds must be 1 to {MAX_TURN_SECONDS}"),
        ));
    }
    settings.turn_seconds = options.turn_seconds;
    let grace = options
        .grace_seconds
        .unwrap_or(app.config.rooms.grace_seconds);
    if options.grace_seconds.is_some_and(|g| g > MAX_GRACE_SECONDS) {
        return Err(ApiError::invalid(
            "invalid_option",
            format!("options.grace_seconds must be 0 to {MAX_GRACE_SECONDS}"),
        ));
    }
    settings.grace_ms = u64::from(grace) * 1000;
    if let Some(allowed) = options.keeper_speaks_out_of_turn {
        settings.keeper_speaks_out_of_turn = allowed;
    }
    if let Some(pause_video) = options.pause_video {
        settings.pause_video = pause_video;
    }
    if options.relay_only == Some(true) {
        if !app.config.turn.in_use() {
            return Err(ApiError::invalid(
                "invalid_option",
                "options.relay_only needs a TURN server, and this server has none ([turn] external_urls)",
            ));
        }
        settings.relay_only = true;
    }
    if let Some(language) = &request.language {
        check_language(language, "language")?;
        settings.language = language.clone();
    }
    match (&request.outline, &request.outline_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "invalid_outline",
                "give either outline or outline_id, not both",
            ));
        }
        (Some(outline), None) => {
            settings.outline = Some(super::outlines::validated(outline.clone())?);
        }
        // The library's outline is read by `create_room`.
        _ => {}
    }
    Ok(settings)
}

fn role_and_party(seat: &SeatRequest) -> (circle::Role, Option<circle::Party>) {
    (seat.role.into(), seat.party.map(Into::into))
}

fn new_room_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("rm_{}", hex::encode(bytes))
}

/// Mints one token per seat (nothing is stored yet). Links are valid for
/// `auth.invitation_days` after the later of now and the scheduled start.
fn mint(
    app: &App,
    room_id: &str,
    seats: &[SeatRequest],
    now: Timestamp,
    starts_at: Option<Timestamp>,
) -> Result<(Vec<InvitationRow>, Vec<IssuedInvitation>), ApiError> {
    let now_secs = now.0 / 1000;
    let until_start = starts_at.map_or(0, |s| s.0.saturating_sub(now.0) / 1000);
    let valid = app
        .config
        .invitation_valid_secs()
        .saturating_add(until_start);
    let public_url = app.config.public_url();
    let mut rows = Vec::with_capacity(seats.len());
    let mut issued = Vec::with_capacity(seats.len());
    for seat in seats {
        let (token, claims) = app
            .keys
            .mint(
                room_id,
                seat.seat,
                seat.role.into(),
                seat.party.map(Into::into),
                seat.name.trim(),
                now_secs,
                valid,
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let expires_at = Timestamp(claims.exp.saturating_mul(1000));
        issued.push(IssuedInvitation {
            invitation_id: claims.jti.clone(),
            seat: seat.seat,
            role: seat.role,
            party: seat.party,
            interprets_for: seat.interprets_for.clone().unwrap_or_default(),
            guardian_seat: seat.guardian_seat,
            supports_seat: seat.supports_seat,
            link: invitation_link_in(&public_url, &token, seat.language.as_deref()),
            expires_at: rfc3339(expires_at),
        });
        // The link lives in the stored invitation (the truth, SPEC §5.11), not the token.
        let invitation = circle::Invitation {
            interprets_for: seat.interprets_for.clone().unwrap_or_default(),
            guardian: seat.guardian_seat,
            supports: seat.supports_seat,
            ..claims.invitation()
        };
        rows.push(InvitationRow {
            room_id: room_id.to_owned(),
            invitation,
            issued_at: now,
            expires_at,
            revoked_at: None,
        });
    }
    Ok((rows, issued))
}

/// Create a room with one invitation link per seat.
///
/// The room starts `scheduled`: participants can arrive once a keeper has
/// opened it (`open_room` in the circle). Nothing is created on any error.
#[utoipa::path(
    post,
    path = "/api/v1/rooms",
    tag = "rooms",
    request_body = CreateRoom,
    responses(
        (status = 201, description = "The room and one invitation link per seat", body = CreatedRoom),
        (status = 400, description = "`bad_json`, `invalid_title`, `invalid_seats`, `duplicate_seat`, `invalid_name`, `no_keeper`, `invalid_consent`, `invalid_feedback`, `invalid_option`, `invalid_schedule`, `schedule_in_past`, `invalid_language`, `invalid_link`, `invalid_outline`, `outline_unknown`, `invalid_support_contacts`, `case_unknown`, `preparation_mixes_parties`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 409, description = "`room_limit`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub async fn create_room(
    State(app): State<Arc<App>>,
    ApiJson(request): ApiJson<CreateRoom>,
) -> Result<(StatusCode, Json<CreatedRoom>), ApiError> {
    let now = wall_clock();
    let mut settings = settings_of(&app, &request)?;
    validate_seats(&request.seats, 0, app.config.limits.max_people_per_room)?;
    validate_links(&request.seats, &HashSet::new())?;
    if settings.kind == circle::RoomKind::Preparation {
        prepared_side(request.seats.iter().map(role_and_party))?;
    }
    if let Some(id) = &request.outline_id {
        let stored = app.store.outline(id).await?.ok_or_else(|| {
            ApiError::invalid(
                "outline_unknown",
                "outline_id names no outline of the library",
            )
        })?;
        settings.outline = Some(stored.outline);
    }
    if !request
        .seats
        .iter()
        .any(|s| s.role == super::types::Role::Keeper)
    {
        return Err(ApiError::invalid(
            "no_keeper",
            "at least one seat must be a keeper: a keeper opens the room and admits people",
        ));
    }
    let starts_at = match &request.starts_at {
        None => None,
        Some(text) => {
            let at = parse_time(text).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_schedule",
                    "starts_at must be an RFC 3339 time, like 2027-03-01T18:00:00Z",
                )
            })?;
            if at <= now {
                return Err(ApiError::invalid(
                    "schedule_in_past",
                    "starts_at is in the past",
                ));
            }
            Some(at)
        }
    };
    let room_id = new_room_id();
    let (rows, invitations) = mint(&app, &room_id, &request.seats, now, starts_at)?;
    let room = RoomRow {
        id: room_id.clone(),
        settings,
        phase: Phase::Scheduled,
        created_at: now,
    };
    match app
        .store
        .create_api_room(
            &room,
            starts_at,
            request.case_id.as_deref(),
            &rows,
            app.config.limits.max_rooms,
        )
        .await
    {
        Ok(()) => {}
        Err(CreateError::RoomLimit) => return Err(ApiError::RoomLimit),
        Err(CreateError::CaseUnknown) => {
            return Err(ApiError::invalid(
                "case_unknown",
                "case_id names no case: create it first with POST /api/v1/cases",
            ));
        }
        Err(CreateError::Store(e)) => return Err(e.into()),
    }
    metrics::counter!("circlekeeper_api_rooms_created_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(CreatedRoom {
            room_id,
            phase: Phase::Scheduled.into(),
            starts_at: starts_at.map(rfc3339),
            invitations,
        }),
    ))
}

/// A room as the API lists it (the room list, a case's rooms).
pub(super) fn summary_of(s: crate::store::RoomSummary) -> RoomSummary {
    RoomSummary {
        room_id: s.room.id,
        kind: s.room.settings.kind.into(),
        title: s.room.settings.title,
        phase: s.phase.into(),
        starts_at: s.starts_at.map(rfc3339),
        created_at: rfc3339(s.room.created_at),
        case_id: s.case_id,
    }
}

fn encode_cursor(created_at: Timestamp, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", created_at.0))
}

fn decode_cursor(cursor: &str) -> Option<(Timestamp, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once(':')?;
    Some((Timestamp(at.parse().ok()?), id.to_owned()))
}

/// List rooms, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/rooms",
    tag = "rooms",
    params(ListParams),
    responses(
        (status = 200, description = "One page of rooms", body = RoomList),
        (status = 400, description = "`bad_limit`, `bad_cursor`, `bad_query`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
pub async fn list_rooms(
    State(app): State<Arc<App>>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<RoomList>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::invalid("bad_query", e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "bad_limit",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let after = match &params.cursor {
        None => None,
        Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
            ApiError::invalid("bad_cursor", "cursor is not one this server gave")
        })?),
    };
    let mut page = app
        .store
        .rooms_page(after.as_ref().map(|(at, id)| (*at, id.as_str())), limit + 1)
        .await?;
    let more = page.len() > limit as usize;
    page.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            page.last()
                .map(|s| encode_cursor(s.room.created_at, &s.room.id))
        })
        .flatten();
    let rooms = page.into_iter().map(summary_of).collect();
    Ok(Json(RoomList { rooms, next_cursor }))
}

/// The phase and each invitation's presence, read from a room; `live` says
/// whether its connections are real (a replayed room has none).
fn presence_of(room: &Room, live: bool) -> (Phase, BTreeMap<String, Presence>) {
    let people = room
        .people()
        .map(|p| {
            let presence = match (p.stage, p.link, live) {
                (Stage::Withdrawn, _, _) => Presence::Withdrawn,
                (Stage::Removed, _, _) => Presence::Removed,
                (Stage::Revoked, _, _) => Presence::Revoked,
                (_, _, false) | (Stage::Away, _, _) => Presence::Away,
                (Stage::Consent, _, _) => Presence::Consent,
                (Stage::Lobby, _, _) => Presence::Lobby,
                (Stage::Admitted, Link::Grace { .. }, _) => Presence::Reconnecting,
                (Stage::Admitted, _, _) => Presence::InCircle,
            };
            (p.invitation.id.clone(), presence)
        })
        .collect();
    (room.phase(), people)
}

/// A room that is not running, rebuilt from its journal (nothing is written).
pub(super) async fn replayed(app: &App, row: &RoomRow) -> Result<Room, StoreError> {
    let mut room = Room::new(row.settings.clone(), row.phase);
    for (at, input) in app.store.journal(&row.id).await? {
        let _ = room.handle(at, input);
    }
    while room.poll_output().is_some() {}
    Ok(room)
}

/// Read a room's live state.
///
/// Its phase and where each invited person is: nothing said, no chat, no names.
#[utoipa::path(
    get,
    path = "/api/v1/rooms/{room_id}",
    tag = "rooms",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The room's state", body = RoomState),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
    )
)]
pub async fn room_state(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<Json<RoomState>, ApiError> {
    let summary = app
        .store
        .room_summary(&room_id)
        .await?
        .ok_or(ApiError::RoomUnknown)?;
    let invitations = app.store.invitations(&room_id).await?;
    let live = match app.rooms.running(&room_id).await {
        Some(handle) => handle.inspect(|room| presence_of(room, true)).await.ok(),
        // Running on another node (SPEC §6.6): its journal, replayed up to
        // now, holds who is there.
        None if app.rooms.elsewhere(&room_id).await?.is_some() => {
            let mut room = replayed(&app, &summary.room).await?;
            let _ = room.handle(wall_clock(), Input::Tick);
            while room.poll_output().is_some() {}
            Some(presence_of(&room, true))
        }
        None => None,
    };
    let running = live.is_some();
    let (phase, presence) = match live {
        Some(live) => live,
        None => presence_of(&replayed(&app, &summary.room).await?, false),
    };
    let people = invitations
        .into_iter()
        .map(|row| {
            let revoked = row.revoked_at.is_some();
            let mut presence = presence
                .get(&row.invitation.id)
                .copied()
                .unwrap_or(Presence::Away);
            // Revoked without the room knowing why (it did not run): the
            // program's revocation; a keeper's removal is always in the journal.
            if revoked && presence != Presence::Removed {
                presence = Presence::Revoked;
            }
            PersonState {
                invitation_id: row.invitation.id,
                seat: row.invitation.seat,
                role: row.invitation.role.into(),
                party: row.invitation.party.map(Into::into),
                interprets_for: row.invitation.interprets_for,
                guardian_seat: row.invitation.guardian,
                supports_seat: row.invitation.supports,
                presence,
                revoked,
            }
        })
        .collect();
    Ok(Json(RoomState {
        room_id: summary.room.id,
        kind: summary.room.settings.kind.into(),
        title: summary.room.settings.title,
        phase: phase.into(),
        running,
        starts_at: summary.starts_at.map(rfc3339),
        created_at: rfc3339(summary.room.created_at),
        case_id: summary.case_id,
        people,
    }))
}

/// Delete a room and its whole record.
///
/// Room, invitations, journal, consents, attendance, agreement. Anyone
/// connected is ended (`room_closed`).
#[utoipa::path(
    delete,
    path = "/api/v1/rooms/{room_id}",
    tag = "rooms",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
    )
)]
pub async fn delete_room(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = app
        .rooms
        .stop_and(&room_id, async || app.store.delete_api_room(&room_id).await)
        .await?;
    if !deleted {
        return Err(ApiError::RoomUnknown);
    }
    metrics::counter!("circlekeeper_api_rooms_deleted_total", "why" => "request").increment(1);
    Ok(StatusCode::NO_CONTENT)
}

/// Add invitations to a room.
///
/// One link per seat. A running room learns of them at once; keepers see the new seats.
#[utoipa::path(
    post,
    path = "/api/v1/rooms/{room_id}/invitations",
    tag = "rooms",
    params(("room_id" = String, Path, description = "The room's id")),
    request_body = AddInvitations,
    responses(
        (status = 201, description = "One invitation link per seat", body = Invitations),
        (status = 400, description = "`bad_json`, `invalid_seats`, `duplicate_seat`, `invalid_name`, `invalid_language`, `invalid_link`, `preparation_mixes_parties`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
        (status = 409, description = "`seat_taken`, `room_closed`", body = ErrorBody),
        (status = 413, description = "`body_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
    )
)]
pub async fn add_invitations(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
    ApiJson(request): ApiJson<AddInvitations>,
) -> Result<(StatusCode, Json<Invitations>), ApiError> {
    let now = wall_clock();
    let summary = app
        .store
        .room_summary(&room_id)
        .await?
        .ok_or(ApiError::RoomUnknown)?;
    if summary.phase == Phase::Closed {
        return Err(ApiError::RoomClosed);
    }
    let existing = app.store.invitations(&room_id).await?;
    let held: HashSet<u32> = existing
        .iter()
        .filter(|r| r.revoked_at.is_none())
        .map(|r| r.invitation.seat)
        .collect();
    validate_seats(
        &request.seats,
        held.len(),
        app.config.limits.max_people_per_room,
    )?;
    if let Some(seat) = request.seats.iter().find(|s| held.contains(&s.seat)) {
        return Err(ApiError::SeatTaken(seat.seat));
    }
    validate_links(&request.seats, &held)?;
    if summary.room.settings.kind == circle::RoomKind::Preparation {
        let invited = existing
            .iter()
            .filter(|r| r.revoked_at.is_none())
            .map(|r| (r.invitation.role, r.invitation.party));
        prepared_side(invited.chain(request.seats.iter().map(role_and_party)))?;
    }
    let starts_at = summary.starts_at.filter(|s| *s > now);
    let (rows, invitations) = mint(&app, &room_id, &request.seats, now, starts_at)?;
    let first_seat = request.seats[0].seat;
    app.rooms
        .with_running(&room_id, async |running| {
            match app.store.add_invitations(&room_id, &rows).await {
                Ok(()) => {}
                Err(StoreError::Duplicate) => return Err(ApiError::SeatTaken(first_seat)),
                Err(StoreError::NotFound) => return Err(ApiError::RoomUnknown),
                Err(e) => return Err(e.into()),
            }
            if let Some(handle) = running {
                for row in &rows {
                    let invite = Input::Invite {
                        invitation: row.invitation.clone(),
                    };
                    // A refusal means the room knew it already.
                    let _ = handle.admin(invite).await?;
                }
            }
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(Invitations { invitations })))
}

/// Revoke an invitation.
///
/// Its link never works again, and a person connected with it is ended at
/// once (`revoked`). Revoking twice is fine.
#[utoipa::path(
    delete,
    path = "/api/v1/rooms/{room_id}/invitations/{invitation_id}",
    tag = "rooms",
    params(
        ("room_id" = String, Path, description = "The room's id"),
        ("invitation_id" = String, Path, description = "The invitation's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`read_only_key`", body = ErrorBody),
        (status = 404, description = "`room_unknown`, `invitation_unknown`", body = ErrorBody),
    )
)]
pub async fn revoke_invitation(
    State(app): State<Arc<App>>,
    Path((room_id, invitation_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if app.store.room(&room_id).await?.is_none() {
        return Err(ApiError::RoomUnknown);
    }
    let invitations = app.store.invitations(&room_id).await?;
    if !invitations.iter().any(|r| r.invitation.id == invitation_id) {
        return Err(ApiError::InvitationUnknown);
    }
    app.rooms
        .with_running(&room_id, async |running| {
            app.store
                .revoke(&room_id, &invitation_id, wall_clock())
                .await?;
            if let Some(handle) = running {
                // A refusal (already revoked) changes nothing; the store has it.
                let _ = handle
                    .admin(Input::Revoke {
                        invitation_id: invitation_id.clone(),
                    })
                    .await?;
            }
            Ok::<(), ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
