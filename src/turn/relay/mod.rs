//! The embedded TURN relay (SPEC §6.5, promise 13; issue 13): for people whose
//! network lets no UDP through, or only through a relay.
//!
//! The TURN protocol is webrtc-rs's `turn` server; around it, this module
//! gives it what it lacks for this product:
//! - [`stream`]: TURN over TCP and TLS, as the one "connection" per listener
//!   the server reads datagrams from;
//! - [`guard`]: in front of every listener, the refusals (credentials, peers
//!   other than the media addresses, quotas, floods);
//! - [`credentials`]: the TURN REST credentials this server mints, revoked
//!   when a person's media session ends;
//! - [`sockets`]: the relayed sockets, which reach only the media addresses,
//!   within the bandwidth limits;
//! - [`metrics`]: allocations, relayed bytes, refusals.

mod credentials;
mod guard;
mod metrics;
mod sockets;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::Conn;

use credentials::Credentials;

/// Whether the relay may send to (and receive from) an address.
pub type Peers = Arc<dyn Fn(SocketAddr) -> bool + Send + Sync>;

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("TURN listener: {0}")]
    Io(#[from] std::io::Error),
    #[error("TURN server: {0}")]
    Turn(#[from] turn::Error),
}

/// Everything the relay needs to start.
pub struct RelaySettings {
    pub bind_ip: IpAddr,
    /// The relayed address's IP, as clients are told it.
    pub relayed_ip: IpAddr,
    /// The name or address in the URLs clients are given.
    pub host: String,
    pub udp_port: u16,
    pub tcp_port: u16,
    /// TURN over TLS: the port and the certificate.
    pub tls: Option<(u16, Arc<rustls::ServerConfig>)>,
    pub max_allocations: usize,
    pub allocations_per_session: usize,
    pub kbps_per_allocation: u32,
    pub total_kbps: u32,
    /// How long a credential may start allocations.
    pub lifetime: Duration,
}

/// The running relay; stops when [`Relay::close`] is called.
pub struct Relay {
    server: Arc<Server>,
    credentials: Arc<Credentials>,
    urls: Vec<String>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Binds the listeners and starts serving; `secret` is the TURN REST
    /// secret, `peers` the media addresses it may relay to.
    pub async fn start(
        settings: RelaySettings,
        secret: Vec<u8>,
        peers: Peers,
    ) -> Result<Relay, RelayError> {
        let credentials = Arc::new(Credentials::new(
            secret,
            settings.lifetime,
            crate::turn::unix_now,
        ));
        let (stop, stopped) = watch::channel(false);
        let slot: Arc<OnceLock<Arc<Server>>> = Arc::new(OnceLock::new());
        let live = Arc::new(AtomicUsize::new(0));
        let total = sockets::byte_limiter(settings.total_kbps).map(Arc::new);
        let relayed = metrics::Relayed::new();
        let guarded = |conn: Arc<dyn Conn + Send + Sync>, ended| ConnConfig {
            conn: Arc::new(guard::Guarded::new(
                conn,
                Arc::clone(&credentials),
                Arc::clone(&peers),
                Arc::clone(&slot),
                settings.allocations_per_session,
                ended,
            )),
            relay_addr_generator: Box::new(sockets::Relays {
                bind_ip: settings.bind_ip,
                relayed_ip: settings.relayed_ip,
                peers: Arc::clone(&peers),
                live: Arc::clone(&live),
                max: settings.max_allocations,
                kbps: settings.kbps_per_allocation,
                total: total.clone(),
                metrics: relayed.clone(),
            }),
        };

        let host = bracketed(&settings.host);
        let mut urls = Vec::new();
        let mut configs = Vec::new();
        let udp = UdpSocket::bind(SocketAddr::new(settings.bind_ip, settings.udp_port)).await?;
        urls.push(format!(
            "turn:{host}:{}?transport=udp",
            udp.local_addr()?.port()
        ));
        configs.push(guarded(Arc::new(udp), None));
        let tcp = TcpListener::bind(SocketAddr::new(settings.bind_ip, settings.tcp_port)).await?;
        urls.push(format!(
            "turn:{host}:{}?transport=tcp",
            tcp.local_addr()?.port()
        ));
        let (tcp, ended) = stream::listen(tcp, None, settings.max_allocations, stopped.clone())?;
        configs.push(guarded(tcp, Some(ended)));
        if let Some((port, config)) = settings.tls {
            let tls = TcpListener::bind(SocketAddr::new(settings.bind_ip, port)).await?;
            urls.push(format!(
                "turns:{host}:{}?transport=tcp",
                tls.local_addr()?.port()
            ));
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let (tls, ended) =
                stream::listen(tls, Some(acceptor), settings.max_allocations, stopped)?;
            configs.push(guarded(tls, Some(ended)));
        }

        // An ended allocation's client address no longer holds its username.
        let (closed_tx, mut closed) = mpsc::channel::<turn::allocation::AllocationInfo>(64);
        let released = Arc::clone(&credentials);
        tokio::spawn(async move {
            while let Some(info) = closed.recv().await {
                released.released(info.five_tuple.src_addr, &info.username);
            }
        });
        let server = Arc::new(
            Server::new(ServerConfig {
                conn_configs: configs,
                realm: settings.host.clone(),
                auth_handler: Arc::clone(&credentials) as _,
                channel_bind_timeout: Duration::ZERO,
                alloc_close_notify: Some(closed_tx),
            })
            .await?,
        );
        let _ = slot.set(Arc::clone(&server));
        tracing::info!(urls = ?urls, "TURN relay listening");
        Ok(Relay {
            server,
            credentials,
            urls,
            stop,
        })
    }

    /// The `turn:`/`turns:` URLs clients are given.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Refuses every credential of `session` from now on and ends its allocations.
    pub async fn revoke(&self, session: &str) {
        self.credentials.revoke(session);
        let mut names = guard::usernames_of(&self.server, session).await;
        names.sort();
        names.dedup();
        for name in names {
            let _ = self.server.delete_allocations_by_username(name).await;
        }
    }

    /// How many allocations `session` holds now.
    pub async fn allocations_of(&self, session: &str) -> usize {
        guard::usernames_of(&self.server, session).await.len()
    }

    /// Stops the listeners and ends every allocation.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let _ = self.server.close().await;
    }
}

/// An IPv6 address in a URL goes in brackets.
fn bracketed(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    }
}
