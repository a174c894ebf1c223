//! The server: shared state, the HTTP router, and `serve` with graceful
//! shutdown. `main.rs` only parses the command line and calls in here.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::TokenKeys;
use crate::config::Config;
use crate::rooms::{self, Node, Rooms};
use crate::signal::{self, Connections};
use crate::store::{Location, Store};
use crate::turn::TurnRest;
use crate::{api, telemetry, web, webhooks};

/// Everything a request or a session needs, passed explicitly.
pub struct App {
    pub config: Config,
    /// The embedded store: rooms, invitations, journal and records.
    pub store: Store,
    /// Signs and verifies invitation tokens.
    pub keys: TokenKeys,
    /// The running rooms, one task each.
    pub rooms: Rooms,
    /// Live WebSocket connections, per address and in all.
    pub connections: Arc<Connections>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Becomes true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Set at SIGTERM, `[cluster] drain_seconds` before `shutdown`: `/healthz`
    /// says `draining` while the node still serves.
    pub draining: std::sync::atomic::AtomicBool,
    /// TURN credentials, and the embedded relay when it runs.
    pub turn: Option<Arc<TurnRest>>,
    /// Tells `copy-store` a server runs here; released once the store is closed.
    data_dir_lock: std::sync::Mutex<Option<crate::store::DataDirLock>>,
}

impl App {
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.config.origin_allowed(origin)
    }
}

/// Opens the store and the token key and makes the shared state. The
/// returned sender shuts everything down when it sends `true`.
pub async fn build(config: Config) -> anyhow::Result<(Arc<App>, watch::Sender<bool>)> {
    // Shared with other servers on Postgres and with `invite`; `copy-store`
    // waits for none of them. One server per SQLite store (`Lock::SqliteServer`).
    let location = config.store_location();
    let who = match location {
        Location::Sqlite(_) => crate::store::Lock::SqliteServer,
        Location::Postgres(_) => crate::store::Lock::Server,
    };
    let data_dir_lock = crate::store::lock(&config.data_dir, who)?;
    let store = Store::open_at(&location).await?;
    // Appends write webhook events only when someone will receive them.
    store
        .set_webhooks_enabled(config.webhooks.url.is_some())
        .await?;
    let keys = TokenKeys::load_or_create(
        &config.secret_path(),
        &config.auth.issuer,
        &config.auth.audience,
    )?
    .with_overlap(config.key_overlap_secs());
    let (shutdown_tx, shutdown) = watch::channel(false);
    let connections = Connections::new(config.limits.sessions_per_ip, config.limits.max_sessions);
    let mut media = config.media.media_config();
    // Before the relay starts: it takes its metric handles once.
    let metrics = telemetry::metrics_handle();
    let turn = TurnRest::load(&config.turn, &config.tls, &config.data_dir, &media)
        .await?
        .map(Arc::new);
    media.turn = turn.clone();
    // The lease exists before any room is claimed in its name.
    let node = Node {
        id: config.cluster.node_id.clone(),
        url: config.node_url(),
        lease: Duration::from_secs(u64::from(config.cluster.lease_seconds)),
    };
    store
        .renew_lease(&node.id, &node.url, node.lease_until())
        .await?;
    let app = App {
        rooms: Rooms::new(
            store.clone(),
            shutdown.clone(),
            media,
            node,
            config.rooms.rest_after(),
        ),
        store,
        keys,
        connections,
        metrics,
        shutdown,
        draining: std::sync::atomic::AtomicBool::new(false),
        turn,
        data_dir_lock: std::sync::Mutex::new(Some(data_dir_lock)),
        config,
    };
    Ok((Arc::new(app), shutdown_tx))
}

/// The whole HTTP surface.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws", get(signal::upgrade))
        .merge(web::routes())
        .merge(api::routes(&app))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            // Only over HTTPS: a plain-HTTP loopback server must not pin browsers to HTTPS.
            app.config
                .tls
                .enabled()
                .then_some(HeaderValue::from_static("max-age=31536000")),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(web::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(app)
}

/// 200 `ready`, or 503 `draining` from SIGTERM on (SPEC §6.6: a load
/// balancer stops sending people to a node that is going away).
async fn healthz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.draining.load(Ordering::Relaxed) || *app.shutdown.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    // Read at scrape time: a connection is counted until its internals are freed,
    // which is what shows a leak (upstream webrtc#906).
    metrics::gauge!("circlekeeper_media_peer_connections")
        .set(crate::media::Sfu::live_peer_connections() as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// Raises this process's soft limit of open files to its hard limit, since every
/// WebSocket session and every peer connection holds descriptors and the usual
/// soft limit (1024) is far below `limits.max_sessions`. Returns (before, after).
pub fn raise_open_files_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let before = limit.current?;
        // No hard limit (infinity) cannot be a soft limit for files: leave it.
        let after = limit.maximum.unwrap_or(before);
        if after > before {
            let raised = Rlimit {
                current: Some(after),
                maximum: limit.maximum,
            };
            setrlimit(Resource::Nofile, raised).ok()?;
        }
        Some((before, after.max(before)))
    }
    #[cfg(not(unix))]
    None
}

/// Serves until `signal` resolves, then stops every room and session.
pub async fn serve(
    app: Arc<App>,
    shutdown_tx: watch::Sender<bool>,
    listener: TcpListener,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if let Some((before, after)) = raise_open_files_limit() {
        tracing::info!(before, after, "open files limit");
        if after < app.config.limits.max_sessions as u64 {
            tracing::warn!(
                limit = after,
                max_sessions = app.config.limits.max_sessions,
                "the open files limit is below limits.max_sessions: raise `ulimit -n`"
            );
        }
    }
    let service = router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // Background work that stops with the server: webhook delivery, retention,
    // the agreement follow-up sweep.
    let background: Vec<_> = [
        webhooks::spawn_dispatcher(&app),
        api::spawn_retention(app.clone()),
        Some(api::spawn_followup(app.clone())),
        rooms::spawn_lease(app.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut stopped = app.shutdown.clone();
    let tx = shutdown_tx.clone();
    let drain = Duration::from_secs(u64::from(app.config.cluster.drain_seconds));
    let flagged = app.clone();
    tokio::spawn(async move {
        signal.await;
        flagged.draining.store(true, Ordering::Relaxed);
        if !drain.is_zero() {
            tracing::info!(seconds = drain.as_secs(), "draining: /healthz answers 503");
            tokio::time::sleep(drain).await;
        }
        let _ = tx.send(true);
    });
    let tls = &app.config.tls;
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let rustls = crate::tls::server_config(cert, key).await?;
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        });
        let server = axum_server::from_tcp_rustls(listener.into_std()?, rustls)?
            .handle(handle)
            .serve(service);
        on_a_worker(server).await??;
    } else {
        // Small signalling frames must not wait for delayed acknowledgements.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = axum::serve(listener, service).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        on_a_worker(server.into_future()).await??;
    }
    // Stop accepting (done above), let every room drain its queued inputs
    // and end its sessions, stop the background work, and only then close
    // the store (SPEC §5.12): no write can meet a closed store.
    app.rooms.drain().await;
    for task in background {
        let _ = task.await;
    }
    if let Some(turn) = &app.turn {
        turn.close().await;
    }
    // Every room has written its last input: another node may take them over
    // at once instead of waiting for the lease to lapse.
    if let Err(error) = app.store.end_lease(&app.rooms.node().id).await {
        tracing::warn!(%error, "ending the lease failed; it lapses by itself");
    }
    app.store.close().await;
    if let Ok(mut held) = app.data_dir_lock.lock() {
        held.take();
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Runs the accept loop as a task of the runtime. Awaited where it was called
/// (`#[tokio::main]`'s `block_on`), it ran on the main thread, outside the
/// workers: every accepted connection woke that thread and then a worker
/// for the connection's task (docs/benchmarks.md).
async fn on_a_worker<F, T>(server: F) -> anyhow::Result<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    Ok(tokio::spawn(server).await?)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
