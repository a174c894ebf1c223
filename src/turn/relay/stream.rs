//! TURN over TCP and over TLS (RFC 8656 §3.1, RFC 6062 framing) as one
//! datagram-like connection for the TURN server: each client connection's
//! STUN messages and ChannelData frames come out of `recv_from` tagged with
//! the client's address, and `send_to` writes to that client's connection.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use webrtc_util::Conn;

/// A client that sends nothing for this long is gone (browsers check
/// consent through the relay every few seconds).
const IDLE: Duration = Duration::from_secs(60);
/// The TLS handshake must be done by then.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Frames waiting for one client's socket; past it, frames drop as datagrams would.
const CLIENT_QUEUE: usize = 256;

type Frame = (Vec<u8>, SocketAddr);

pub struct StreamConn {
    local: SocketAddr,
    inbound: tokio::sync::Mutex<mpsc::Receiver<Frame>>,
    writers: Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
}

/// Serves `listener` (with `tls`, over TLS) until `stop` turns true, at most
/// `max_clients` connections at once. Also returns the addresses of clients
/// whose connection ended, as they end.
pub fn listen(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    max_clients: usize,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(Arc<StreamConn>, mpsc::UnboundedReceiver<SocketAddr>)> {
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::channel(1024);
    let conn = Arc::new(StreamConn {
        local: listener.local_addr()?,
        inbound: tokio::sync::Mutex::new(rx),
        writers: Mutex::new(HashMap::new()),
    });
    let clients = Arc::new(AtomicUsize::new(0));
    let accepting = Arc::clone(&conn);
    let mut stopped = stop.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, from) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => continue,
                },
                _ = stopped.wait_for(|s| *s) => break,
            };
            if clients.fetch_add(1, Ordering::SeqCst) >= max_clients {
                clients.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let _ = tcp.set_nodelay(true);
            let (conn, tx, tls, clients, mut stop, ended_tx) = (
                Arc::clone(&accepting),
                tx.clone(),
                tls.clone(),
                Arc::clone(&clients),
                stop.clone(),
                ended_tx.clone(),
            );
            tokio::spawn(async move {
                tokio::select! {
                    () = async {
                        match tls {
                            Some(tls) => {
                                if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE, tls.accept(tcp)).await {
                                    conn.serve(stream, from, tx).await;
                                }
                            }
                            None => conn.serve(tcp, from, tx).await,
                        }
                    } => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                conn.forget(from);
                clients.fetch_sub(1, Ordering::SeqCst);
                let _ = ended_tx.send(from);
            });
        }
    });
    Ok((conn, ended))
}

impl StreamConn {
    async fn serve<S>(&self, stream: S, from: SocketAddr, inbound: mpsc::Sender<Frame>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CLIENT_QUEUE);
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(from, tx);
        let write = async {
            while let Some(frame) = rx.recv().await {
                if writer.write_all(&frame).await.is_err() {
                    break;
                }
            }
        };
        let read = async {
            while let Ok(Ok(Some(frame))) =
                tokio::time::timeout(IDLE, read_frame(&mut reader)).await
            {
                if inbound.send((frame, from)).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = write => {}
            () = read => {}
        }
    }

    fn forget(&self, client: SocketAddr) {
        self.writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&client);
    }
}

/// One STUN message or ChannelData frame; `None` at the end of the stream or
/// on something that is neither.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    if reader.read_exact(&mut head).await.is_err() {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let (rest, padding) = match head[0] >> 6 {
        // STUN: a 20-byte header, then `length` bytes of attributes (a multiple of 4).
        0b00 => (16 + length, 0),
        // ChannelData: `length` bytes of data, padded to 4 over a stream.
        0b01 => (length, (4 - length % 4) % 4),
        _ => return Ok(None),
    };
    let mut frame = vec![0u8; 4 + rest];
    frame[..4].copy_from_slice(&head);
    reader.read_exact(&mut frame[4..]).await?;
    if padding > 0 {
        let mut pad = [0u8; 3];
        reader.read_exact(&mut pad[..padding]).await?;
    }
    Ok(Some(frame))
}

#[async_trait]
impl Conn for StreamConn {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "a listener is not connected".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let mut inbound = self.inbound.lock().await;
        loop {
            let Some((frame, from)) = inbound.recv().await else {
                return Err(webrtc_util::Error::Other("listener closed".into()));
            };
            // Larger than the server's buffer: not a frame it could use.
            if frame.len() <= buf.len() {
                buf[..frame.len()].copy_from_slice(&frame);
                return Ok((frame.len(), from));
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("use send_to".into()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let writer = self
            .writers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&target)
            .cloned();
        if let Some(writer) = writer {
            // Full: dropped, as a datagram would be.
            let _ = writer.try_send(buf.to_vec());
        }
        Ok(buf.len())
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_are_cut_at_stun_and_padded_channel_data_boundaries() {
        let mut stream: Vec<u8> = Vec::new();
        // A STUN Binding request with one 4-byte attribute.
        stream.extend([0x00, 0x01, 0x00, 0x08]);
        stream.extend([0x21, 0x12, 0xA4, 0x42]);
        stream.extend([7u8; 12]);
        stream.extend([0x80, 0x22, 0x00, 0x04, b'a', b'b', b'c', b'd']);
        // ChannelData on 0x4000 with 5 bytes, padded with 3.
        stream.extend([0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]);
        // Neither.
        stream.extend([0xFF, 0, 0, 0]);
        let mut reader = &stream[..];
        let first = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(first.len(), 28);
        let second = read_frame(&mut reader).await.unwrap().unwrap();
        assert_eq!(second, [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(read_frame(&mut reader).await.unwrap(), None);
    }
}
