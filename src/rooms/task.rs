//! The driver of one room: feeds it inputs and time, persists what it
//! accepted, and delivers what it says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};

use super::media::RoomMedia;
use super::{OutFrame, Outbound, RoomMsg, Slot};
use crate::circle::{Accepted, FEEDBACK_SCALE, Input, Output, Refusal, Room, SessionId, Timestamp};
use crate::signal::wire::{Control, FeedbackOffer, control_json, error_json, notice_json};
use crate::store::{Fence, Store, StoreError};

/// The real clock, read only here at the edge; the room is given the time.
pub fn wall_clock() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Timestamp(ms)
}

pub(super) struct RoomTask {
    id: Arc<str>,
    /// The owner epoch every append must still hold (SPEC §6.6).
    fence: Fence,
    room: Room,
    store: Store,
    /// Each live session's outbound queue.
    sessions: HashMap<SessionId, Outbound>,
    rx: mpsc::Receiver<RoomMsg>,
    shutdown: watch::Receiver<bool>,
    /// The room's SFU and the peer links of the people in the circle.
    media: RoomMedia,
    /// When the message (or tick) being handled was taken from the queue.
    taken: Instant,
    /// A journal write failed: the room in memory is ahead of its journal, so
    /// the task stops and the room is reloaded from the journal on next use.
    unsaved: bool,
    /// When and how the room rests; `None`: it never does.
    rest: Option<Rest>,
}

/// What a room needs to rest (see `RoomTask::rest`).
pub(super) struct Rest {
    /// The room's place on this node, held while it decides.
    pub slot: Slot,
    /// How long it waits with nobody connected and nothing due.
    pub after: Duration,
}

/// Least time between two `state`s to one session while changes come fast
/// (`circle::Room::with_view_spacing`; docs/decisions.md).
pub(super) const VIEW_SPACING_MS: u64 = 100;

/// Message taken by the room task → its gate changes applied (the store write
/// of the journal entry comes between).
const GATE_APPLY: &str = "circlekeeper_gate_apply_seconds";

/// Room tasks running on this node (rooms in memory; a resting room is not).
const ROOMS_RUNNING: &str = "circlekeeper_rooms_running";

impl RoomTask {
    pub(super) fn new(
        id: Arc<str>,
        fence: Fence,
        room: Room,
        store: Store,
        rx: mpsc::Receiver<RoomMsg>,
        shutdown: watch::Receiver<bool>,
        media: RoomMedia,
    ) -> RoomTask {
        RoomTask {
            id,
            fence,
            room,
            store,
            sessions: HashMap::new(),
            rx,
            shutdown,
            media,
            taken: Instant::now(),
            unsaved: false,
            rest: None,
        }
    }

    /// Lets the room rest (see `rest`).
    pub(super) fn resting(mut self, rest: Option<Rest>) -> RoomTask {
        self.rest = rest;
        self
    }

    pub(super) async fn run(mut self) {
        metrics::gauge!(ROOMS_RUNNING).increment(1.0);
        while !self.unsaved {
            let wait = self
                .room
                .next_deadline()
                .map(|at| Duration::from_millis(at.0.saturating_sub(wall_clock().0) + 1));
            let rest_in = if wait.is_none() { self.rest_in() } else { None };
            tokio::select! {
                msg = self.rx.recv() => match msg.inspect(|_| self.taken = Instant::now()) {
                    Some(RoomMsg::Stop { reply }) => {
                        self.end_all();
                        let _ = reply.send(());
                        break;
                    }
                    Some(RoomMsg::Moved) => break,
                    Some(msg) => self.on_message(msg).await,
                    None => break,
                },
                () = sleep_or_forever(wait) => {
                    self.taken = Instant::now();
                    let outputs = self.apply(Input::Tick).await.1;
                    self.deliver(outputs).await;
                }
                () = sleep_or_forever(rest_in) => {
                    if self.rest() {
                        tracing::info!(room = &*self.id, "room resting: nobody here, nothing due");
                        break;
                    }
                }
                _ = self.shutdown.changed() => {
                    self.drain().await;
                    break;
                }
            }
        }
        if self.unsaved {
            tracing::warn!(
                room = &*self.id,
                "room stopped after a failed journal write; it reloads from its journal"
            );
        }
        self.media.close_all();
        // Tell every client to come back (1012: service restart); the grace
        // period keeps their places across the restart.
        for (_, outbound) in self.sessions.drain() {
            let _ = outbound.frames.try_send(OutFrame::Close {
                code: 1012,
                reason: "server restarting",
            });
        }
        tracing::info!(room = &*self.id, "room stopped");
        metrics::gauge!(ROOMS_RUNNING).decrement(1.0);
    }

    /// How long until the room may rest: `Rest::after` since its last message,
    /// while nobody is connected. Asked only while no grace period or timer is
    /// running (those change the record when they end: the room stays to end them).
    fn rest_in(&self) -> Option<Duration> {
        let after = self.rest.as_ref()?.after;
        if !self.sessions.is_empty() {
            return None;
        }
        Some(after.saturating_sub(self.taken.elapsed()))
    }

    /// Ends the task if nobody can reach it any more: holding the room's slot,
    /// so no arrival or API call can take a handle meanwhile, the room rests
    /// when nothing is queued and the slot's handle is the only sender left.
    /// Without that handle nothing can send to it, and the next arrival starts
    /// the room again from its journal. Someone holding a handle (an arrival
    /// on its way in), or the slot (the API, which may be sending to this very
    /// room and waiting for its answer: waiting for the slot here would wait
    /// for ever), keeps it up for another `Rest::after`.
    fn rest(&mut self) -> bool {
        self.taken = Instant::now();
        let Some(rest) = &self.rest else {
            return false;
        };
        let Ok(mut held) = rest.slot.try_lock() else {
            return false;
        };
        // While the task runs its slot holds its handle (`Rooms::get`).
        if held.is_none() || !self.rx.is_empty() || self.rx.sender_strong_count() > 1 {
            return false;
        }
        *held = None;
        true
    }

    /// Shutdown: takes no new message, and handles (and journals) those
    /// already queued, so an input a client sent before the shutdown is
    /// either durable or answered with an error, never lost half-way. New
    /// arrivals are not let in (their sessions are told `room_gone`).
    async fn drain(&mut self) {
        self.rx.close();
        while !self.unsaved
            && let Some(msg) = self.rx.recv().await
        {
            self.taken = Instant::now();
            match msg {
                RoomMsg::Arrive { .. } => {}
                RoomMsg::Stop { reply } => {
                    self.end_all();
                    let _ = reply.send(());
                }
                msg => self.on_message(msg).await,
            }
        }
    }

    async fn on_message(&mut self, msg: RoomMsg) {
        match msg {
            RoomMsg::Arrive {
                invitation,
                outbound,
                reply,
            } => {
                let (result, outputs) = self.apply(Input::Arrive { invitation }).await;
                let result = result.map(|accepted| accepted.session.unwrap_or(SessionId(0)));
                if let Ok(session) = result {
                    self.sessions.insert(session, outbound);
                }
                self.deliver(outputs).await;
                let _ = reply.send(result);
            }
            RoomMsg::Command {
                session,
                command,
                reference,
            } => {
                let (result, outputs) = self.apply(Input::Command { session, command }).await;
                if let Err(refusal) = result {
                    metrics::counter!("circlekeeper_refusals_total", "code" => refusal.code())
                        .increment(1);
                }
                let answer = match (result, reference) {
                    (Ok(_), Some(reference)) => Some(control_json(&Control::Ok { reference })),
                    (Ok(_), None) => None,
                    (Err(refusal), reference) => {
                        Some(error_json(refusal.code(), &refusal.to_string(), reference))
                    }
                };
                // The answer comes after the `state`s the command caused and
                // before an `ended` it caused (`leave`, `withdraw_consent`).
                self.deliver_answering(outputs, answer.map(|text| (session, text)))
                    .await;
            }
            RoomMsg::Media {
                session,
                msg,
                reference,
            } => {
                let refused = match self.room.person_of_session(session) {
                    Some(person) => self.media.client(person, msg, reference).err(),
                    None => Some("media_not_ready"),
                };
                if let Some(code) = refused {
                    let text = error_json(code, "media is not possible now", reference);
                    self.send_frame(session, OutFrame::Text(text));
                }
            }
            RoomMsg::MediaReady { person } => self.media.ready(&self.room, person),
            RoomMsg::Speaking {
                person,
                level_dbov,
                voice,
            } => self.speaking(person, level_dbov, voice),
            RoomMsg::Disconnect { session } => {
                self.forget(session);
                let (_, outputs) = self.apply(Input::Disconnect { session }).await;
                self.deliver(outputs).await;
            }
            RoomMsg::Admin { input, reply } => {
                let (result, outputs) = self.apply(input).await;
                self.deliver(outputs).await;
                let _ = reply.send(result);
            }
            RoomMsg::Inspect(inspect) => inspect.run(&self.room),
            // Handled in `run`, which stops the loop.
            RoomMsg::Stop { reply } => {
                let _ = reply.send(());
            }
            RoomMsg::Moved => {}
        }
    }

    /// Feeds one input to the room and persists it, with the records it
    /// caused, in one transaction, before anything is delivered (SPEC §5.12).
    /// If the journal write fails, the input is refused (`not_saved`), none
    /// of its outputs is delivered, and the task stops: the room in memory
    /// is ahead of its journal, and is reloaded from the journal on next use.
    async fn apply(&mut self, input: Input) -> (Result<Accepted, Refusal>, Vec<Output>) {
        let now = wall_clock();
        let result = self.room.handle(now, input.clone());
        let outputs: Vec<Output> = std::iter::from_fn(|| self.room.poll_output()).collect();
        if let Ok(Accepted { journal: true, .. }) = result {
            let records: Vec<_> = outputs
                .iter()
                .filter_map(|o| match o {
                    Output::Record(r) => Some(r.clone()),
                    _ => None,
                })
                .collect();
            let appended = self
                .store
                .append_fenced(&self.id, self.fence, now, &input, &records)
                .await;
            if let Err(error) = appended {
                if matches!(error, StoreError::NotOwner) {
                    tracing::warn!(room = &*self.id, "another node took the room over");
                } else {
                    metrics::counter!("circlekeeper_store_errors_total").increment(1);
                    tracing::error!(room = &*self.id, %error, "journal write failed; input refused");
                }
                self.unsaved = true;
                return (Err(Refusal::NotSaved), Vec::new());
            }
        }
        (result, outputs)
    }

    /// Whether this invitation has neither answered nor declined the
    /// questionnaire yet (a store error counts as answered: no offer).
    async fn not_answered(&self, invitation_id: &str) -> bool {
        match self.store.feedback_given(&self.id, invitation_id).await {
            Ok(given) => !given,
            Err(error) => {
                tracing::error!(room = &*self.id, %error, "feedback lookup failed");
                false
            }
        }
    }

    async fn deliver(&mut self, outputs: Vec<Output>) {
        self.deliver_answering(outputs, None).await;
    }

    /// Delivers the outputs, and `answer` to its session just before that
    /// session's `End`, or else after everything (media messages included).
    async fn deliver_answering(
        &mut self,
        outputs: Vec<Output>,
        mut answer: Option<(SessionId, String)>,
    ) {
        let mut gates_applied = false;
        for output in outputs {
            if let Output::End { session, .. } = &output
                && let Some((to, text)) = answer.take_if(|(to, _)| to == session)
            {
                self.send_frame(to, OutFrame::Text(text));
            }
            match output {
                // The room sends a `state` only when the view changed (`Shown`).
                Output::Send { to, notice } => {
                    self.send_frame(to, OutFrame::Text(notice_json(&notice)))
                }
                Output::End {
                    session,
                    reason,
                    offer_feedback,
                    agreement,
                    summary,
                } => {
                    let offer = match offer_feedback {
                        Some(invitation_id) => self.not_answered(&invitation_id).await,
                        None => false,
                    };
                    let questionnaire = &self.room.settings().feedback;
                    let feedback = offer.then_some(FeedbackOffer {
                        questions: &questionnaire.questions,
                        free_text: questionnaire.free_text,
                        scale: FEEDBACK_SCALE,
                    });
                    let text = control_json(&Control::Ended {
                        reason,
                        feedback,
                        support: &self.room.settings().support_contacts,
                        agreement,
                        summary,
                    });
                    self.send_frame(session, OutFrame::Text(text));
                    self.send_frame(
                        session,
                        OutFrame::Close {
                            code: 1000,
                            reason: "session ended",
                        },
                    );
                    self.forget(session);
                }
                Output::Gate(change) => {
                    self.media.gate(change);
                    if !gates_applied {
                        gates_applied = true;
                        metrics::histogram!(GATE_APPLY).record(self.taken.elapsed().as_secs_f64());
                    }
                    let state = if change.open { "open" } else { "closed" };
                    metrics::counter!("circlekeeper_gate_changes_total", "to" => state)
                        .increment(1);
                }
                Output::Record(_) => {}
            }
        }
        self.media.sync(&self.room, &self.sessions);
        // As before `ended` existed here: the answer after the media messages
        // the input caused (a client may act on `ok` expecting them).
        if let Some((to, text)) = answer {
            self.send_frame(to, OutFrame::Text(text));
        }
    }

    /// Who is talking, told only to those who hear them: speaking activity
    /// must not reveal a voice the room keeps from someone.
    fn speaking(&mut self, person: crate::circle::PersonId, level_dbov: u8, voice: bool) {
        let listeners: Vec<crate::circle::SessionId> = self
            .room
            .open_gates()
            .filter(|(from, _, kind)| *from == person && *kind == crate::circle::MediaKind::Audio)
            .filter_map(|(_, to, _)| self.room.person(*to).and_then(|p| p.session()))
            .collect();
        if listeners.is_empty() {
            return;
        }
        let text = control_json(&Control::Speaking {
            person,
            level_dbov,
            voice,
        });
        for session in listeners {
            self.send_frame(session, OutFrame::Text(text.clone()));
        }
    }

    /// The room is going away (its record is deleted): everyone's visit ends.
    fn end_all(&mut self) {
        let sessions: Vec<SessionId> = self.sessions.keys().copied().collect();
        for session in sessions {
            let ended = Control::Ended {
                reason: crate::circle::EndReason::RoomClosed,
                feedback: None,
                support: &self.room.settings().support_contacts,
                agreement: None,
                summary: None,
            };
            self.send_frame(session, OutFrame::Text(control_json(&ended)));
            self.send_frame(
                session,
                OutFrame::Close {
                    code: 1000,
                    reason: "room deleted",
                },
            );
            self.forget(session);
        }
    }

    /// A full queue means the client does not keep up: it is dropped, and
    /// its connection loss starts the grace period like any other.
    fn send_frame(&mut self, session: SessionId, frame: OutFrame) {
        let Some(outbound) = self.sessions.get(&session) else {
            return;
        };
        if outbound.frames.try_send(frame).is_err() {
            metrics::counter!("circlekeeper_slow_clients_dropped_total").increment(1);
            outbound.drop_now.notify_one();
            self.forget(session);
        }
    }

    fn forget(&mut self, session: SessionId) {
        self.sessions.remove(&session);
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
