//! The caller's side of the pump: commands, messages and what arrived.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::pump::Pump;
use super::{Counters, Error, Socket, Tally};
use circlekeeper::media::MediaKind;
use circlekeeper::media::testing::PayloadTypes;

/// How often counters are checked while waiting for packets.
const POLL: Duration = Duration::from_millis(5);

/// How a [`Peer`] behaves.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Publish audio and video at this video bitrate; `None`: receive only.
    pub video_kbps: Option<u32>,
    /// Waiting longer than this for a message is a failure.
    pub patience: Duration,
    /// Waiting longer than this for packets is a failure.
    pub media_patience: Duration,
    /// How this client numbers Opus and VP8 ([`PayloadTypes::FIREFOX`] differs from
    /// the server's).
    pub payload_types: PayloadTypes,
    /// Signal every candidate under an mDNS name (`<uuid>.local`) instead of its
    /// address, as browsers do by default: the server must learn the address from
    /// this peer's connectivity checks.
    pub hide_addresses: bool,
}

/// A command's answer, with when it was sent and when its answer was read.
pub struct Timed {
    pub result: Result<(), String>,
    pub sent: Instant,
    pub answered: Instant,
}

/// One person: the caller's side of the pump.
pub struct Peer {
    pub name: String,
    /// The person id (`welcome.you`); their tracks reach others as `peer-{you}`.
    pub you: u64,
    pub view: Value,
    /// Every message received, in order (including what the pump acted on).
    pub log: Vec<Value>,
    pub counters: Arc<Counters>,
    setup: Setup,
    out: Option<mpsc::UnboundedSender<Value>>,
    inbox: mpsc::UnboundedReceiver<Value>,
    next_ref: u64,
    task: Option<JoinHandle<()>>,
}

impl Peer {
    /// Hands the socket to a pump. Messages it already read stay in `log`; a
    /// `media_ready` among them (and the negotiation after it) is acted on first.
    pub fn start(mut socket: impl Socket, name: &str, setup: Setup) -> Peer {
        let (you, view, log) = socket.arrival();
        let pending = match log.iter().rposition(|m| m["type"] == "media_ready") {
            Some(i) => log[i..]
                .iter()
                .filter(|m| m["type"].as_str().is_some_and(|t| t.starts_with("media_")))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let pump = Pump::new(name, setup, Arc::clone(&counters), inbox_tx);
        let task = tokio::spawn(pump.run(socket, out_rx, pending));
        Peer {
            name: name.to_owned(),
            you,
            view,
            log,
            counters,
            setup,
            out: Some(out_tx),
            inbox,
            next_ref: 1_000_000,
            task: Some(task),
        }
    }

    /// Sends a message as it is (no `ref`, no answer awaited).
    pub fn send(&self, value: Value) {
        if let Some(out) = &self.out {
            let _ = out.send(value);
        }
    }

    fn keep(&mut self, msg: &Value) {
        if msg["type"] == "state" {
            self.view = msg["view"].clone();
        }
        self.log.push(msg.clone());
    }

    /// The next message; an error once the socket closed or after `patience`.
    pub async fn recv(&mut self) -> Result<Value, Error> {
        let msg = tokio::time::timeout(self.setup.patience, self.inbox.recv())
            .await
            .map_err(|_| Error::Silent(self.name.clone()))?
            .ok_or_else(|| Error::Closed(self.name.clone()))?;
        self.keep(&msg);
        Ok(msg)
    }

    /// A message already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<Value> {
        let msg = self.inbox.try_recv().ok()?;
        self.keep(&msg);
        Some(msg)
    }

    /// The next message of type `kind`.
    pub async fn until(&mut self, kind: &str) -> Result<Value, Error> {
        loop {
            let msg = self.recv().await?;
            if msg["type"] == kind {
                return Ok(msg);
            }
        }
    }

    /// Sends a command with a fresh `ref`; the answer (`ok` or an error code), timed.
    pub async fn cmd_timed(&mut self, mut command: Value) -> Result<Timed, Error> {
        let reference = self.next_ref;
        self.next_ref += 1;
        command["ref"] = json!(reference);
        let sent = Instant::now();
        self.send(command);
        loop {
            let msg = self.recv().await?;
            if msg["ref"] == json!(reference) {
                let answered = Instant::now();
                let result = match msg["type"].as_str() {
                    Some("ok") => Ok(()),
                    _ => Err(msg["code"].as_str().unwrap_or("?").to_owned()),
                };
                return Ok(Timed {
                    result,
                    sent,
                    answered,
                });
            }
        }
    }

    /// Sends a command; fails unless the server answers `ok`.
    pub async fn cmd(&mut self, command: Value) -> Result<(), Error> {
        let what = command["type"].as_str().unwrap_or("?").to_owned();
        self.cmd_timed(command)
            .await?
            .result
            .map_err(|code| Error::Refused {
                name: self.name.clone(),
                what,
                code,
            })
    }

    /// Reads everything the room sent so far: the answer to a command comes after
    /// all that was sent before it (whether the command is refused does not matter).
    pub async fn sync(&mut self) -> Result<(), Error> {
        self.cmd_timed(json!({"type": "acknowledge", "hash": ""}))
            .await
            .map(|_| ())
    }

    pub async fn wait_view(&mut self, ready: impl Fn(&Value) -> bool) -> Result<(), Error> {
        while !ready(&self.view) {
            self.until("state").await?;
        }
        Ok(())
    }

    pub async fn wait_stage(&mut self, stage: &str) -> Result<(), Error> {
        self.wait_view(|v| v["stage"] == stage).await
    }

    /// The id of the person called `name` in this peer's view.
    pub fn person(&self, name: &str) -> Result<u64, Error> {
        self.view["people"]
            .as_array()
            .and_then(|people| people.iter().find(|p| p["name"] == name))
            .and_then(|p| p["id"].as_u64())
            .ok_or_else(|| Error::Unknown {
                name: self.name.clone(),
                person: name.to_owned(),
            })
    }

    /// Messages of `kind` received so far.
    pub fn seen(&self, kind: &str) -> Vec<&Value> {
        self.log.iter().filter(|m| m["type"] == kind).collect()
    }

    /// Packets received from person `from`.
    pub fn got(&self, from: u64, kind: MediaKind) -> u64 {
        self.counters.tally(from, kind).packets
    }

    pub fn tally(&self, from: u64, kind: MediaKind) -> Tally {
        self.counters.tally(from, kind)
    }

    /// Waits until at least `at_least` packets of `from`'s `kind` arrived here.
    pub async fn wait_got(&self, from: u64, kind: MediaKind, at_least: u64) -> Result<(), Error> {
        let deadline = Instant::now() + self.setup.media_patience;
        while self.got(from, kind) < at_least {
            if Instant::now() >= deadline {
                return Err(Error::Starved(format!(
                    "{}: {} of {at_least} {} packets from peer-{from} (received: {:?}; server \
                     offers answered {}, ignored on glare {})",
                    self.name,
                    self.got(from, kind),
                    kind.as_str(),
                    self.counters.streams(),
                    self.counters.offers_answered.load(Ordering::Relaxed),
                    self.counters.offers_ignored.load(Ordering::Relaxed),
                )));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// Negotiation steps of this peer the server refused (`media_failed`, with the
    /// step it answers).
    pub fn refused_steps(&self) -> Vec<&Value> {
        self.log
            .iter()
            .filter(|m| m["type"] == "error" && m["code"] == "media_failed")
            .collect()
    }

    /// Stops publishing, closes the peer connection and the socket.
    pub async fn close(mut self) {
        self.out.take();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(self.setup.patience, task).await;
        }
    }
}

/// The keeper admits a person waiting in the lobby; returns once they got `media_ready`.
pub async fn admit(keeper: &mut Peer, peer: &mut Peer) -> Result<(), Error> {
    let name = peer.name.clone();
    keeper
        .wait_view(|v| {
            v["people"].as_array().is_some_and(|people| {
                people
                    .iter()
                    .any(|p| p["name"] == name.as_str() && p["presence"] == "lobby")
            })
        })
        .await?;
    let id = keeper.person(&name)?;
    keeper.cmd(json!({"type": "admit", "person": id})).await?;
    peer.wait_stage("circle").await?;
    if peer.seen("media_ready").is_empty() {
        peer.until("media_ready").await?;
    }
    Ok(())
}
