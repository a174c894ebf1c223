//! Post-session feedback (issue 8). A participant answers with their own
//! invitation as the credential (`POST /feedback`, outside the program API);
//! the program reads per-party aggregates, withheld while a party has fewer
//! than `MIN_ANSWERS` answers, so no single answer can be read off them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::invitation::{Presented, presented};
use super::rooms::replayed;
use super::types::Party;
use crate::circle::{FEEDBACK_SCALE, Questionnaire, Room};
use crate::server::App;
use crate::store::FeedbackSet;

/// Aggregates of a party are shown from this many answers on.
pub const MIN_ANSWERS: u32 = 3;
pub const MAX_COMMENT_CHARS: usize = 2000;
/// `POST /feedback` bodies are small; anyone with a link may send one.
pub const MAX_FEEDBACK_BODY: usize = 16 * 1024;

/// What a person sends: answers (any question may be left out) and an
/// optional comment, or `{"declined": true}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    #[serde(default)]
    pub answers: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub declined: bool,
}

pub const MAX_QUESTIONS: usize = 10;
const MAX_QUESTION_CHARS: usize = 500;

/// A questionnaire from the create-room body, checked whole.
pub fn questionnaire_of(q: super::types::Questionnaire) -> Result<Questionnaire, ApiError> {
    let bad = |message: String| ApiError::invalid("invalid_feedback", message);
    if q.questions.is_empty() || q.questions.len() > MAX_QUESTIONS {
        return Err(bad(format!(
            "feedback.questions must hold 1 to {MAX_QUESTIONS} questions"
        )));
    }
    let text_ok = |t: &str| {
        !t.trim().is_empty()
            && t.chars().count() <= MAX_QUESTION_CHARS
            && !t.chars().any(char::is_control)
    };
    let mut ids = BTreeSet::new();
    let mut questions = Vec::with_capacity(q.questions.len());
    for question in q.questions {
        let id_ok = (1..=40).contains(&question.id.len())
            && question
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !id_ok {
            return Err(bad(format!(
                "question id {:?} must be 1 to 40 of [a-z0-9_]",
                question.id
            )));
        }
        if !ids.insert(question.id.clone()) {
            return Err(bad(format!("question id {:?} is used twice", question.id)));
        }
        if !text_ok(&question.text) {
            return Err(bad(format!(
                "the text of question {:?} must be 1 to {MAX_QUESTION_CHARS} characters",
                question.id
            )));
        }
        for (language, text) in &question.translations {
            let language_ok = (2..=3).contains(&language.len())
                && language.chars().all(|c| c.is_ascii_lowercase());
            if !language_ok || !text_ok(text) {
                return Err(bad(format!(
                    "translations of question {:?} map a language like \"es\" to 1 to {MAX_QUESTION_CHARS} characters",
                    question.id
                )));
            }
        }
        questions.push(crate::circle::Question {
            id: question.id,
            text: question.text,
            translations: question.translations,
        });
    }
    Ok(Questionnaire {
        questions,
        free_text: q.free_text,
    })
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_answers", message)
}

/// Checks a body against the room's questionnaire; the answer set to keep.
fn answer_set(
    body: FeedbackBody,
    questionnaire: &Questionnaire,
    party: Option<crate::circle::Party>,
) -> Result<FeedbackSet, ApiError> {
    if body.declined {
        if body.answers.is_some() || body.comment.is_some() {
            return Err(invalid("a decline carries no answers and no comment"));
        }
        return Ok(FeedbackSet {
            party,
            declined: true,
            answers: BTreeMap::new(),
            comment: None,
        });
    }
    let mut answers = BTreeMap::new();
    for (id, value) in body.answers.unwrap_or_default() {
        if !questionnaire.questions.iter().any(|q| q.id == id) {
            return Err(invalid(format!("{id:?} is not a question of this room")));
        }
        let score = value
            .as_u64()
            .filter(|v| (1..=u64::from(FEEDBACK_SCALE)).contains(v))
            .ok_or_else(|| {
                invalid(format!(
                    "the answer to {id:?} must be 1 to {FEEDBACK_SCALE}"
                ))
            })?;
        answers.insert(id, score as u8);
    }
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    if let Some(comment) = &comment {
        if !questionnaire.free_text {
            return Err(invalid("this room's questionnaire takes no comment"));
        }
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(invalid(format!(
                "the comment may be at most {MAX_COMMENT_CHARS} characters"
            )));
        }
    }
    if answers.is_empty() && comment.is_none() {
        return Err(invalid(
            "answer at least one question (or send {\"declined\": true})",
        ));
    }
    Ok(FeedbackSet {
        party,
        declined: false,
        answers,
        comment,
    })
}

/// Answer (or decline) the questionnaire offered in `ended`.
///
/// The credential is the person's own invitation token
/// (`Authorization: Bearer <token>`). Nothing stored links the answers to it.
pub async fn answer(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<StatusCode, ApiError> {
    let (claims, revoked) = match presented(&app, &headers).await? {
        Presented::Valid(claims) => (claims, false),
        Presented::Revoked(claims) => (*claims, true),
        Presented::Missing | Presented::Invalid => return Err(ApiError::InvalidToken),
    };
    let Some(row) = app.store.room(&claims.room).await? else {
        return Err(ApiError::InvalidToken);
    };
    let jti = claims.jti.clone();
    let read = move |room: &Room| {
        let known = room.people().any(|p| p.invitation.id == jti);
        (known, room.feedback_eligible(&jti))
    };
    let (known, eligible) = match app.rooms.running(&claims.room).await {
        Some(handle) => handle.inspect(read).await?,
        None => read(&replayed(&app, &row).await?),
    };
    if revoked {
        // A removed person (or a revoked link the room knew) is simply not
        // asked; a revoked link the room never saw is no credential at all.
        return Err(if known {
            ApiError::NotEligible
        } else {
            ApiError::InvalidToken
        });
    }
    if !eligible {
        return Err(ApiError::NotEligible);
    }
    let set = answer_set(body, &row.settings.feedback, claims.party)?;
    if !app
        .store
        .give_feedback(&claims.room, &claims.jti, &set)
        .await?
    {
        return Err(ApiError::AlreadyAnswered);
    }
    metrics::counter!("circlekeeper_feedback_total", "declined" => if set.declined { "true" } else { "false" })
        .increment(1);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QuestionScore {
    pub id: String,
    /// Answers to this question (it may be left out).
    pub count: u32,
    /// Rounded to two decimals; null without answers.
    pub mean: Option<f64>,
    /// How many answered 1, 2, 3, 4, 5.
    pub distribution: [u32; 5],
}

/// One party's feedback. `questions` and `comments` are absent while
/// `withheld` (fewer than 3 answers).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PartyFeedback {
    /// Null for participants without a party label.
    pub party: Option<Party>,
    /// Answer sets (declines not counted).
    pub answers: u32,
    pub declined: u32,
    pub withheld: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<Vec<QuestionScore>>,
    /// Sorted, never in the order given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RoomFeedback {
    pub room_id: String,
    /// A party's figures are withheld below this many answers.
    pub min_answers: u32,
    pub parties: Vec<PartyFeedback>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Per-party aggregates of `sets` over `question_ids` (in that order), with
/// comments when `with_comments`. Parties in label order, unlabelled last.
pub fn aggregate(
    sets: &[FeedbackSet],
    question_ids: &[String],
    with_comments: bool,
) -> Vec<PartyFeedback> {
    let mut by_party: BTreeMap<(bool, Option<crate::circle::Party>), Vec<&FeedbackSet>> =
        BTreeMap::new();
    for set in sets {
        by_party
            .entry((set.party.is_none(), set.party))
            .or_default()
            .push(set);
    }
    by_party
        .into_iter()
        .map(|((_, party), sets)| {
            let answered: Vec<&&FeedbackSet> = sets.iter().filter(|s| !s.declined).collect();
            let answers = answered.len() as u32;
            let declined = sets.len() as u32 - answers;
            let withheld = answers < MIN_ANSWERS;
            let questions = (!withheld).then(|| {
                question_ids
                    .iter()
                    .map(|id| {
                        let mut distribution = [0u32; 5];
                        for s in &answered {
                            if let Some(&v) = s.answers.get(id)
                                && (1..=5).contains(&v)
                            {
                                distribution[usize::from(v - 1)] += 1;
                            }
                        }
                        let count: u32 = distribution.iter().sum();
                        let total: u32 = distribution
                            .iter()
                            .enumerate()
                            .map(|(i, n)| (i as u32 + 1) * n)
                            .sum();
                        QuestionScore {
                            id: id.clone(),
                            count,
                            mean: (count > 0).then(|| round2(f64::from(total) / f64::from(count))),
                            distribution,
                        }
                    })
                    .collect()
            });
            let comments = (!withheld && with_comments).then(|| {
                let mut comments: Vec<String> =
                    answered.iter().filter_map(|s| s.comment.clone()).collect();
                comments.sort();
                comments
            });
            PartyFeedback {
                party: party.map(Into::into),
                answers,
                declined,
                withheld,
                questions,
                comments,
            }
        })
        .collect()
}

/// The question ids of `questionnaire`, then any others answered in `sets`, sorted.
pub fn question_order(questionnaire: Option<&Questionnaire>, sets: &[FeedbackSet]) -> Vec<String> {
    let mut ids: Vec<String> = questionnaire
        .map(|q| q.questions.iter().map(|q| q.id.clone()).collect())
        .unwrap_or_default();
    let others: BTreeSet<&String> = sets
        .iter()
        .flat_map(|s| s.answers.keys())
        .filter(|id| !ids.contains(id))
        .collect();
    ids.extend(others.into_iter().cloned());
    ids
}

/// Read a room's feedback, per party.
///
/// Aggregates only: a party's figures and comments are withheld while it
/// has fewer than 3 answers. Nothing says who answered what, or when.
#[utoipa::path(
    get,
    path = "/api/v1/rooms/{room_id}/feedback",
    tag = "outcomes",
    params(("room_id" = String, Path, description = "The room's id")),
    responses(
        (status = 200, description = "Per-party aggregates", body = RoomFeedback),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 404, description = "`room_unknown`", body = ErrorBody),
    )
)]
pub async fn room_feedback(
    State(app): State<Arc<App>>,
    Path(room_id): Path<String>,
) -> Result<Json<RoomFeedback>, ApiError> {
    let row = app
        .store
        .room(&room_id)
        .await?
        .ok_or(ApiError::RoomUnknown)?;
    let sets = app.store.feedback_sets(&room_id).await?;
    let order = question_order(Some(&row.settings.feedback), &sets);
    Ok(Json(RoomFeedback {
        room_id,
        min_answers: MIN_ANSWERS,
        parties: aggregate(&sets, &order, true),
    }))
}
