//! The SFU task: owns the table of peers and of what each publishes, and wires every
//! publication to every other peer. Gates decide later, per packet, what flows.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rtc::rtp_transceiver::rtp_sender::RTCRtpCodec;
use tokio::sync::{mpsc, oneshot};

use super::engine::Factory;
use super::forward::PubCtrl;
use super::gates::Gates;
use super::peer::{self, PeerTask, Subscription};
use super::{MediaError, MediaEvent, MediaKind, PeerKey};

pub(crate) enum Command {
    AddPeer {
        peer: PeerKey,
        events: mpsc::Sender<MediaEvent>,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    RemovePeer {
        peer: PeerKey,
        reply: oneshot::Sender<()>,
    },
    Lookup {
        peer: PeerKey,
        reply: oneshot::Sender<Option<mpsc::UnboundedSender<peer::Command>>>,
    },
    /// From a peer task: `from` publishes a track.
    Published {
        from: PeerKey,
        kind: MediaKind,
        codec: RTCRtpCodec,
        ctrl: mpsc::UnboundedSender<PubCtrl>,
    },
}

struct Published {
    kind: MediaKind,
    codec: RTCRtpCodec,
    ctrl: mpsc::UnboundedSender<PubCtrl>,
}

struct Entry {
    cmd: mpsc::UnboundedSender<peer::Command>,
    published: Vec<Published>,
}

pub(crate) async fn run(
    factory: Factory,
    gates: Arc<Gates>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    // Peer tasks report publications back through this same queue.
    let (self_tx, mut self_rx) = mpsc::unbounded_channel::<Command>();
    let mut peers: HashMap<PeerKey, Entry> = HashMap::new();
    loop {
        let cmd = tokio::select! {
            // Every `Sfu` handle dropped: stop, which closes every peer.
            cmd = rx.recv() => match cmd { Some(cmd) => cmd, None => break },
            Some(cmd) = self_rx.recv() => cmd,
        };
        match cmd {
            Command::AddPeer {
                peer,
                events,
                reply,
            } => {
                if peers.contains_key(&peer) {
                    let _ = reply.send(Err(MediaError::DuplicatePeer));
                    continue;
                }
                let (pc, port, pc_events) = match factory.build().await {
                    Ok(built) => built,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        continue;
                    }
                };
                let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                let task = PeerTask::new(
                    peer,
                    pc,
                    port,
                    events,
                    self_tx.clone(),
                    Arc::clone(&gates),
                    factory.subscriber_queue(),
                );
                tokio::spawn(task.run(cmd_rx, pc_events));
                // The newcomer receives everything already published.
                for (from, entry) in &peers {
                    if refused(&gates, *from) {
                        continue;
                    }
                    for p in &entry.published {
                        let _ = cmd_tx.send(subscription(&gates, *from, peer, p));
                    }
                }
                peers.insert(
                    peer,
                    Entry {
                        cmd: cmd_tx,
                        published: Vec::new(),
                    },
                );
                let _ = reply.send(Ok(()));
            }
            Command::RemovePeer { peer, reply } => {
                let Some(entry) = peers.remove(&peer) else {
                    let _ = reply.send(());
                    continue;
                };
                if !entry.published.is_empty() {
                    for other in peers.values() {
                        let _ = other.cmd.send(peer::Command::Unsubscribe { from: peer });
                    }
                }
                // The peer task answers once its connection is closed.
                if let Err(mpsc::error::SendError(peer::Command::Close { reply })) =
                    entry.cmd.send(peer::Command::Close { reply })
                {
                    let _ = reply.send(());
                }
            }
            Command::Lookup { peer, reply } => {
                let _ = reply.send(peers.get(&peer).map(|e| e.cmd.clone()));
            }
            Command::Published {
                from,
                kind,
                codec,
                ctrl,
            } => {
                // Ignore a late report from a peer that was removed meanwhile.
                if !peers.contains_key(&from) {
                    continue;
                }
                let p = Published { kind, codec, ctrl };
                for (to, entry) in &peers {
                    if *to != from && !refused(&gates, from) {
                        let _ = entry.cmd.send(subscription(&gates, from, *to, &p));
                    }
                }
                if let Some(entry) = peers.get_mut(&from) {
                    entry.published.retain(|old| old.kind != kind);
                    entry.published.push(p);
                }
            }
        }
    }
}

/// A refused publisher (an observer) is decided before it can publish: its tracks
/// are never offered to anyone, so nobody's description announces them.
fn refused(gates: &Gates, from: PeerKey) -> bool {
    gates.refused_flag(from).load(Ordering::Acquire)
}

fn subscription(gates: &Gates, from: PeerKey, to: PeerKey, p: &Published) -> peer::Command {
    peer::Command::Subscribe(Subscription {
        from,
        kind: p.kind,
        codec: p.codec.clone(),
        publisher: p.ctrl.clone(),
        gate: gates.gate(from, to, p.kind),
    })
}
