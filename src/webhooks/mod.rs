//! Webhooks (SPEC §5.9, §6.2): events from the store's outbox, POSTed to the
//! configured URL one at a time in the order they happened, signed with
//! HMAC-SHA256 over `"<unix time>.<body>"`, and retried with exponential
//! backoff and jitter until the receiver answers 2xx. The outbox is written
//! in the same transaction as the journal entry that caused each event, so
//! neither a receiver outage nor a restart loses one.
//!
//! Receivers verify with [`verify`] (or its description in docs/api.md) and
//! drop an event id they have seen already: a replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::circle::Timestamp;
use crate::config::WebhooksConfig;
use crate::rooms::{Node, wall_clock};
use crate::store::{OutboxRow, Store, StoreError};

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "Circlekeeper-Signature";
/// The event's id, also in the body: a receiver that has seen it drops the delivery.
pub const EVENT_ID_HEADER: &str = "Circlekeeper-Event-Id";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, t: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Circlekeeper-Signature` value for `body` sent at unix time `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is not t=<unix>,v1=<hex>")]
    Malformed,
    /// Older (or newer) than the tolerance: possibly a replay.
    #[error("the signature's time is outside the tolerance")]
    Stale,
    /// The body or the time was changed, or another secret signed it.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a delivery as a receiver should: the header parses, its time is
/// within `tolerance_secs` of `now_secs`, and one `v1` matches the HMAC of
/// `"<t>.<body>"` (compared in constant time). Receivers must also drop
/// event ids they have already handled.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: u64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<u64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if t.abs_diff(now_secs) > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    let expected: [u8; 32] = mac(secret, t, body).finalize().into_bytes().into();
    let matched = signatures
        .iter()
        .fold(0u8, |any, s| any | expected.ct_eq(s.as_slice()).unwrap_u8());
    if matched == 1 {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The wait before retry number `attempts` (1 after the first failure):
/// `initial · 2^(attempts-1)`, at most `max`, then a random point in its
/// upper half so that many servers do not retry in step.
pub fn backoff_ms(attempts: u32, initial_ms: u64, max_ms: u64, rng: &mut impl Rng) -> u64 {
    let exp = attempts.saturating_sub(1).min(40);
    let delay = initial_ms.saturating_mul(1u64 << exp).min(max_ms).max(1);
    rng.random_range(delay / 2..=delay)
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to send.
    Idle,
    /// The head event is not due before this time.
    NotYet(Timestamp),
    Delivered(String),
    /// Failed; retried later (or set aside when it gave up).
    Failed {
        id: String,
        gave_up: bool,
    },
}

/// Sends outbox events to the configured URL.
pub struct Dispatcher {
    store: Store,
    /// Parsed once from `webhooks.url`.
    url: hyper::Uri,
    secret: String,
    config: WebhooksConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// With several nodes on one store, only the node holding the
    /// `webhooks` duty delivers, so each event goes out once (SPEC §6.6).
    node: Option<Node>,
    /// When this node's claim on the duty ends (ms), as it last wrote it;
    /// 0 when it holds none.
    held_until: AtomicU64,
}

impl Dispatcher {
    /// `None` when webhooks are not configured (no URL or no secret), or
    /// their CA file cannot be read (logged).
    pub fn new(store: Store, config: &WebhooksConfig) -> Option<Dispatcher> {
        let url = config.url.as_ref()?.parse().ok()?;
        let secret = config.secret.clone()?;
        let connector = match https_connector(config.ca_file.as_deref()) {
            Ok(connector) => connector,
            Err(error) => {
                tracing::error!(%error, "webhooks disabled: no TLS trust store");
                return None;
            }
        };
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Some(Dispatcher {
            store,
            url,
            secret,
            config: config.clone(),
            client,
            node: None,
            held_until: AtomicU64::new(0),
        })
    }

    /// Delivers only while `node` holds the `webhooks` duty.
    pub fn as_node(mut self, node: Node) -> Dispatcher {
        self.node = Some(node);
        self
    }

    /// Whether this node may deliver now. The claim outlasts the lease by a
    /// delivery's timeout, so it cannot lapse during a POST in progress. It
    /// is renewed once a third of the lease has passed, not at every poll:
    /// until then it still covers the next POST with the same margin.
    async fn on_duty(&self, now: Timestamp) -> Result<bool, StoreError> {
        let Some(node) = &self.node else {
            return Ok(true);
        };
        let timeout_ms = u64::from(self.config.timeout_seconds) * 1000;
        let lease_ms = u64::try_from(node.lease.as_millis()).unwrap_or(u64::MAX);
        let margin = (lease_ms / 3 * 2).saturating_add(timeout_ms);
        if self.held_until.load(Ordering::Relaxed) > now.0.saturating_add(margin) {
            return Ok(true);
        }
        let until = node.lease_until().plus_ms(timeout_ms);
        let held = self.store.hold_duty("webhooks", &node.id, now, until).await;
        let kept = if matches!(held, Ok(true)) { until.0 } else { 0 };
        self.held_until.store(kept, Ordering::Relaxed);
        held
    }

    /// One step: sends the oldest pending event if it is due at `now`.
    pub async fn deliver_next(&self, now: Timestamp) -> Result<Outcome, StoreError> {
        let Some(event) = self.store.outbox_head().await? else {
            return Ok(Outcome::Idle);
        };
        if event.next_attempt_at > now {
            return Ok(Outcome::NotYet(event.next_attempt_at));
        }
        match self.post(&event, now).await {
            Ok(()) => {
                self.store.outbox_delivered(&event.id).await?;
                metrics::counter!("circlekeeper_webhooks_delivered_total").increment(1);
                Ok(Outcome::Delivered(event.id))
            }
            Err(error) => {
                let attempts = event.attempts.saturating_add(1);
                let gave_up = self.config.max_attempts != 0 && attempts >= self.config.max_attempts;
                let wait = backoff_ms(
                    attempts,
                    self.config.retry_initial_ms,
                    self.config.retry_max_ms,
                    &mut rand::rng(),
                );
                self.store
                    .outbox_failed(&event.id, now, now.plus_ms(wait), gave_up, &error)
                    .await?;
                metrics::counter!("circlekeeper_webhooks_failed_total").increment(1);
                if gave_up {
                    tracing::error!(event = %event.id, attempts, %error, "webhook given up; kept in the outbox");
                } else {
                    tracing::warn!(event = %event.id, attempts, wait_ms = wait, %error, "webhook delivery failed");
                }
                Ok(Outcome::Failed {
                    id: event.id,
                    gave_up,
                })
            }
        }
    }

    /// One POST; `Err` carries a short cause for the log and the outbox row.
    async fn post(&self, event: &OutboxRow, now: Timestamp) -> Result<(), String> {
        let t = now.0 / 1000;
        let body = Bytes::from(event.body.clone());
        let signature = sign(&self.secret, t, &body);
        let request = Request::post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static("circlekeeper-webhooks/1"),
            )
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event.id.as_str())
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        let timeout = Duration::from_secs(u64::from(self.config.timeout_seconds));
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err("timed out".into()),
            Ok(Err(e)) => Err(format!("connection: {e}")),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("status {}", response.status().as_u16())),
        }
    }

    /// Delivers until `shutdown` turns true: sends whatever is due, then
    /// waits for the next due time or `poll_ms`, whichever is sooner.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.config.poll_ms);
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = wall_clock();
            // Shutdown interrupts a delivery too; the event stays in the
            // outbox and goes again after the restart (receivers drop repeats by id).
            let outcome = match self.on_duty(now).await {
                // Another node delivers; look again later, in case it stops.
                Ok(false) => Ok(Outcome::Idle),
                Ok(true) => tokio::select! {
                    outcome = self.deliver_next(now) => outcome,
                    _ = shutdown.wait_for(|stop| *stop) => break,
                },
                Err(error) => Err(error),
            };
            let wait = match outcome {
                Ok(Outcome::Delivered(_)) => continue,
                Ok(Outcome::Idle) => poll,
                Ok(Outcome::NotYet(at)) => {
                    Duration::from_millis(at.0.saturating_sub(now.0)).min(poll)
                }
                // The next turn reads the new due time.
                Ok(Outcome::Failed { .. }) => Duration::ZERO,
                Err(error) => {
                    tracing::error!(%error, "webhook outbox unreadable");
                    poll
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    }
}

/// HTTPS (or plain HTTP) to the receiver, trusting the system's CAs and,
/// when configured, the program's own CA (`webhooks.ca_file`).
fn https_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<HttpsConnector<HttpConnector>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    } else if added == 0 {
        tracing::warn!("no system CA certificates found: https webhooks will fail");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build())
}

/// Starts the dispatcher when webhooks are configured.
pub fn spawn_dispatcher(app: &Arc<crate::server::App>) -> Option<tokio::task::JoinHandle<()>> {
    let mut dispatcher = Dispatcher::new(app.store.clone(), &app.config.webhooks)?;
    // SQLite is one node's store: no duty to share, and no write per poll.
    if app.store.backend() == crate::store::Backend::Postgres {
        dispatcher = dispatcher.as_node(app.rooms.node().clone());
    }
    Some(tokio::spawn(dispatcher.run(app.shutdown.clone())))
}
