//! The task that owns a peer's socket and peer connection (see the module comment).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::peer_connection::{PeerConnection, RTCIceCandidateInit, RTCSessionDescription};

use super::synthetic::{publishing_tracks, send_media, sent_at};
use super::{Counters, Receiver, Socket, client_peer_connection};

pub(super) struct Pump {
    name: String,
    /// Publish at this video bitrate; `None`: receive only.
    video_kbps: Option<u32>,
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
        video_kbps: Option<u32>,
        counters: Arc<Counters>,
        inbox: mpsc::UnboundedSender<Value>,
    ) -> Pump {
        Pump {
            name: name.to_owned(),
            video_kbps,
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
                    let msg = json!({"type": "media_candidate", "candidate": {
                        "candidate": c.candidate,
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
            Some("media_ready") => self.ready(client).await,
            Some("media_answer") => self.answer(msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_offer") => self.offer(client, msg["sdp"].as_str().unwrap_or("")).await,
            Some("media_candidate") => self.candidate(&msg["candidate"]).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            eprintln!("{}: {} failed: {e}", self.name, msg["type"]);
        }
    }

    /// A fresh peer connection (the old one, if any, is gone at the server too).
    async fn ready(&mut self, client: &mut impl Socket) -> Result<(), String> {
        if let Some(old) = self.media.take() {
            old.close().await;
        }
        let (cand_tx, candidates) = mpsc::unbounded_channel();
        let counters = Arc::clone(&self.counters);
        let pc = client_peer_connection(Receiver {
            candidates: cand_tx,
            on_packet: Arc::new(move |stream, kind, pkt| {
                counters.arrived(stream, kind, Instant::now(), sent_at(&pkt.payload));
            }),
        })
        .await?;
        let mut media = Media {
            pc: Arc::clone(&pc),
            sender: None,
            early: Vec::new(),
            candidates,
        };
        if let Some(video_kbps) = self.video_kbps {
            let tracks = publishing_tracks(&pc).await?;
            let offer = pc.create_offer(None).await.map_err(|e| e.to_string())?;
            pc.set_local_description(offer.clone())
                .await
                .map_err(|e| e.to_string())?;
            self.signal(client, json!({"type": "media_offer", "sdp": offer.sdp}))
                .await;
            media.sender = Some(tokio::spawn(send_media(
                tracks,
                Arc::clone(&self.counters),
                video_kbps,
            )));
        }
        // A receive-only peer waits for the server's offer.
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
        self.signal(client, json!({"type": "media_answer", "sdp": answer.sdp}))
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
