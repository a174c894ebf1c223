//! Running rooms: one tokio task per room owns its state machine (SPEC §7).
//! Sessions and the API talk to it through a channel; it turns the room's
//! outputs into socket frames, store writes and gate changes.

mod admin;
mod lease;
mod media;
mod task;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::circle::{Accepted, Command, Input, Invitation, PersonId, Refusal, Room, SessionId};
use crate::media::{MediaConfig, MediaError, Sfu};
use crate::signal::wire::MediaMsg;
use crate::store::{Claim, Fence, Store, StoreError};

pub use admin::Inspect;
pub use lease::{Node, on_duty, spawn_lease};
pub use task::wall_clock;

/// A frame on its way to one session's socket.
#[derive(Debug, Clone, PartialEq)]
pub enum OutFrame {
    Text(String),
    Close { code: u16, reason: &'static str },
}

/// The room's way to reach one session: a bounded queue, and a switch to
/// drop a client that does not keep up (SPEC §5.6: a slow client never
/// grows memory).
#[derive(Clone, Debug)]
pub struct Outbound {
    pub frames: mpsc::Sender<OutFrame>,
    pub drop_now: Arc<Notify>,
}

#[derive(Debug)]
pub enum RoomMsg {
    Arrive {
        invitation: Invitation,
        outbound: Outbound,
        reply: oneshot::Sender<Result<SessionId, Refusal>>,
    },
    Command {
        session: SessionId,
        command: Command,
        reference: Option<u64>,
    },
    Disconnect {
        session: SessionId,
    },
    /// A person's WebRTC negotiation message.
    Media {
        session: SessionId,
        msg: MediaMsg,
        reference: Option<u64>,
    },
    /// A person's peer connection exists now: its gates can be applied.
    MediaReady {
        person: PersonId,
    },
    /// Someone's audio level (rate-limited by the media layer).
    Speaking {
        person: PersonId,
        level_dbov: u8,
        voice: bool,
    },
    /// Inputs from the program API or the operator (invite, revoke).
    Admin {
        input: Input,
        reply: oneshot::Sender<Result<Accepted, Refusal>>,
    },
    /// Reads the room's state (program API: who is present); changes nothing.
    Inspect(Inspect),
    /// The room's record is being deleted: end every session (`room_closed`)
    /// and stop the task without writing anything more.
    Stop {
        reply: oneshot::Sender<()>,
    },
    /// Another node took the room over (SPEC §6.6): stop without writing;
    /// sessions close with 1012 and their reconnection is redirected there.
    Moved,
}

/// A cheap handle to a running room.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub id: Arc<str>,
    tx: mpsc::Sender<RoomMsg>,
    /// The owner epoch this node claimed the room at.
    fence: Fence,
}

#[derive(Debug, thiserror::Error)]
pub enum RoomsError {
    /// Shown to clients as `room_unknown`: the token named a room this server does not hold.
    #[error("no such room")]
    Unknown,
    /// Shown as `room_gone`: the room's task has stopped (shutting down).
    #[error("the room is not running")]
    Stopped,
    /// Logged, shown as `server_error`: details may name internal paths.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Logged, shown as `server_error`: the room's SFU could not start.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// Another node runs the room (SPEC §6.6): the client is redirected to
    /// this public URL.
    #[error("the room runs on another node")]
    Elsewhere(String),
}

impl RoomHandle {
    pub async fn send(&self, msg: RoomMsg) -> Result<(), RoomsError> {
        self.tx.send(msg).await.map_err(|_| RoomsError::Stopped)
    }

    /// Sends an operator input and waits for the room's answer.
    pub async fn admin(&self, input: Input) -> Result<Result<Accepted, Refusal>, RoomsError> {
        let (reply, answer) = oneshot::channel();
        self.send(RoomMsg::Admin { input, reply }).await?;
        answer.await.map_err(|_| RoomsError::Stopped)
    }
}

/// One room's place on this node: its handle while its task runs. Starting,
/// stopping and the API's invitation writes hold this lock, so each sees the
/// room either running or not; other rooms go on meanwhile.
type Slot = Arc<Mutex<Option<RoomHandle>>>;

/// Every room this server runs, started on first use from the store.
pub struct Rooms {
    store: Store,
    /// Each room's slot. A slot stays once made: a second slot for a room
    /// could start it twice. Held only to find a slot, never across an await.
    slots: std::sync::Mutex<HashMap<String, Slot>>,
    /// Flips to true when the server shuts down; room tasks stop.
    shutdown: watch::Receiver<bool>,
    /// Each room gets its own SFU with these settings.
    media: MediaConfig,
    /// This server as a node: rooms are claimed in its name.
    node: Node,
    /// The room tasks, so shutdown can wait until every room has drained;
    /// `None` once shutdown has begun (no room starts any more).
    tasks: std::sync::Mutex<Option<JoinSet<()>>>,
    /// How long a room with nobody connected and nothing due waits before its
    /// task ends (`[rooms] rest_after_seconds`); `None`: never.
    rest_after: Option<Duration>,
}

/// How many messages may wait for a room task before senders wait.
const ROOM_QUEUE: usize = 1024;

impl Rooms {
    pub fn new(
        store: Store,
        shutdown: watch::Receiver<bool>,
        media: MediaConfig,
        node: Node,
        rest_after: Option<Duration>,
    ) -> Rooms {
        Rooms {
            store,
            slots: std::sync::Mutex::new(HashMap::new()),
            shutdown,
            media,
            node,
            tasks: std::sync::Mutex::new(Some(JoinSet::new())),
            rest_after,
        }
    }

    /// The media workers' UDP addresses, once a room has started them.
    pub fn media_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.media
            .pool
            .running()
            .map(|pool| pool.local_addrs())
            .unwrap_or_default()
    }

    /// Shutdown (after the shutdown signal): starts no room any more and
    /// waits until every room task has handled (and journaled) its queued
    /// inputs and ended its sessions. The store may be closed after this.
    pub async fn drain(&self) {
        // A room that starts later finds no task set and does not start.
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut tasks) = tasks {
            while tasks.join_next().await.is_some() {}
        }
    }

    /// The room's slot, made on first use.
    fn slot(&self, room_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(slots.entry(room_id.to_owned()).or_default())
    }

    fn existing_slot(&self, room_id: &str) -> Option<Slot> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(room_id).cloned()
    }

    /// The slots of every room this node has held, for a pass over them.
    fn all_slots(&self) -> Vec<(String, Slot)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect()
    }

    /// The running room, started (journal replayed) if it is not running yet.
    /// Only arrivals in the same room wait while it starts.
    pub async fn get(&self, room_id: &str) -> Result<RoomHandle, RoomsError> {
        if let Some(handle) = self.running(room_id).await {
            return Ok(handle);
        }
        // Run by another live node: a read says so, without a claim, which
        // would wait on the writer behind this node's journal appends.
        if let Some(url) = self.elsewhere(room_id).await? {
            return Err(RoomsError::Elsewhere(url));
        }
        let slot = self.slot(room_id);
        let mut held = slot.lock().await;
        if let Some(handle) = held.as_ref().filter(|h| !h.tx.is_closed()) {
            return Ok(handle.clone());
        }
        if *self.shutdown.borrow() || self.tasks_closed() {
            return Err(RoomsError::Stopped);
        }
        let handle = self.start(room_id, Arc::clone(&slot)).await?;
        *held = Some(handle.clone());
        Ok(handle)
    }

    /// Claims the room, rebuilds it from its journal and spawns its task.
    async fn start(&self, room_id: &str, slot: Slot) -> Result<RoomHandle, RoomsError> {
        let row = self.store.room(room_id).await?.ok_or(RoomsError::Unknown)?;
        let relay_only = row.settings.relay_only;
        // Claimed before the journal is read: a takeover replays everything
        // its predecessor wrote, since that node's appends now fail.
        let fence = match self
            .store
            .claim_room(room_id, &self.node.id, wall_clock())
            .await?
        {
            Claim::Owned(fence) => fence,
            Claim::Elsewhere { public_url, .. } => return Err(RoomsError::Elsewhere(public_url)),
        };
        let room = self
            .rebuild(
                room_id,
                fence,
                Room::new(row.settings, row.phase).with_view_spacing(task::VIEW_SPACING_MS),
            )
            .await?;
        let sfu = Sfu::new(self.media.clone()).await?;
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let id: Arc<str> = Arc::from(room_id);
        let media = media::RoomMedia::new(sfu, tx.downgrade(), relay_only);
        let handle = RoomHandle {
            id: id.clone(),
            tx,
            fence,
        };
        let task = task::RoomTask::new(
            id,
            fence,
            room,
            self.store.clone(),
            rx,
            self.shutdown.clone(),
            media,
        )
        .resting(self.rest_after.map(|after| task::Rest { slot, after }));
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tasks) = tasks.as_mut() else {
            return Err(RoomsError::Stopped);
        };
        // Forget the rooms that stopped since (deleted, or a failed write).
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task.run());
        Ok(handle)
    }

    /// Replays the journal, then tells the room about invitations issued
    /// while it was not running, and that everyone's connection is gone.
    async fn rebuild(
        &self,
        room_id: &str,
        fence: Fence,
        mut room: Room,
    ) -> Result<Room, RoomsError> {
        let journal = self.store.journal(room_id).await?;
        let replayed = journal.len();
        for (at, input) in journal {
            if let Err(refusal) = room.handle(at, input) {
                tracing::warn!(
                    room = room_id,
                    code = refusal.code(),
                    "journal entry refused on replay"
                );
            }
        }
        while room.poll_output().is_some() {}
        let now = wall_clock();
        let mut catch_up = Vec::new();
        for row in self.store.invitations(room_id).await? {
            if !room.people().any(|p| p.invitation.id == row.invitation.id) {
                catch_up.push(Input::Invite {
                    invitation: row.invitation,
                });
            }
        }
        catch_up.push(Input::Restored);
        for input in catch_up {
            let journal = matches!(
                room.handle(now, input.clone()),
                Ok(Accepted { journal: true, .. })
            );
            let records: Vec<_> = std::iter::from_fn(|| room.poll_output())
                .filter_map(|o| match o {
                    crate::circle::Output::Record(r) => Some(r),
                    _ => None,
                })
                .collect();
            if journal {
                self.store
                    .append_fenced(room_id, fence, now, &input, &records)
                    .await?;
            }
        }
        tracing::info!(room = room_id, replayed, "room started");
        Ok(room)
    }

    fn tasks_closed(&self) -> bool {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Tells each running room of the invitations in `rows` (issued or
    /// revoked through another node's API). Inputs the room has seen already
    /// are refused as no change, so the same rows may come again.
    pub(crate) async fn catch_up(&self, rows: Vec<crate::store::InvitationRow>) {
        for row in rows {
            let Some(handle) = self.running(&row.room_id).await else {
                continue;
            };
            let mut inputs = vec![Input::Invite {
                invitation: row.invitation.clone(),
            }];
            if row.revoked_at.is_some() {
                inputs.push(Input::Revoke {
                    invitation_id: row.invitation.id,
                });
            }
            for input in inputs {
                let (reply, _) = oneshot::channel();
                // A full queue: the room is busy; the next pass sends it again.
                let _ = handle.tx.try_send(RoomMsg::Admin { input, reply });
            }
        }
    }

    /// This server as a node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The public URL of the live node, other than this one, that runs the
    /// room (SPEC §6.6); one read, no lock, no claim.
    pub async fn elsewhere(&self, room_id: &str) -> Result<Option<String>, StoreError> {
        let owner = self
            .store
            .owner_elsewhere(room_id, &self.node.id, wall_clock())
            .await?;
        Ok(owner.map(|(_, url)| url))
    }

    /// Stops the running rooms that the store no longer lists as this node's
    /// at the epoch it claimed: another node took them over while this one
    /// could not renew its lease (paused, cut off). The running rooms are
    /// listed before the store is read, so every claim in the list is older
    /// than the read: a room claimed meanwhile is never mistaken for a lost one.
    pub(crate) async fn stop_lost(&self) -> Result<(), StoreError> {
        let mut held = Vec::new();
        for (id, slot) in self.all_slots() {
            let fence = slot.lock().await.as_ref().map(|h| h.fence);
            if let Some(fence) = fence {
                held.push((id, slot, fence));
            }
        }
        let owned = self.store.owned_rooms(&self.node.id).await?;
        let mut lost = Vec::new();
        for (id, slot, fence) in held {
            if owned.iter().any(|(o, f)| *o == id && *f == fence) {
                continue;
            }
            let mut slot = slot.lock().await;
            // Still the handle that was listed (not a newer start of the room).
            if let Some(handle) = slot.take_if(|h| h.fence == fence)
                && !handle.tx.is_closed()
            {
                lost.push((id, handle));
            }
        }
        for (id, handle) in lost {
            // Deleted through another node: the people in it are told the
            // room closed, as on the node that deleted it.
            let msg = if self.store.room(&id).await?.is_none() {
                tracing::warn!(
                    room = id.as_str(),
                    "the room was deleted through another node"
                );
                RoomMsg::Stop {
                    reply: oneshot::channel().0,
                }
            } else {
                tracing::warn!(room = id.as_str(), "another node took the room over");
                RoomMsg::Moved
            };
            // A full queue: the room is busy, so its next append fails on
            // the fence and stops it all the same.
            let _ = handle.tx.try_send(msg);
        }
        Ok(())
    }
}
