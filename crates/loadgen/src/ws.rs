//! A minimal signalling client for `/ws` (docs/protocol.md): connect, `hello`,
//! consent, and reading messages. Adapted from the test client in tests/common.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

/// Waiting longer than this for a message is a failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
    /// The latest `state` view.
    pub view: Value,
    /// Every message received before a [`testpeer::Peer`] took the client over.
    pub log: Vec<Value>,
    pub you: u64,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        // A small read buffer (tungstenite zeroes the whole default 128 KiB one
        // before each read): thousands of idle sessions live in this process too.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
        let (ws, _) = connect_async_with_config(format!("ws://{addr}/ws"), Some(config), true)
            .await
            .context("websocket connect")?;
        Ok(Client {
            ws,
            next_ref: 1,
            view: Value::Null,
            log: Vec::new(),
            you: 0,
        })
    }

    pub async fn try_send(&mut self, value: Value) -> bool {
        self.ws.send(Message::text(value.to_string())).await.is_ok()
    }

    /// The next text message; `None` once the socket closed.
    pub async fn next_message(&mut self) -> Option<Value> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).ok()?;
                    if value["type"] == "state" {
                        self.view = value["view"].clone();
                    }
                    if value["type"] == "welcome" {
                        self.you = value["you"].as_u64().unwrap_or(0);
                    }
                    self.log.push(value.clone());
                    return Some(value);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for the next frame without looking into it (a held session only
    /// needs to keep reading, which also answers pings); false once closed.
    pub async fn next_frame(&mut self) -> bool {
        matches!(self.ws.next().await, Some(Ok(msg)) if !msg.is_close())
    }

    async fn recv(&mut self) -> anyhow::Result<Value> {
        tokio::time::timeout(PATIENCE, self.next_message())
            .await
            .map_err(|_| anyhow!("no message in time"))?
            .ok_or_else(|| anyhow!("socket closed"))
    }

    async fn until(&mut self, kind: &str) -> anyhow::Result<Value> {
        loop {
            let msg = self.recv().await?;
            if msg["type"] == kind {
                return Ok(msg);
            }
        }
    }

    /// `hello` with an invitation token; returns the `welcome` after the first `state`.
    pub async fn hello(&mut self, token: &str) -> anyhow::Result<Value> {
        let first = self.hello_answer(token).await?;
        if first["type"] != "welcome" {
            bail!("hello refused: {first}");
        }
        Ok(first)
    }

    /// `hello`, and whatever answers it: `welcome` (read on to the first
    /// `state`), `redirect` or `error`.
    pub async fn hello_answer(&mut self, token: &str) -> anyhow::Result<Value> {
        self.try_send(json!({"type": "hello", "v": 1, "token": token}))
            .await;
        let first = self.recv().await?;
        if first["type"] == "welcome" {
            self.until("state").await?;
        }
        Ok(first)
    }

    /// Accepts every consent item of the current terms.
    pub async fn consent_all(&mut self) -> anyhow::Result<()> {
        let terms = self.view["terms"].clone();
        let answers: Vec<Value> = terms["items"]
            .as_array()
            .context("consent items in the view")?
            .iter()
            .map(|item| json!({"item": item["id"], "accept": true}))
            .collect();
        let reference = self.next_ref;
        self.next_ref += 1;
        let command = json!({"type": "consent", "version": terms["version"],
            "answers": answers, "ref": reference});
        self.try_send(command).await;
        loop {
            let msg = self.recv().await?;
            if msg["ref"] == json!(reference) {
                return match msg["type"].as_str() {
                    Some("ok") => Ok(()),
                    _ => Err(anyhow!("consent refused: {msg}")),
                };
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A [`testpeer::Peer`] takes the client over after the handshake.
#[async_trait::async_trait]
impl testpeer::Socket for Client {
    async fn next_message(&mut self) -> Option<Value> {
        Client::next_message(self).await
    }

    async fn try_send(&mut self, value: Value) -> bool {
        Client::try_send(self, value).await
    }

    async fn close(self) {
        Client::close(self).await;
    }

    fn arrival(&mut self) -> (u64, Value, Vec<Value>) {
        (self.you, self.view.clone(), std::mem::take(&mut self.log))
    }
}
