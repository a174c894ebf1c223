//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz) and for the
//! tests that replay their corpus on the stable toolchain. Each takes raw
//! bytes and must never panic, whatever they are (SPEC §5.8).

use crate::auth::TokenKeys;
use crate::circle::{Input, Phase, Room, RoomKind, Settings, Timestamp};
use crate::signal::wire::parse_client;

/// One signalling frame as a client could send it.
pub fn signalling_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_client(text);
    }
}

/// A token as it could arrive in `hello`, verified with a fixed key.
pub fn invitation_token(data: &[u8]) {
    thread_local! {
        static KEYS: Option<TokenKeys> =
            TokenKeys::from_secret(b"fuzzing-secret-fuzzing-secret-32", "circlekeeper", "circlekeeper-join").ok();
    }
    if let Ok(token) = std::str::from_utf8(data) {
        KEYS.with(|keys| {
            if let Some(keys) = keys {
                let _ = keys.verify(token);
            }
        });
    }
}

/// Lines of JSON inputs (as the journal stores them) fed to a room, with
/// time moving on: no sequence may panic the state machine.
pub fn room_inputs(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let kind = match data.first().map(|b| b % 3) {
        Some(1) => RoomKind::Conference,
        Some(2) => RoomKind::Preparation,
        _ => RoomKind::Circle,
    };
    let mut room = Room::new(Settings::for_kind(kind, "Fuzz"), Phase::Open);
    let mut now = Timestamp(1_800_000_000_000);
    for line in text.lines().take(500) {
        if let Ok(input) = serde_json::from_str::<Input>(line) {
            let _ = room.handle(now, input);
            while room.poll_output().is_some() {}
        }
        now = now.plus_ms(7_919);
        let _ = room.handle(now, Input::Tick);
        while room.poll_output().is_some() {}
    }
}
