//! The signalling edge: `/ws` upgrade with its limits and Origin check, and
//! the adapter from axum's WebSocket to the session loop.

pub mod session;
pub mod wire;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use crate::rooms::OutFrame;
use crate::server::App;
use session::{InFrame, WriteFrame};

/// Initial read buffer of a WebSocket. tungstenite's default (128 KiB) is zeroed
/// in full before each read, which made it most of an idle session's memory and a
/// memset per message; signalling messages are small, and a larger one grows the
/// buffer to its announced length.
const READ_BUFFER: usize = 8 * 1024;

/// `GET /ws`: checks Origin and connection limits before upgrading.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| app.origin_allowed(o));
        if !allowed {
            metrics::counter!("circlekeeper_ws_rejected_total", "why" => "origin").increment(1);
            return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
        }
    }
    let Some(permit) = app.connections.admit(peer.ip()) else {
        metrics::counter!("circlekeeper_ws_rejected_total", "why" => "limit").increment(1);
        return (StatusCode::TOO_MANY_REQUESTS, "too many connections").into_response();
    };
    let max = app.config.limits.max_message_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .max_write_buffer_size(4 * max + 128 * 1024)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            metrics::gauge!("circlekeeper_sessions").increment(1.0);
            serve_socket(app, socket).await;
            metrics::gauge!("circlekeeper_sessions").decrement(1.0);
        })
}

async fn serve_socket(app: Arc<App>, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let sink =
        sink.with(|frame: WriteFrame| async move { Ok::<_, axum::Error>(to_message(frame)) });
    let stream = stream.map(|item| match item {
        Ok(Message::Text(text)) => InFrame::Text(text.as_str().to_owned()),
        Ok(Message::Binary(_)) => InFrame::Binary,
        Ok(Message::Ping(_) | Message::Pong(_)) => InFrame::Alive,
        Ok(Message::Close(_)) => InFrame::Close,
        Err(error) => read_error(error),
    });
    session::run(app, Box::pin(sink), Box::pin(stream)).await;
}

fn to_message(frame: WriteFrame) -> Message {
    match frame {
        WriteFrame::Out(OutFrame::Text(text)) => Message::Text(text.into()),
        WriteFrame::Out(OutFrame::Close { code, reason }) => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
        WriteFrame::Ping => Message::Ping(Vec::new().into()),
    }
}

/// A read error the session answers with a close code (1009, 1007), or
/// the end of the connection.
fn read_error(error: axum::Error) -> InFrame {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = error.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => InFrame::TooLarge,
        Some(WsError::Utf8(_)) => InFrame::NotUtf8,
        _ => InFrame::Close,
    }
}

/// Counts live connections per address and in all (SPEC §5.6).
pub struct Connections {
    per_ip: std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    total: Arc<tokio::sync::Semaphore>,
}

/// Held for the life of one connection; gives its place back on drop.
pub struct ConnectionPermit {
    connections: Arc<Connections>,
    ip: IpAddr,
    _total: tokio::sync::OwnedSemaphorePermit,
}

impl Connections {
    pub fn new(max_per_ip: usize, max_total: usize) -> Arc<Connections> {
        Arc::new(Connections {
            per_ip: std::sync::Mutex::new(std::collections::HashMap::new()),
            max_per_ip,
            total: Arc::new(tokio::sync::Semaphore::new(max_total)),
        })
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionPermit> {
        let total = self.total.clone().try_acquire_owned().ok()?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return None;
        }
        *count += 1;
        Some(ConnectionPermit {
            connections: self.clone(),
            ip,
            _total: total,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut per_ip = self
            .connections
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
