//! The seam between a room and its SFU. The room decides; this module only
//! translates: who has a peer connection (everyone in the circle, and no one
//! else), and the room's gate changes into the SFU's gates.
//!
//! Each person in the circle gets a small actor (`PeerLink`) that owns their
//! negotiation: it applies the client's SDP and candidates one at a time and
//! forwards the SFU's events to the person's current connection, in order.

use std::collections::HashMap;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{OutFrame, Outbound, RoomMsg};
use crate::circle::{self, GateChange, PersonId, Role, Room, Stage};
use crate::media::{IceCandidateInit, IceServer, MediaEvent, PeerKey, Sfu};
use crate::signal::wire::{Control, MediaMsg, control_json, error_json};

/// How many client media messages may wait for one person's negotiation.
const LINK_QUEUE: usize = 32;

pub fn peer_key(person: PersonId) -> PeerKey {
    PeerKey(u64::from(person.0))
}

fn media_kind(kind: circle::MediaKind) -> crate::media::MediaKind {
    match kind {
        circle::MediaKind::Audio => crate::media::MediaKind::Audio,
        circle::MediaKind::Video => crate::media::MediaKind::Video,
    }
}

/// Media messages from the server to one client.
// The prefix is the wire name (`media_ready`, …), shared with the client's messages.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum MediaNotice<'a> {
    /// Your peer connection exists: make an offer (tracks `peer-N` are person N).
    MediaReady {
        ice_servers: &'a [IceServer],
        /// `relay`: gather only TURN candidates (a relay-only room); else `all`.
        ice_transport_policy: &'static str,
    },
    /// Fresh TURN credentials for your peer connection (`setConfiguration`).
    MediaIceServers {
        ice_servers: &'a [IceServer],
    },
    MediaAnswer {
        sdp: &'a str,
    },
    MediaOffer {
        sdp: &'a str,
    },
    MediaCandidate {
        candidate: ServerCandidate<'a>,
    },
    /// Your peer connection is gone (you left the circle); close yours.
    MediaClosed,
}

/// One of the server's ICE candidates as sent (`RTCIceCandidateInit`).
/// webrtc-rs names "no mid" with an empty `sdpMid`, which names no m-line
/// and which a browser may refuse: it is left out, and the candidate is given
/// to the first m-line (`sdpMLineIndex` 0), which carries the one bundled
/// transport. Empty fields are left out rather than sent as `""` or `null`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServerCandidate<'a> {
    candidate: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sdp_mid: Option<&'a str>,
    #[serde(rename = "sdpMLineIndex", skip_serializing_if = "Option::is_none")]
    sdp_mline_index: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username_fragment: Option<&'a str>,
}

impl<'a> ServerCandidate<'a> {
    fn of(c: &'a IceCandidateInit) -> ServerCandidate<'a> {
        let sdp_mid = c.sdp_mid.as_deref().filter(|mid| !mid.is_empty());
        ServerCandidate {
            candidate: &c.candidate,
            sdp_mid,
            sdp_mline_index: c.sdp_mline_index.or(sdp_mid.is_none().then_some(0)),
            username_fragment: c.username_fragment.as_deref().filter(|u| !u.is_empty()),
        }
    }
}

fn unix_now() -> u64 {
    crate::rooms::wall_clock().0 / 1000
}

/// The next tick of an interval, or never without one.
async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn notice_json(notice: &MediaNotice) -> String {
    serde_json::to_string(notice).unwrap_or_else(|_| "{}".to_owned())
}

enum LinkMsg {
    Client {
        msg: MediaMsg,
        reference: Option<u64>,
    },
    Stop,
}

struct Link {
    inbox: mpsc::Sender<LinkMsg>,
    outbound: watch::Sender<Option<Outbound>>,
    task: JoinHandle<()>,
}

/// One room's media: its SFU and the links of the people in the circle.
pub(super) struct RoomMedia {
    sfu: Sfu,
    links: HashMap<PersonId, Link>,
    /// Links being taken down; a new link for the same person waits for it.
    retiring: HashMap<PersonId, JoinHandle<()>>,
    /// For links to report audio levels and readiness back to the room.
    room: mpsc::WeakSender<RoomMsg>,
    /// Clients gather only relay candidates (the room's `relay_only`).
    relay_only: bool,
}

impl RoomMedia {
    pub(super) fn new(sfu: Sfu, room: mpsc::WeakSender<RoomMsg>, relay_only: bool) -> RoomMedia {
        RoomMedia {
            sfu,
            links: HashMap::new(),
            retiring: HashMap::new(),
            room,
            relay_only,
        }
    }

    /// Takes effect on the next packet.
    pub(super) fn gate(&self, change: GateChange) {
        self.sfu.set_gate(
            peer_key(change.from),
            peer_key(change.to),
            media_kind(change.kind),
            change.open,
        );
    }

    /// A new link's peer exists: (re)apply every open gate that involves it,
    /// since taking down an earlier peer of the same person forgot its gates.
    pub(super) fn ready(&self, room: &Room, person: PersonId) {
        for &(from, to, kind) in room.open_gates() {
            if from == person || to == person {
                self.gate(GateChange {
                    from,
                    to,
                    kind,
                    open: true,
                });
            }
        }
    }

    /// Makes the links match the room: a link for everyone in the circle
    /// (kept through the grace period), none for anyone else. A person who
    /// came back on a new connection gets a fresh link: their browser builds
    /// a fresh peer connection too.
    pub(super) fn sync(&mut self, room: &Room, sessions: &HashMap<circle::SessionId, Outbound>) {
        let mut wanted: HashMap<PersonId, Option<Outbound>> = HashMap::new();
        for person in room.people() {
            if person.stage == Stage::Admitted {
                let outbound = person.session().and_then(|s| sessions.get(&s)).cloned();
                wanted.insert(person.id, outbound);
            }
        }
        let gone: Vec<PersonId> = self
            .links
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for person in gone {
            self.retire(person, true);
        }
        for (person, outbound) in wanted {
            let Some(link) = self.links.get(&person) else {
                if outbound.is_some() {
                    let observer = room
                        .person(person)
                        .is_some_and(|p| p.role() == Role::Observer);
                    self.start(person, outbound, observer);
                }
                continue;
            };
            let same = match (link.outbound.borrow().as_ref(), outbound.as_ref()) {
                (Some(old), Some(new)) => old.frames.same_channel(&new.frames),
                (None, None) => true,
                _ => false,
            };
            match outbound {
                _ if same => {}
                // Connection lost: keep the peer through the grace period.
                None => {
                    let _ = link.outbound.send(None);
                }
                // Back on a new connection: a fresh peer for a fresh browser one.
                Some(outbound) => {
                    self.retire(person, false);
                    let observer = room
                        .person(person)
                        .is_some_and(|p| p.role() == Role::Observer);
                    self.start(person, Some(outbound), observer);
                }
            }
        }
    }

    fn start(&mut self, person: PersonId, outbound: Option<Outbound>, observer: bool) {
        let (inbox, rx) = mpsc::channel(LINK_QUEUE);
        let (outbound_tx, outbound_rx) = watch::channel(outbound);
        let link = PeerLink {
            sfu: self.sfu.clone(),
            person,
            inbox: rx,
            outbound: outbound_rx,
            room: self.room.clone(),
            observer,
            relay_only: self.relay_only,
            previous: self.retiring.remove(&person),
        };
        let task = tokio::spawn(link.run());
        self.links.insert(
            person,
            Link {
                inbox,
                outbound: outbound_tx,
                task,
            },
        );
    }

    /// Ends a person's link; `tell` sends them `media_closed` first.
    fn retire(&mut self, person: PersonId, tell: bool) {
        if let Some(link) = self.links.remove(&person) {
            if tell && let Some(outbound) = link.outbound.borrow().as_ref() {
                let _ = outbound
                    .frames
                    .try_send(OutFrame::Text(notice_json(&MediaNotice::MediaClosed)));
            }
            let _ = link.inbox.try_send(LinkMsg::Stop);
            self.retiring.insert(person, link.task);
        }
        self.retiring.retain(|_, task| !task.is_finished());
    }

    /// A client's SDP or candidate; answered by the link, in order.
    pub(super) fn client(
        &self,
        person: PersonId,
        msg: MediaMsg,
        reference: Option<u64>,
    ) -> Result<(), &'static str> {
        let link = self.links.get(&person).ok_or("media_not_ready")?;
        link.inbox
            .try_send(LinkMsg::Client { msg, reference })
            .map_err(|_| "rate_limited")
    }

    /// The room is stopping: every link goes.
    pub(super) fn close_all(&mut self) {
        let people: Vec<PersonId> = self.links.keys().copied().collect();
        for person in people {
            self.retire(person, false);
        }
    }
}

struct PeerLink {
    sfu: Sfu,
    person: PersonId,
    inbox: mpsc::Receiver<LinkMsg>,
    /// The person's current connection, if any (none during the grace period).
    outbound: watch::Receiver<Option<Outbound>>,
    room: mpsc::WeakSender<RoomMsg>,
    /// Observers never publish: whatever they send is dropped at the door.
    observer: bool,
    relay_only: bool,
    /// The person's previous link, which must be gone before this one starts.
    previous: Option<JoinHandle<()>>,
}

impl PeerLink {
    async fn run(mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = previous.await;
        }
        let key = peer_key(self.person);
        let (events_tx, mut events) = mpsc::channel(64);
        if let Err(error) = self.sfu.add_peer(key, events_tx).await {
            tracing::warn!(%error, "peer connection could not be created");
            self.send(error_json(
                "media_failed",
                "media is not available now",
                None,
            ));
            return;
        }
        self.sfu.refuse_publish(key, self.observer);
        if let Some(room) = self.room.upgrade() {
            let _ = room.try_send(RoomMsg::MediaReady {
                person: self.person,
            });
        }
        // One TURN identity per peer connection, renewed while it lasts:
        // removal, withdrawal or leaving ends the link and the renewals.
        let turn_id = crate::turn::session_id();
        let ice_servers = self.sfu.ice_servers_for(&turn_id, unix_now());
        self.send(notice_json(&MediaNotice::MediaReady {
            ice_servers: &ice_servers,
            ice_transport_policy: if self.relay_only { "relay" } else { "all" },
        }));
        let mut renew = self
            .sfu
            .turn_renewal()
            .map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
        loop {
            tokio::select! {
                _ = next_tick(&mut renew) => {
                    let ice_servers = self.sfu.ice_servers_for(&turn_id, unix_now());
                    self.send(notice_json(&MediaNotice::MediaIceServers { ice_servers: &ice_servers }));
                }
                msg = self.inbox.recv() => match msg {
                    Some(LinkMsg::Client { msg, reference }) => self.client(key, msg, reference).await,
                    Some(LinkMsg::Stop) | None => break,
                },
                event = events.recv() => match event {
                    Some(event) => self.event(key, event).await,
                    None => break,
                },
            }
        }
        self.sfu.revoke_turn(&turn_id).await;
        self.sfu.remove_peer(key).await;
    }

    async fn client(&self, key: PeerKey, msg: MediaMsg, reference: Option<u64>) {
        let result = match msg {
            MediaMsg::MediaOffer { sdp } => match self.sfu.offer(key, sdp).await {
                Ok(answer) => {
                    // The answer goes out before any later event of this peer.
                    self.send(notice_json(&MediaNotice::MediaAnswer { sdp: &answer }));
                    Ok(())
                }
                Err(error) => Err(error),
            },
            MediaMsg::MediaAnswer { sdp } => self.sfu.answer(key, sdp).await,
            MediaMsg::MediaCandidate { candidate } => self.sfu.candidate(key, candidate).await,
        };
        match (result, reference) {
            (Ok(()), Some(reference)) => self.send(control_json(&Control::Ok { reference })),
            (Ok(()), None) => {}
            (Err(error), reference) => {
                tracing::debug!(%error, "negotiation step refused");
                self.send(error_json(
                    "media_failed",
                    "the media negotiation failed",
                    reference,
                ));
            }
        }
    }

    async fn event(&self, key: PeerKey, event: MediaEvent) {
        match event {
            MediaEvent::LocalCandidate(candidate) => {
                self.send(notice_json(&MediaNotice::MediaCandidate {
                    candidate: ServerCandidate::of(&candidate),
                }))
            }
            // An offer queued before the server gave way to the client's offer
            // (glare) is stale once that is answered: never send it after the answer.
            MediaEvent::Offer(sdp) => {
                if self.sfu.offer_is_current(key, &sdp).await {
                    self.send(notice_json(&MediaNotice::MediaOffer { sdp: &sdp }))
                } else {
                    tracing::debug!("stale server offer dropped");
                }
            }
            MediaEvent::AudioLevel { level_dbov, voice } => {
                if let Some(room) = self.room.upgrade() {
                    let _ = room.try_send(RoomMsg::Speaking {
                        person: self.person,
                        level_dbov,
                        voice,
                    });
                }
            }
            MediaEvent::Failed => self.send(error_json(
                "media_failed",
                "the media connection failed",
                None,
            )),
            MediaEvent::Connected | MediaEvent::TrackPublished { .. } => {}
        }
    }

    fn send(&self, text: String) {
        if let Some(outbound) = self.outbound.borrow().as_ref() {
            let _ = outbound.frames.try_send(OutFrame::Text(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(candidate: IceCandidateInit) -> serde_json::Value {
        let text = notice_json(&MediaNotice::MediaCandidate {
            candidate: ServerCandidate::of(&candidate),
        });
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn server_candidates_never_carry_an_empty_mid() {
        let line = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host";
        let json = sent(IceCandidateInit {
            candidate: line.into(),
            sdp_mid: Some(String::new()),
            sdp_mline_index: Some(0),
            username_fragment: Some(String::new()),
        });
        assert_eq!(
            json,
            serde_json::json!({"type": "media_candidate",
                "candidate": {"candidate": line, "sdpMLineIndex": 0}})
        );
        // Neither a mid nor an index: the first m-line's transport.
        let json = sent(IceCandidateInit {
            candidate: line.into(),
            ..IceCandidateInit::default()
        });
        assert_eq!(json["candidate"]["sdpMLineIndex"], 0);
        assert!(json["candidate"].get("sdpMid").is_none(), "{json}");
        // A real mid is kept as it is.
        let json = sent(IceCandidateInit {
            candidate: line.into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
            username_fragment: Some("abcd".into()),
        });
        assert_eq!(
            json["candidate"],
            serde_json::json!({"candidate": line, "sdpMid": "0",
                "sdpMLineIndex": 0, "usernameFragment": "abcd"})
        );
    }
}
