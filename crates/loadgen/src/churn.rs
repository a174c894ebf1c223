//! `loadgen churn`: join/leave cycles with media through the whole server (SPEC §9:
//! memory and file descriptors return to baseline after 1 000 of them).
//!
//! One room, its keeper connected throughout and publishing. Each cycle one
//! participant comes in by the same link as a browser would: WebSocket, `hello`,
//! lobby, admitted by the keeper, WebRTC negotiated with the documented `media_*`
//! messages, video flowing both ways; then `leave` and the socket closes. The
//! server's open descriptors, RSS and live peer connections are read after the
//! warm-up cycles and again after the rest, each time once the server has freed
//! the departed participant's peer connection.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use circlekeeper::media::MediaKind::Video;
use circlekeeper::media::testing::PayloadTypes;
use serde::Serialize;
use serde_json::json;
use testpeer::{self, Peer, Setup};

use crate::server::{self, RunArgs, ServerProcess};
use crate::signal::Percentiles;
use crate::ws::{self, Client};
use crate::{mib, procstat};

/// Peer connections the server holds between cycles: the keeper's.
const RESTING_PEER_CONNECTIONS: u64 = 1;
/// How long the server may take to free a departed participant's connection.
const SETTLE: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct ChurnArgs {
    #[arg(long, default_value_t = 1000)]
    pub cycles: usize,
    /// Cycles before the first reading (allocator and caches warm up).
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    #[arg(long, default_value_t = 160)]
    pub video_kbps: u32,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What `loadgen churn` measured; `--json` writes it as is.
#[derive(Serialize, Default)]
pub struct ChurnReport {
    pub warmup_cycles: usize,
    /// Cycles measured after the warm-up, each with media flowing both ways.
    pub cycles: usize,
    pub fds_after_warmup: usize,
    pub fds_after: usize,
    pub rss_after_warmup_bytes: u64,
    pub rss_after_bytes: u64,
    /// `circlekeeper_media_peer_connections` once settled (the keeper's is 1).
    pub peer_connections_after: u64,
    /// `circlekeeper_sessions` once settled (the keeper's is 1).
    pub sessions_after: u64,
    /// Connect → video flowing both ways, per cycle.
    pub join_to_media_ms: Percentiles,
    /// `leave` sent → the server freed the peer connection, per cycle.
    pub leave_to_freed_ms: Percentiles,
    pub seconds: f64,
    pub load_average: String,
}

pub async fn run(args: ChurnArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.cycles > args.warmup, "--cycles must exceed --warmup");
    let store = args.run.store()?;
    let server = ServerProcess::start(&args.run.server_bin, store.url.as_deref(), 1, 2).await?;
    server.stop_on_ctrl_c(args.run.keep_data);
    println!(
        "server {} pid {} on {} ({}): one room, its keeper, one participant seat; {} cycles \
         ({} warm-up), video {} kbit/s",
        args.run.server_bin.display(),
        server.pid(),
        server.addr,
        store.describe(),
        args.cycles,
        args.warmup,
        args.video_kbps
    );
    let result = measure(&args, &server).await;
    server.stop(args.run.keep_data);
    let report = result?;
    print(&report);
    args.run.write_report(&report)?;
    Ok(())
}

async fn measure(args: &ChurnArgs, server: &ServerProcess) -> anyhow::Result<ChurnReport> {
    let setup = Setup {
        video_kbps: Some(args.video_kbps),
        patience: ws::PATIENCE,
        media_patience: ws::PATIENCE,
        payload_types: PayloadTypes::SERVER,
        hide_addresses: false,
    };
    let tokens = server.tokens.first().context("the room's invitations")?;
    let (keeper_token, seat_token) = match tokens.as_slice() {
        [k, s] => (k.clone(), s.clone()),
        _ => bail!("expected two invitations"),
    };
    let mut client = Client::connect(server.addr).await?;
    client.hello(&keeper_token).await?;
    client.consent_all().await?;
    let mut keeper = Peer::start(client, "P1", setup);
    keeper.wait_stage("circle").await?;

    let pid = server.pid();
    let started = Instant::now();
    let mut report = ChurnReport {
        warmup_cycles: args.warmup,
        ..ChurnReport::default()
    };
    let (mut join, mut leave) = (Vec::new(), Vec::new());
    for i in 0..args.cycles {
        if i == args.warmup {
            report.fds_after_warmup = procstat::open_fds(pid);
            report.rss_after_warmup_bytes = procstat::rss_bytes(pid);
            join.clear();
            leave.clear();
        }
        let (joined, left) = cycle(server, &mut keeper, &seat_token, setup, i == 0)
            .await
            .with_context(|| format!("cycle {i}"))?;
        join.push(joined);
        leave.push(left);
    }
    report.cycles = args.cycles - args.warmup;
    report.fds_after = procstat::open_fds(pid);
    report.rss_after_bytes = procstat::rss_bytes(pid);
    let metrics = server.metrics().await?;
    report.peer_connections_after =
        server::counter(&metrics, "circlekeeper_media_peer_connections", None);
    report.sessions_after = server::counter(&metrics, "circlekeeper_sessions", None);
    report.join_to_media_ms = Percentiles::of(join.into_iter());
    report.leave_to_freed_ms = Percentiles::of(leave.into_iter());
    report.seconds = started.elapsed().as_secs_f64();
    report.load_average = procstat::loadavg();
    keeper.close().await;
    Ok(report)
}

/// One participant's visit; returns (connect → media both ways, leave → freed).
async fn cycle(
    server: &ServerProcess,
    keeper: &mut Peer,
    token: &str,
    setup: Setup,
    first: bool,
) -> anyhow::Result<(Duration, Duration)> {
    let t = Instant::now();
    let mut client = Client::connect(server.addr).await?;
    client.hello(token).await?;
    // Consent is asked once per invitation; later visits go straight to the lobby.
    if client.view["stage"] == "consent" {
        client.consent_all().await?;
    }
    let mut person = Peer::start(client, "P2", setup);
    testpeer::admit(keeper, &mut person).await?;
    if first {
        keeper.cmd(json!({"type": "start_session"})).await?;
    }
    let (seen_here, seen_there) = (keeper.got(person.you, Video), person.got(keeper.you, Video));
    let flowing = async {
        keeper.wait_got(person.you, Video, seen_here + 10).await?;
        person.wait_got(keeper.you, Video, seen_there + 10).await
    };
    if let Err(e) = flowing.await {
        let metrics = server.metrics().await.unwrap_or_default();
        let media: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("circlekeeper_media_"))
            .collect();
        bail!(
            "{e}; the participant sent {} video packets and got {} of the keeper's \
             (had {seen_there}); the keeper got {} of the participant's (had {seen_here}); \
             server: {media:?}",
            person.counters.sent(Video),
            person.got(keeper.you, Video),
            keeper.got(person.you, Video),
        );
    }
    let joined = t.elapsed();

    let t = Instant::now();
    person.send(json!({"type": "leave"}));
    person.until("ended").await?;
    person.close().await;
    settle(server).await?;
    Ok((joined, t.elapsed()))
}

/// Waits until the server holds only the keeper's peer connection and session.
async fn settle(server: &ServerProcess) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let metrics = server.metrics().await?;
        let connections = server::counter(&metrics, "circlekeeper_media_peer_connections", None);
        let sessions = server::counter(&metrics, "circlekeeper_sessions", None);
        if connections == RESTING_PEER_CONNECTIONS && sessions == 1 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "after {} s the server still holds {connections} peer connections and \
                 {sessions} sessions",
                SETTLE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn print(r: &ChurnReport) {
    println!();
    let row = |what: &str, value: String| println!("| {what:<44} | {value:<44} |");
    println!("| {:<44} | {:<44} |", "figure", "value");
    println!("|{:-<46}|{:-<46}|", "", "");
    row(
        "cycles (after warm-up)",
        format!(
            "{} ({} warm-up), {:.1} s in all",
            r.cycles, r.warmup_cycles, r.seconds
        ),
    );
    row(
        "server open fds: after warm-up / after",
        format!("{} / {}", r.fds_after_warmup, r.fds_after),
    );
    row(
        "server RSS: after warm-up / after",
        format!(
            "{:.1} / {:.1} MiB",
            mib(r.rss_after_warmup_bytes),
            mib(r.rss_after_bytes)
        ),
    );
    row(
        "server peer connections / sessions after",
        format!(
            "{} / {} (the keeper's)",
            r.peer_connections_after, r.sessions_after
        ),
    );
    row("join: connect → video both ways", r.join_to_media_ms.text());
    row("leave → peer connection freed", r.leave_to_freed_ms.text());
    println!("load average {}", r.load_average);
}
