//! Program reports (issue 8): per room kind, for the rooms whose session
//! started in a period, how many people came and stayed, consents declined
//! and withdrawn, agreements and their follow-up, and feedback scores per
//! party. Counts only: no names, no invitation ids, no room ids, nothing
//! anyone said or wrote (feedback comments stay with their room).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::feedback::{MIN_ANSWERS, PartyFeedback, aggregate, question_order};
use super::record::field;
use super::types::RoomKind;
use crate::circle::{self, Questionnaire, Role, Timestamp, valid_due};
use crate::server::App;
use crate::store::{FeedbackSet, ItemStatus, RoomRecord};

const DAY_MS: u64 = 86_400_000;

#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First day, `YYYY-MM-DD` (UTC), inclusive.
    pub from: String,
    /// Last day, `YYYY-MM-DD` (UTC), inclusive.
    pub to: String,
    /// Only this kind of room.
    pub kind: Option<RoomKind>,
}

/// The figures of one room kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct KindReport {
    pub kind: Option<RoomKind>,
    /// Rooms whose session started in the period.
    pub rooms: u32,
    /// Of those, the rooms whose session was held to the close (room closed).
    pub sessions_held: u32,
    /// Of those, the rooms that belong to a case.
    pub rooms_in_cases: u32,
    /// Of those, the joint meetings (circles and conferences) whose case held a
    /// preparation meeting that started before them (or in the same millisecond);
    /// 0 for preparation meetings.
    pub rooms_prepared: u32,
    /// Participants invited (keepers and observers are not counted in the people figures).
    pub people_invited: u32,
    /// Participants admitted to the circle at least once.
    pub people_admitted: u32,
    /// Participants in the circle when their session ended by the keeper
    /// (room closed or their party's session ended), not gone before.
    pub people_stayed_to_close: u32,
    /// Participants who declined a consent item.
    pub consents_declined: u32,
    /// Participants who withdrew their consent.
    pub consents_withdrawn: u32,
    /// Rooms with a finalised agreement.
    pub agreements_reached: u32,
    pub items_done: u32,
    pub items_not_done: u32,
    pub items_open: u32,
    /// `items_done` / all items, rounded to two decimals; null without items.
    pub completion_rate: Option<f64>,
    /// Per party and question; withheld below 3 answers. No comments.
    pub feedback: Vec<PartyFeedback>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    /// Feedback figures of a party are withheld below this many answers.
    pub min_answers: u32,
    /// One entry per room kind (or only the kind asked for).
    pub kinds: Vec<KindReport>,
}

/// Midnight UTC of a `YYYY-MM-DD` day.
fn day_start(day: &str) -> Option<Timestamp> {
    if !valid_due(day) {
        return None;
    }
    let mut parts = day.split('-').map(|p| p.parse::<i32>().ok());
    let (year, month, date) = (parts.next()??, parts.next()??, parts.next()??);
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(date).ok()?).ok()?;
    let secs = date.midnight().assume_utc().unix_timestamp();
    u64::try_from(secs).ok().map(|s| Timestamp(s * 1000))
}

/// Whether a person's attendance events end with them in the circle when
/// the keeper ended their session (`dismissed` right after `admitted`).
pub fn stayed_to_close(events: &[&str]) -> bool {
    let mut in_circle = false;
    let mut stayed = false;
    for event in events {
        match *event {
            "resumed" => {}
            "admitted" => {
                in_circle = true;
                stayed = false;
            }
            "dismissed" => {
                stayed = in_circle;
                in_circle = false;
            }
            _ => {
                in_circle = false;
                stayed = false;
            }
        }
    }
    stayed
}

/// Adds one room's record and item statuses to its kind's figures.
fn add_room(report: &mut KindReport, record: &RoomRecord, closed: bool, items: &[ItemStatus]) {
    report.rooms += 1;
    report.sessions_held += u32::from(closed);
    let participants: BTreeSet<&str> = record
        .invitations
        .iter()
        .filter(|r| r.invitation.role == Role::Participant)
        .map(|r| r.invitation.id.as_str())
        .collect();
    report.people_invited += participants.len() as u32;
    let mut events: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in &record.attendance {
        if participants.contains(a.invitation_id.as_str()) {
            events
                .entry(a.invitation_id.as_str())
                .or_default()
                .push(a.event.as_str());
        }
    }
    report.people_admitted += events.values().filter(|e| e.contains(&"admitted")).count() as u32;
    report.people_stayed_to_close += events.values().filter(|e| stayed_to_close(e)).count() as u32;
    let who_decided = |decision: &str| {
        record
            .consents
            .iter()
            .filter(|c| c.decision == decision && participants.contains(c.invitation_id.as_str()))
            .map(|c| c.invitation_id.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u32
    };
    report.consents_declined += who_decided("declined");
    report.consents_withdrawn += who_decided("withdrawn");
    report.agreements_reached += u32::from(record.agreements.iter().any(|a| a.is_final));
    for status in items {
        match status {
            ItemStatus::Done => report.items_done += 1,
            ItemStatus::NotDone => report.items_not_done += 1,
            ItemStatus::Open => report.items_open += 1,
        }
    }
}

async fn report(app: &App, params: ReportParams) -> Result<Report, ApiError> {
    let bad = || {
        ApiError::invalid(
            "invalid_period",
            "from and to must be days written YYYY-MM-DD, from not after to",
        )
    };
    let from = day_start(&params.from).ok_or_else(bad)?;
    let to = day_start(&params.to).ok_or_else(bad)?;
    if from > to {
        return Err(bad());
    }
    let until = to.plus_ms(DAY_MS);
    let kinds: Vec<circle::RoomKind> = match params.kind {
        Some(kind) => vec![kind.into()],
        None => vec![
            circle::RoomKind::Circle,
            circle::RoomKind::Conference,
            circle::RoomKind::Preparation,
        ],
    };
    let mut figures: Vec<(KindReport, Vec<FeedbackSet>)> = kinds
        .iter()
        .map(|k| {
            let report = KindReport {
                kind: Some((*k).into()),
                ..KindReport::default()
            };
            (report, Vec::new())
        })
        .collect();
    let rooms = app.store.report_rooms().await?;
    // When each case's first preparation meeting started, whatever the period.
    let mut prepared_from: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for room in &rooms {
        if let (circle::RoomKind::Preparation, Some(case), Some(at)) =
            (room.kind, &room.case_id, room.started_at)
        {
            let first = prepared_from.entry(case.as_str()).or_insert(at);
            *first = (*first).min(at);
        }
    }
    for room in &rooms {
        let Some(started) = room.started_at else {
            continue;
        };
        if started < from || started >= until {
            continue;
        }
        let record = match app.store.record(&room.id).await {
            Ok(record) => record,
            // Deleted since the list was read.
            Err(crate::store::StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(at) = kinds.iter().position(|k| *k == record.room.settings.kind) else {
            continue;
        };
        let items: Vec<ItemStatus> = app
            .store
            .agreement_items(&room.id)
            .await?
            .into_iter()
            .map(|i| i.status)
            .collect();
        let (report, sets) = &mut figures[at];
        add_room(report, &record, room.closed, &items);
        if let Some(case) = &room.case_id {
            report.rooms_in_cases += 1;
            let prepared = prepared_from
                .get(case.as_str())
                .is_some_and(|p| *p <= started);
            let joint = room.kind != circle::RoomKind::Preparation;
            report.rooms_prepared += u32::from(joint && prepared);
        }
        sets.extend(app.store.feedback_sets(&room.id).await?);
    }
    let kinds = figures
        .into_iter()
        .map(|(mut report, sets)| {
            let total = report.items_done + report.items_not_done + report.items_open;
            report.completion_rate = (total > 0)
                .then(|| (f64::from(report.items_done) / f64::from(total) * 100.0).round() / 100.0);
            let order = question_order(Some(&Questionnaire::standard()), &sets);
            report.feedback = aggregate(&sets, &order, false);
            report
        })
        .collect();
    Ok(Report {
        from: params.from,
        to: params.to,
        min_answers: MIN_ANSWERS,
        kinds,
    })
}

fn params(query: Result<Query<ReportParams>, QueryRejection>) -> Result<ReportParams, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::invalid("bad_query", e.body_text()))
}

/// A program report for a period.
///
/// Per room kind, for rooms whose session started between `from` and `to`
/// (UTC days, inclusive). Counts and feedback scores only.
#[utoipa::path(
    get,
    path = "/api/v1/reports",
    tag = "outcomes",
    params(ReportParams),
    responses(
        (status = 200, description = "The figures per room kind", body = Report),
        (status = 400, description = "`bad_query`, `invalid_period`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
pub async fn reports(
    State(app): State<Arc<App>>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(report(&app, params(query)?).await?))
}

fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The report as CSV, one figure per row: `kind,figure,party,question,value`.
pub fn report_csv(report: &Report) -> String {
    let mut out = String::from("kind,figure,party,question,value\r\n");
    let mut line = |kind: &str, figure: &str, party: &str, question: &str, value: String| {
        let row = [
            field(kind),
            field(figure),
            field(party),
            field(question),
            field(&value),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    };
    for k in &report.kinds {
        let kind = k.kind.as_ref().map(name).unwrap_or_default();
        let counts = [
            ("rooms", k.rooms),
            ("sessions_held", k.sessions_held),
            ("rooms_in_cases", k.rooms_in_cases),
            ("rooms_prepared", k.rooms_prepared),
            ("people_invited", k.people_invited),
            ("people_admitted", k.people_admitted),
            ("people_stayed_to_close", k.people_stayed_to_close),
            ("consents_declined", k.consents_declined),
            ("consents_withdrawn", k.consents_withdrawn),
            ("agreements_reached", k.agreements_reached),
            ("items_done", k.items_done),
            ("items_not_done", k.items_not_done),
            ("items_open", k.items_open),
        ];
        for (figure, value) in counts {
            line(&kind, figure, "", "", value.to_string());
        }
        let rate = k.completion_rate.map(|r| r.to_string()).unwrap_or_default();
        line(&kind, "completion_rate", "", "", rate);
        for p in &k.feedback {
            let party = p.party.as_ref().map(name).unwrap_or_else(|| "none".into());
            line(&kind, "feedback_answers", &party, "", p.answers.to_string());
            line(
                &kind,
                "feedback_declined",
                &party,
                "",
                p.declined.to_string(),
            );
            line(
                &kind,
                "feedback_withheld",
                &party,
                "",
                p.withheld.to_string(),
            );
            for q in p.questions.iter().flatten() {
                line(&kind, "feedback_count", &party, &q.id, q.count.to_string());
                let mean = q.mean.map(|m| m.to_string()).unwrap_or_default();
                line(&kind, "feedback_mean", &party, &q.id, mean);
                for (i, n) in q.distribution.iter().enumerate() {
                    line(
                        &kind,
                        &format!("feedback_score_{}", i + 1),
                        &party,
                        &q.id,
                        n.to_string(),
                    );
                }
            }
        }
    }
    out
}

/// The same report as CSV, one figure per row.
#[utoipa::path(
    get,
    path = "/api/v1/reports.csv",
    tag = "outcomes",
    params(ReportParams),
    responses(
        (status = 200, description = "`kind,figure,party,question,value` rows", body = String, content_type = "text/csv"),
        (status = 400, description = "`bad_query`, `invalid_period`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    )
)]
pub async fn reports_csv(
    State(app): State<Arc<App>>,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let report = report(&app, params(query)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"report.csv\"",
            ),
        ],
        report_csv(&report),
    ))
}
