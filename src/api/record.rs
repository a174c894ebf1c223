//! Exporting a room's record (SPEC §4) as JSON and as CSV. Both name people
//! by invitation id, seat and party only; neither holds anything said.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use super::error::{ApiError, ErrorBody};
use super::types::{
    AgreementItem, RecordAcknowledgement, RecordAgreement, RecordAttendance, RecordCase,
    RecordConsent, RecordExport, RecordInvitation, RecordPhase, RecordRoom, RecordRound,
    RecordRoundMark,
};
use crate::circle::{Party, Timestamp};
use crate::server::App;
use crate::store::{RoomRecord, StoreError, rfc3339};

/// A room's record, its scheduled start and its case id.
type Found = (RoomRecord, Option<Timestamp>, Option<String>);

async fn record_of(app: &App, room_id: &str) -> Result<Found, ApiError> {
    let record = match app.store.record(room_id).await {
        Ok(record) => record,
        Err(StoreError::NotFound) => return Err(ApiError::RoomUnknown),
        Err(e) => return Err(e.into()),
    };
    let summary = app.store.room_summary(room_id).await?;
    let (starts_at, case_id) = summary.map_or((None, None), |s| (s.starts_at, s.case_id));
    Ok((record, starts_at, case_id))
}

fn export(
    record: RoomRecord,
    starts_at: Option<Timestamp>,
    case: Option<RecordCase>,
) -> RecordExport {
    let settings = record.room.settings;
    RecordExport {
        room: RecordRoom {
            room_id: record.room.id,
            kind: settings.kind.into(),
            title: settings.title,
            consent: settings.consent.into(),
            keeper_consent: settings.keeper_consent.into(),
            created_at: rfc3339(record.room.created_at),
            starts_at: starts_at.map(rfc3339),
            case,
        },
        invitations: record
            .invitations
            .into_iter()
            .map(|r| RecordInvitation {
                invitation_id: r.invitation.id,
                seat: r.invitation.seat,
                role: r.invitation.role.into(),
                party: r.invitation.party.map(Into::into),
                interprets_for: r.invitation.interprets_for,
                guardian_seat: r.invitation.guardian,
                supports_seat: r.invitation.supports,
                issued_at: rfc3339(r.issued_at),
                expires_at: rfc3339(r.expires_at),
                revoked_at: r.revoked_at.map(rfc3339),
            })
            .collect(),
        consents: record
            .consents
            .into_iter()
            .map(|c| RecordConsent {
                invitation_id: c.invitation_id,
                item: c.item,
                version: c.version,
                decision: c.decision,
                at: rfc3339(c.at),
                given_by: c.given_by,
            })
            .collect(),
        attendance: record
            .attendance
            .into_iter()
            .map(|a| RecordAttendance {
                invitation_id: a.invitation_id,
                event: a.event,
                at: rfc3339(a.at),
            })
            .collect(),
        phase_changes: record
            .phase_changes
            .into_iter()
            .map(|p| RecordPhase {
                phase: p.phase.into(),
                at: rfc3339(p.at),
            })
            .collect(),
        rounds: record
            .rounds
            .into_iter()
            .map(|r| RecordRound {
                round: r.round,
                started_at: rfc3339(r.started_at),
                ended_at: r.ended_at.map(rfc3339),
                marks: r
                    .marks
                    .into_iter()
                    .map(|m| RecordRoundMark {
                        invitation_id: m.invitation_id,
                        mark: m.mark,
                        at: rfc3339(m.at),
                    })
                    .collect(),
            })
            .collect(),
        agreements: record
            .agreements
            .into_iter()
            .map(|a| RecordAgreement {
                version: a.version,
                items: a
                    .items
                    .into_iter()
                    .map(|i| AgreementItem {
                        what: i.what,
                        who: i.who,
                        by: i.by,
                        due: i.due,
                        owner_seat: i.owner_seat,
                    })
                    .collect(),
                text: a.text,
                hash: a.hash,
                is_final: a.is_final,
                at: rfc3339(a.at),
            })
            .collect(),
        acknowledgements: record
            .acknowledgements
            .into_iter()
            .map(|a| RecordAcknowledgement {
                invitation_id: a.invitation_id,
                hash: a.hash,
                at: rfc3339(a.at),
            })
            .collect(),
    }
}

/// Export a room's record as JSON.
#[utoipa::path(
    get,
    path = "/api/v1/rooms/{room_id}/record",
    tag = "rooms",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The whole record", body = RecordExport),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
    )
)]
pub async fn export_record(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<Json<RecordExport>, ApiError> {
    let (record, starts_at, case_id) = record_of(&app, &room_id).await?;
    let case = super::cases::record_case(&app, &room_id, case_id.as_deref()).await?;
    Ok(Json(export(record, starts_at, case)))
}

/// Export a room's record as CSV.
///
/// One row per event, in time order.
/// Columns: `kind, at, invitation_id, seat, party, detail`. `kind` is one
/// of `invited`, `revoked`, `consent`, `attendance`, `phase`, `round_started`,
/// `round_mark`, `round_ended`, `agreement`, `acknowledged`.
#[utoipa::path(
    get,
    path = "/api/v1/rooms/{room_id}/record.csv",
    tag = "rooms",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "The record, one event per row", body = String, content_type = "text/csv"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
    )
)]
pub async fn export_record_csv(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let (record, _, _) = record_of(&app, &room_id).await?;
    let disposition = format!(
        "attachment; filename=\"{}.csv\"",
        room_id.replace(['"', '\\'], "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv(&record),
    ))
}

/// One CSV field, quoted when it needs to be (RFC 4180).
pub(super) fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn party_name(party: Option<Party>) -> String {
    match party.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::String(s))) => s,
        _ => String::new(),
    }
}

/// The record as CSV: a header, then one row per event ordered by time
/// (stable within equal times). Details are codes and hashes, never text
/// anyone said or wrote.
pub fn csv(record: &RoomRecord) -> String {
    let seats: std::collections::HashMap<&str, (u32, Option<Party>)> = record
        .invitations
        .iter()
        .map(|r| {
            (
                r.invitation.id.as_str(),
                (r.invitation.seat, r.invitation.party),
            )
        })
        .collect();
    let mut rows: Vec<(Timestamp, &'static str, Option<&str>, String)> = Vec::new();
    for r in &record.invitations {
        let role = match serde_json::to_value(r.invitation.role) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        };
        rows.push((
            r.issued_at,
            "invited",
            Some(&r.invitation.id),
            format!("role={role}"),
        ));
    }
    for r in &record.revocations {
        rows.push((r.at, "revoked", Some(&r.invitation_id), String::new()));
    }
    for c in &record.consents {
        rows.push((
            c.at,
            "consent",
            Some(&c.invitation_id),
            match &c.given_by {
                // A guardian's answer on a minor's behalf says whose it is.
                Some(by) => format!(
                    "item={} version={} decision={} given_by={by}",
                    c.item, c.version, c.decision
                ),
                None => format!(
                    "item={} version={} decision={}",
                    c.item, c.version, c.decision
                ),
            },
        ));
    }
    for a in &record.attendance {
        rows.push((
            a.at,
            "attendance",
            Some(&a.invitation_id),
            format!("event={}", a.event),
        ));
    }
    for p in &record.phase_changes {
        let phase = match serde_json::to_value(p.phase) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        };
        rows.push((p.at, "phase", None, format!("phase={phase}")));
    }
    for r in &record.rounds {
        rows.push((
            r.started_at,
            "round_started",
            None,
            format!("round={}", r.round),
        ));
        for m in &r.marks {
            rows.push((
                m.at,
                "round_mark",
                Some(&m.invitation_id),
                format!("round={} mark={}", r.round, m.mark),
            ));
        }
        if let Some(ended) = r.ended_at {
            rows.push((ended, "round_ended", None, format!("round={}", r.round)));
        }
    }
    for a in &record.agreements {
        rows.push((
            a.at,
            "agreement",
            None,
            format!(
                "version={} final={} items={} hash={}",
                a.version,
                a.is_final,
                a.items.len(),
                a.hash
            ),
        ));
    }
    for a in &record.acknowledgements {
        rows.push((
            a.at,
            "acknowledged",
            Some(&a.invitation_id),
            format!("hash={}", a.hash),
        ));
    }
    rows.sort_by_key(|(at, ..)| *at);
    let mut out = String::from("kind,at,invitation_id,seat,party,detail\r\n");
    for (at, kind, invitation, detail) in rows {
        let (seat, party) = invitation
            .and_then(|id| seats.get(id))
            .map(|(seat, party)| (seat.to_string(), party_name(*party)))
            .unwrap_or_default();
        let line = [
            field(kind),
            field(&rfc3339(at)),
            field(invitation.unwrap_or("")),
            field(&seat),
            field(&party),
            field(&detail),
        ]
        .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out
}
