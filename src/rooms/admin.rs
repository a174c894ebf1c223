//! What the program API needs of running rooms beyond sessions: reach a room
//! only if it runs (a stopped room learns from the store when it starts),
//! read its state, and stop it for good when its record is deleted.

use std::fmt;

use tokio::sync::oneshot;

use super::{RoomHandle, RoomMsg, Rooms, RoomsError};
use crate::circle::Room;

/// A read of a running room's state, run inside its task.
pub struct Inspect(Box<dyn FnOnce(&Room) + Send>);

impl Inspect {
    pub(super) fn run(self, room: &Room) {
        (self.0)(room)
    }
}

impl fmt::Debug for Inspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Inspect")
    }
}

impl RoomHandle {
    /// Runs `read` on the room's state inside its task and returns its answer.
    pub async fn inspect<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Room) -> T + Send + 'static,
    ) -> Result<T, RoomsError> {
        let (reply, answer) = oneshot::channel();
        let inspect = Inspect(Box::new(move |room: &Room| {
            let _ = reply.send(read(room));
        }));
        self.send(RoomMsg::Inspect(inspect)).await?;
        answer.await.map_err(|_| RoomsError::Stopped)
    }
}

impl Rooms {
    /// The room's handle if its task runs; never starts it. Waits while the
    /// room is starting or stopping.
    pub async fn running(&self, room_id: &str) -> Option<RoomHandle> {
        // Asking makes no slot: ids the API is asked about need not be rooms.
        let slot = self.existing_slot(room_id)?;
        let held = slot.lock().await;
        held.as_ref()
            .filter(|handle| !handle.tx.is_closed())
            .cloned()
    }

    /// Runs `with` while the room can neither start nor stop, passing its
    /// handle if it runs. An input sent there reaches the room; if it is
    /// not running, it reads the store when it starts, after `with`.
    pub async fn with_running<T>(
        &self,
        room_id: &str,
        with: impl AsyncFnOnce(Option<&RoomHandle>) -> T,
    ) -> T {
        let slot = self.slot(room_id);
        let held = slot.lock().await;
        let handle = held.as_ref().filter(|handle| !handle.tx.is_closed());
        with(handle).await
    }

    /// Stops the room's task (everyone connected is ended with
    /// `room_closed`), then runs `delete`, all while the room cannot be
    /// started again: nobody can arrive between the two.
    pub async fn stop_and<T>(&self, room_id: &str, delete: impl AsyncFnOnce() -> T) -> T {
        let slot = self.slot(room_id);
        let mut held = slot.lock().await;
        if let Some(handle) = held.take() {
            let (reply, stopped) = oneshot::channel();
            if handle.send(RoomMsg::Stop { reply }).await.is_ok() {
                let _ = stopped.await;
            }
        }
        delete().await
    }
}
