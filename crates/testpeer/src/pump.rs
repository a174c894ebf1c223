//! The task that owns a peer's socket and peer connection (see the module comment).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::peer_connection::{
    PeerConnection, RTCConfiguration, RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer,
    RTCIceTransportPolicy, RTCSessionDescription,
};

use super::synthetic::{publishing_tracks, send_media, sent_at};
use super::{Counters, Receiver, Setup, Socket, client_peer_connection_with, receive_only};
use circlekeeper::media::testing::PayloadTypes;

pub(super) struct Pump {
    name: String,
    /// Publish at this video bitrate; `None`: receive only.
    video_kbps: Option<u32>,
    /// This client's numbering of the codecs.
    payload_types: PayloadTypes,
    /// Candidates go out under mDNS names ([`Setup::hide_addresses`]).
    hide_addresses: bool,
    counters: Arc<Counters>,
    /// Taken (closing the caller's inbox) once the socket closes.
    inbox: Option<mpsc::UnboundedSender<Value>>,
    media: Option<Media>,
    /// The `ref` of each media message sent, to name a refused step.
    steps: HashMap<u64, String>,
    next_ref: u64,
}

struct Media {
    pc: Arc<dyn PeerConnection>,
    sender: Option<JoinHandle<()>>,
    /// Remote candidates that arrived before a remote description.
    early: Vec<RTCIceCandidateInit>,
    candidates: mpsc::UnboundedReceiver<RTCIceCandidateInit>,
}

impl Media {
    async fn close(mut self) {
        if let Some(sender) = self.sender.take() {
            sender.abort();
            let _ = sender.await;
        }
        let _ = self.pc.close().await;
    }
}

/// The peer connection's configuration from `media_ready`: its ICE servers
/// (TURN credentials among them) and `ice_transport_policy`.
fn configuration(msg: &Value) -> RTCConfiguration {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let servers = msg["ice_servers"]
        .as_array()
        .map(|servers| {
            servers
                .iter()
                .map(|s| RTCIceServer {
                    urls: s["urls"]
                        .as_array()
                        .map(|u| u.iter().map(text).collect())
                        .unwrap_or_default(),
                    username: text(&s["username"]),
                    credential: text(&s["credential"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let policy = match msg["ice_transport_policy"].as_str() {
        Some("relay") => RTCIceTransportPolicy::Relay,
        _ => RTCIceTransportPolicy::All,
    };
    RTCConfigurationBuilder::new()
        .with_ice_servers(servers)
        .with_ice_transport_policy(policy)
        .build()
}

/// Next local candidate of the current peer connection, if there is one.
async fn next_candidate(media: &mut Option<Media>) -> Option<RTCIceCandidateInit> {
    match media {
        Some(m) => m.candidates.recv().await,
        None => std::future::pending().await,
    }
}

impl Pump {
    pub(super) fn new(
        name: &str,
        setup: Setup,
        counters: Arc<Counters>,
        inbox: mpsc::UnboundedSender<Value>,
    ) -> Pump {
        Pump {
            name: name.to_owned(),
            video_kbps: setup.video_kbps,
            payload_types: setup.payload_types,
            hide_addresses: setup.hide_addresses,
            counters,
            inbox: Some(inbox),
            media: None,
            steps: HashMap::new(),
            next_ref: 2_000_000_000,
        }
    }

    pub(super) async fn run(
        mut self,
        mut client: impl Socket,
        mut out: mpsc::UnboundedReceiver<Value>,
        pending: Vec<Value>,
    ) {
        for msg in pending {
            self.media_message(&mut client, &msg).await;
        }
        let mut closing = false;
        loop {
            tokio::select! {
                msg = client.next_message() => match msg {
                    Some(mut msg) => {
                        if let Some(step) = msg["ref"].as_u64().and_then(|r| self.steps.remove(&r)) {
                            // Name the step a `media_failed` answers.
                            msg["step"] = json!(step);
                        }
                        self.media_message(&mut client, &msg).await;
                        if let Some(inbox) = &self.inbox {
                            let _ = inbox.send(msg);
                        }
                    }
                    None => break,
                },
                value = out.recv() => match value {
                    Some(value) => {
                        let _ = client.try_send(value).await;
                    }
                    None => {
                        closing = true;
                        break;
                    }
                },
                Some(c) = next_candidate(&mut self.media) => {
                    let kind = c.candidate.split(" typ ").nth(1).and_then(|t| t.split(' ').next());
                    self.counters.candidate_types.lock().unwrap().push(kind.unwrap_or("").to_owned());
                    let candidate = if self.hide_addresses {
                        hide_address(&c.candidate)
                    } else {
                        c.candidate
                    };
                    let msg = json!({"type": "media_candidate", "candidate": {
                        "candidate": candidate,
                        "sdpMid": c.sdp_mid,
                        "sdpMLineIndex": c.sdp_mline_index,
                    }});
                    self.signal(&mut client, msg).await;
                }
            }
        }
        // The socket is gone (or the caller is done). The media keeps running, as a
        // client that does not stop would, until the caller closes this peer.
        self.inbox.take();
        if !closing {
            while out.recv().await.is_some() {}
        }
        client.close().await;
        if let Some(media) = self.media.take() {
            media.close().await;
        }
    }

    /// A description as it leaves: with its candidates' addresses hidden if asked.
    fn outgoing(&self, sdp: String) -> String {
        if !self.hide_addresses {
            return sdp;
        }
        sdp.split_inclusive('\n')
            .map(|line| match line.strip_prefix("a=") {
                Some(c) if c.starts_with("candidate:") => {
                    let end = &line[line.trim_end().len()..];
                    format!("a={}{end}", hide_address(c.trim_end()))
                }
                _ => line.to_owned(),
            })
            .collect()
    }

    /// Sends a media message with a `ref`, so that a refusal names its step.
    async fn signal(&mut self, client: &mut impl Socket, mut msg: Value) {
        self.next_ref += 1;
        msg["ref"] = json!(self.next_ref);
        let step = match msg["type"].as_str() {
            Some("media_candidate") => format!("media_candidate {}", msg["candidate"]["candidate"]),
            Some(t) => t.to_owned(),
            None => String::new(),
        };
        self.steps.insert(self.next_ref, step);
        let _ = client.try_send(msg).await;
    }

    /// Acts on a media message from the server; everything else is only passed on.
    async fn media_message(&mut self, client: &mut impl Socket, msg: &Value) {
        let result = match msg["type"].as_str() {
            Some("media_ready") => self.ready(client, msg).await,
            Some("media_answer") => self.answer(msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_offer") => self.offer(client, msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_candidate") => self.candidate(&msg["candidate"]).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("{}: {} failed: {e}", self.name, msg["type"]);
        }
    }

    /// A fresh peer connection (the old one, if any, is gone at the server too),
    /// with the ICE servers and transport policy of `media_ready`.
    async fn ready(&mut self, client: &mut impl Socket, msg: &Value) -> Result<(), String> {
        if let Some(old) = self.media.take() {
            old.close().await;
        }
        let (cand_tx, candidates) = mpsc::unbounded_channel();
        let counters = Arc::clone(&self.counters);
        let pc = client_peer_connection_with(
            Receiver {
                candidates: cand_tx,
                on_packet: Arc::new(move |stream, kind, pkt| {
                    counters.arrived(stream, kind, Instant::now(), sent_at(&pkt.payload));
                }),
                on_track: None,
            },
            self.payload_types,
            configuration(msg),
        )
        .await?;
        let mut media = Media {
            pc: Arc::clone(&pc),
            sender: None,
            early: Vec::new(),
            candidates,
        };
        // The client always offers first (docs/protocol.md): its tracks, or two
        // receive-only m-lines when it publishes nothing.
        let tracks = match self.video_kbps {
            Some(_) => Some(publishing_tracks(&pc).await?),
            None => {
                receive_only(&pc).await?;
                None
            }
        };
        let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.set_local_description(offer.clone())
            .await
            .map_err(|e| e.to_string())?;
        let sdp = self.outgoing(offer.sdp);
        self.signal(client, json!({"type": "media_offer", "sdp": sdp}))
            .await;
        if let (Some(tracks), Some(video_kbps)) = (tracks, self.video_kbps) {
            media.sender = Some(tokio::spawn(send_media(
                tracks,
                Arc::clone(&self.counters),
                video_kbps,
                self.payload_types,
            )));
        }
        self.media = Some(media);
        Ok(())
    }

    async fn answer(&mut self, sdp: &str) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("answer without a peer")?;
        let answer = RTCSessionDescription::answer(sdp.to_owned()).map_err(|e| e.to_string())?;
        media
            .pc
            .set_remote_description(answer)
            .await
            .map_err(|e| e.to_string())?;
        add_early(media).await;
        Ok(())
    }

    async fn offer(&mut self, client: &mut impl Socket, sdp: &str) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("offer without a peer")?;
        // Glare: our offer is outstanding. The server gives way and offers again later.
        if media.pc.pending_local_description().await.is_some() {
            self.counters.offers_ignored.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.counters
            .offers_answered
            .fetch_add(1, Ordering::Relaxed);
        let offer = RTCSessionDescription::offer(sdp.to_owned()).map_err(|e| e.to_string())?;
        media
            .pc
            .set_remote_description(offer)
            .await
            .map_err(|e| e.to_string())?;
        add_early(media).await;
        let answer = media
            .pc
            .create_answer(None)
            .await
            .map_err(|e| e.to_string())?;
        media
            .pc
            .set_local_description(answer.clone())
            .await
            .map_err(|e| e.to_string())?;
        let sdp = self.outgoing(answer.sdp);
        self.signal(client, json!({"type": "media_answer", "sdp": sdp}))
            .await;
        Ok(())
    }

    async fn candidate(&mut self, c: &Value) -> Result<(), String> {
        let media = self.media.as_mut().ok_or("candidate without a peer")?;
        let init = RTCIceCandidateInit {
            candidate: c["candidate"].as_str().unwrap_or("").to_owned(),
            sdp_mid: c["sdpMid"].as_str().map(str::to_owned),
            sdp_mline_index: c["sdpMLineIndex"].as_u64().map(|i| i as u16),
            username_fragment: c["usernameFragment"].as_str().map(str::to_owned),
            url: None,
        };
        if init.candidate.is_empty() {
            return Ok(());
        }
        if media.pc.remote_description().await.is_none() {
            media.early.push(init);
            return Ok(());
        }
        media
            .pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| e.to_string())
    }
}

async fn add_early(media: &mut Media) {
    for c in std::mem::take(&mut media.early) {
        if let Err(e) = media.pc.add_ice_candidate(c).await {
            eprintln!("early candidate refused: {e}");
        }
    }
}

/// The candidate with its address replaced by a fresh mDNS name, as a browser that
/// hides its addresses signals it (`candidate:F C proto prio ADDRESS port typ ...`).
fn hide_address(candidate: &str) -> String {
    let name = format!("{:032x}.local", rand::random::<u128>());
    candidate
        .split(' ')
        .enumerate()
        .map(|(i, field)| if i == 4 { name.as_str() } else { field })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::hide_address;

    #[test]
    fn a_hidden_candidate_keeps_everything_but_its_address() {
        let hidden = hide_address("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host");
        let fields: Vec<&str> = hidden.split(' ').collect();
        assert_eq!(fields.len(), 8);
        assert!(
            fields[4].ends_with(".local") && fields[4].len() == 38,
            "{hidden}"
        );
        assert_eq!(
            [fields[..4].join(" "), fields[5..].join(" ")],
            ["candidate:1 1 udp 2130706431", "50000 typ host"]
        );
    }
}
