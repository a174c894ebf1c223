//! One signalling session: `hello` with the invitation token, arrival in the
//! room, then commands in and room messages out. Generic over the frame
//! stream and sink, so it runs on a real WebSocket or on test channels.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use governor::{Quota, RateLimiter};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::wire::{ClientMsg, Control, PROTOCOL_VERSION, control_json, error_json, parse_client};
use crate::circle::SessionId;
use crate::invitations::{TokenRefusal, check_token};
use crate::rooms::{OutFrame, Outbound, RoomHandle, RoomMsg, RoomsError};
use crate::server::App;

/// A frame read from the client, as far as the session cares.
#[derive(Debug)]
pub enum InFrame {
    Text(String),
    /// Binary frames are not part of the protocol.
    Binary,
    /// Ping, pong: proof of life only.
    Alive,
    Close,
    /// Over the size limit: closed with 1009.
    TooLarge,
    /// A text frame that is not valid UTF-8: closed with 1007 (RFC 6455 §8.1).
    NotUtf8,
}

/// How long a new connection has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent this long is gone (browsers answer our pings).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const PING_EVERY: Duration = Duration::from_secs(20);
/// Most frames written before one flush.
const WRITE_BATCH: usize = 64;
/// Messages refused by the rate limit before the connection is closed.
const RATE_STRIKES: u32 = 20;

pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Invalid frame payload data: a text frame that is not UTF-8.
pub const CLOSE_NOT_UTF8: u16 = 1007;
pub const CLOSE_RESTART: u16 = 1012;

/// Frames the session writes: room frames, plus pings of its own.
#[derive(Debug)]
pub enum WriteFrame {
    Out(OutFrame),
    Ping,
}

pub async fn run<S, R>(app: Arc<App>, sink: S, mut stream: R)
where
    S: Sink<WriteFrame> + Unpin,
    R: Stream<Item = InFrame> + Unpin,
{
    let limits = &app.config.limits;
    let (frames, queue) = mpsc::channel(limits.outbound_queue);
    let drop_now = Arc::new(Notify::new());
    let outbound = Outbound {
        frames: frames.clone(),
        drop_now: drop_now.clone(),
    };
    // Reading and writing share the session's task: a task of its own for
    // the writer cost a spawn per connection and a wake of another task for
    // every frame the room sends (docs/benchmarks.md).
    let writer = write_loop(sink, queue, drop_now, app.shutdown.clone());
    let reader = async {
        let ending = match arrive(&app, &mut stream, outbound).await {
            Ok((room, session)) => {
                let ending = read_loop(&app, &mut stream, &frames, &room, session).await;
                let _ = room.send(RoomMsg::Disconnect { session }).await;
                ending
            }
            Err(ending) => ending,
        };
        // The writer ends once the room's copy of the queue is gone too.
        drop(frames);
        ending
    };
    let (ending, ()) = tokio::join!(reader, writer);
    if ending == Ending::ByUs {
        // Finish the closing handshake: read on until the client's close, so
        // our close frame is not lost to a reset of a connection with unread data.
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            while let Some(frame) = stream.next().await {
                if matches!(frame, InFrame::Close) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Who ended the session: we (a close frame was queued) or the client.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    ByUs,
    ByPeer,
}

/// One clock for every session's rate limiter: making a clock reads the CPU's
/// features and calibrates, about 1.5 % of the server's CPU in an arrival burst.
static RATE_CLOCK: std::sync::LazyLock<governor::clock::QuantaClock> =
    std::sync::LazyLock::new(governor::clock::QuantaClock::default);

/// How long a close we sent waits for the client's answering close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// Why a connection was turned away at `hello`: told to the client, then closed.
struct Refused {
    code: &'static str,
    message: String,
    close: u16,
    /// Another node runs the room: its public URL, sent as `redirect`
    /// instead of `error`.
    redirect: Option<String>,
}

impl Refused {
    fn policy(code: &'static str, message: impl Into<String>) -> Refused {
        Refused {
            code,
            message: message.into(),
            close: CLOSE_POLICY,
            redirect: None,
        }
    }
}

/// The first frame must be `hello` with a valid token for an existing room.
async fn arrive<R>(
    app: &App,
    stream: &mut R,
    outbound: Outbound,
) -> Result<(RoomHandle, SessionId), Ending>
where
    R: Stream<Item = InFrame> + Unpin,
{
    let frames = outbound.frames.clone();
    match hello(app, stream, outbound).await {
        Ok(Some(arrived)) => Ok(arrived),
        Ok(None) => Err(Ending::ByPeer),
        Err(refused) => {
            let text = match &refused.redirect {
                Some(url) => control_json(&Control::Redirect { url }),
                None => error_json(refused.code, &refused.message, None),
            };
            let _ = frames.try_send(OutFrame::Text(text));
            let _ = frames.try_send(OutFrame::Close {
                code: refused.close,
                reason: "refused",
            });
            Err(Ending::ByUs)
        }
    }
}

/// `Ok(None)`: the client went away before saying anything.
async fn hello<R>(
    app: &App,
    stream: &mut R,
    outbound: Outbound,
) -> Result<Option<(RoomHandle, SessionId)>, Refused>
where
    R: Stream<Item = InFrame> + Unpin,
{
    let hello_required = || Refused::policy("hello_required", "the first message must be hello");
    let not_utf8 = || Refused {
        code: "not_utf8",
        message: "text frames must be UTF-8".into(),
        close: CLOSE_NOT_UTF8,
        redirect: None,
    };
    let first = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(InFrame::Text(text))) => text,
        Ok(Some(InFrame::TooLarge)) => {
            return Err(Refused {
                code: "too_large",
                message: "message too large".into(),
                close: CLOSE_TOO_BIG,
                redirect: None,
            });
        }
        Ok(Some(InFrame::NotUtf8)) => return Err(not_utf8()),
        Ok(Some(_)) | Err(_) => return Err(hello_required()),
        Ok(None) => return Ok(None),
    };
    let token = match parse_client(&first) {
        Ok(ClientMsg::Hello { v, token }) if v == PROTOCOL_VERSION => token,
        Ok(ClientMsg::Hello { .. }) => {
            return Err(Refused::policy(
                "unsupported_version",
                "this server speaks protocol version 1",
            ));
        }
        Ok(ClientMsg::Command { .. } | ClientMsg::Media { .. }) => return Err(hello_required()),
        Err(error) => return Err(Refused::policy(error.code(), error.to_string())),
    };
    let server_error = |error: &dyn std::fmt::Display| {
        tracing::error!(%error, "arrival failed");
        Refused::policy("server_error", "please try again")
    };
    let stored = match check_token(&app.store, &app.keys, &token).await {
        Ok(checked) => checked.stored,
        Err(TokenRefusal::Token(error)) => {
            return Err(Refused::policy(error.code(), error.to_string()));
        }
        Err(TokenRefusal::Revoked(_)) => {
            return Err(Refused::policy(
                "invitation_revoked",
                "this invitation has been revoked",
            ));
        }
        Err(TokenRefusal::Store(error)) => return Err(server_error(&error)),
    };
    let gone = || Refused {
        code: "room_gone",
        message: "the room is not available now".into(),
        close: CLOSE_RESTART,
        redirect: None,
    };
    let room = match app.rooms.get(&stored.room_id).await {
        Ok(room) => room,
        Err(RoomsError::Unknown) => {
            return Err(Refused::policy(
                "room_unknown",
                "this link is not for a room on this server",
            ));
        }
        // Shutting down: no room starts any more; come back after the restart.
        Err(RoomsError::Stopped) => return Err(gone()),
        Err(RoomsError::Elsewhere(url)) => {
            return Err(Refused {
                code: "redirect",
                message: String::new(),
                close: CLOSE_RESTART,
                redirect: Some(url),
            });
        }
        Err(error) => return Err(server_error(&error)),
    };
    let (reply, answer) = oneshot::channel();
    let arrival = RoomMsg::Arrive {
        invitation: stored.invitation,
        outbound,
        reply,
    };
    room.send(arrival).await.map_err(|_| gone())?;
    match answer.await.map_err(|_| gone())? {
        Ok(session) => Ok(Some((room, session))),
        // Not written, so not in: the room reloads from its journal; try again.
        Err(refusal @ crate::circle::Refusal::NotSaved) => Err(Refused {
            code: refusal.code(),
            message: refusal.to_string(),
            close: CLOSE_RESTART,
            redirect: None,
        }),
        Err(refusal) => Err(Refused::policy(refusal.code(), refusal.to_string())),
    }
}

async fn read_loop<R>(
    app: &App,
    stream: &mut R,
    frames: &mpsc::Sender<OutFrame>,
    room: &RoomHandle,
    session: SessionId,
) -> Ending
where
    R: Stream<Item = InFrame> + Unpin,
{
    let limits = &app.config.limits;
    let per_second =
        std::num::NonZeroU32::new(limits.messages_per_second).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = std::num::NonZeroU32::new(limits.message_burst).unwrap_or(per_second);
    let limiter = RateLimiter::direct_with_clock(
        Quota::per_second(per_second).allow_burst(burst),
        RATE_CLOCK.clone(),
    );
    let mut strikes = 0u32;
    loop {
        // The writer gone (slow client dropped, shutdown) ends the session too.
        let frame = tokio::select! {
            frame = tokio::time::timeout(IDLE_TIMEOUT, stream.next()) => match frame {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => return Ending::ByPeer,
            },
            () = frames.closed() => return Ending::ByUs,
        };
        let text = match frame {
            InFrame::Text(text) => text,
            InFrame::Alive => continue,
            InFrame::Close => return Ending::ByPeer,
            InFrame::TooLarge => {
                let _ = frames.try_send(OutFrame::Close {
                    code: CLOSE_TOO_BIG,
                    reason: "message too large",
                });
                return Ending::ByUs;
            }
            InFrame::NotUtf8 => {
                let _ = frames.try_send(OutFrame::Close {
                    code: CLOSE_NOT_UTF8,
                    reason: "text frames are UTF-8",
                });
                return Ending::ByUs;
            }
            InFrame::Binary => {
                let _ = frames.try_send(OutFrame::Text(error_json(
                    "not_text",
                    "messages are JSON text",
                    None,
                )));
                continue;
            }
        };
        if limiter.check().is_err() {
            strikes += 1;
            metrics::counter!("circlekeeper_rate_limited_total").increment(1);
            // Every refused message gets its error, the last one too: after
            // the RATE_STRIKES-th error the connection closes.
            let _ = frames.try_send(OutFrame::Text(error_json(
                "rate_limited",
                "slow down",
                None,
            )));
            if strikes >= RATE_STRIKES {
                let _ = frames.try_send(OutFrame::Close {
                    code: CLOSE_POLICY,
                    reason: "too many messages",
                });
                return Ending::ByUs;
            }
            continue;
        }
        match parse_client(&text) {
            Ok(ClientMsg::Command { command, reference }) => {
                let msg = RoomMsg::Command {
                    session,
                    command,
                    reference,
                };
                if room.send(msg).await.is_err() {
                    return Ending::ByUs;
                }
            }
            Ok(ClientMsg::Media { msg, reference }) => {
                let msg = RoomMsg::Media {
                    session,
                    msg,
                    reference,
                };
                if room.send(msg).await.is_err() {
                    return Ending::ByUs;
                }
            }
            Ok(ClientMsg::Hello { .. }) => {
                let _ = frames.try_send(OutFrame::Text(error_json(
                    "already_authenticated",
                    "hello is only the first message",
                    None,
                )));
            }
            Err(error) => {
                let reference = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("ref").and_then(serde_json::Value::as_u64));
                let _ = frames.try_send(OutFrame::Text(error_json(
                    error.code(),
                    &error.to_string(),
                    reference,
                )));
            }
        }
    }
}

/// Writes frames until the queue ends, the room drops a slow client, or the
/// server shuts down; pings keep idle connections visible.
async fn write_loop<S>(
    mut sink: S,
    mut queue: mpsc::Receiver<OutFrame>,
    drop_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: Sink<WriteFrame> + Unpin,
{
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            frame = queue.recv() => {
                let Some(frame) = frame else { break };
                // What is already queued goes out in one write: frames written one
                // by one (a `state`, then the `ok`) wait on the peer's delayed ACK
                // of the previous one (Nagle), about 40 ms each.
                let mut next = Some(frame);
                let mut done = false;
                let mut batch = 0;
                while let Some(frame) = next.take() {
                    let closing = matches!(frame, OutFrame::Close { .. });
                    if sink.feed(WriteFrame::Out(frame)).await.is_err() || closing {
                        done = true;
                        break;
                    }
                    batch += 1;
                    if batch < WRITE_BATCH {
                        next = queue.try_recv().ok();
                    }
                }
                if sink.flush().await.is_err() || done {
                    break;
                }
            }
            () = drop_now.notified() => {
                let close = OutFrame::Close { code: CLOSE_POLICY, reason: "too slow" };
                let _ = sink.send(WriteFrame::Out(close)).await;
                break;
            }
            _ = shutdown.changed() => {
                let close = OutFrame::Close { code: CLOSE_RESTART, reason: "server restarting" };
                let _ = sink.send(WriteFrame::Out(close)).await;
                break;
            }
            _ = ping.tick() => {
                if sink.send(WriteFrame::Ping).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = sink.close().await;
}
