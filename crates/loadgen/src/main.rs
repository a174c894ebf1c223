//! The load tool of SPEC §9.
//!
//! - `loadgen baseline --fanout N --seconds S`: the raw UDP relay baseline (receive a
//!   packet, send it to N sockets, no crypto), CPU time per relayed packet.
//! - `loadgen circle --people N --rooms M --seconds S`: the server binary in its own
//!   process, M circles of N webrtc-rs participants speaking the documented protocol
//!   over `/ws`, everyone publishing synthetic audio and video; the keeper admits
//!   everyone, starts the session and a round, and the holder passes the piece every
//!   ~2 s. Reports packets, loss, the server's CPU per forwarded packet (as a ratio to
//!   the baseline measured in the same run), memory, latency, join and switch times.
//! - `loadgen signal --sessions N --burst-rate A`: signalling only: N idle sessions in
//!   the lobby (server memory per session), then A arrivals per second for a few
//!   seconds (connect → lobby latency percentiles).
//! - `loadgen churn --cycles N`: one participant joins a circle with media and leaves,
//!   N times, through the whole server; its descriptors, memory and peer connections
//!   before and after.
//!
//! Everything runs on loopback, on the same machine: the participants' CPU competes
//! with the server's, and the latency includes both webrtc-rs stacks of the peers.

mod baseline;
mod churn;
mod procstat;
mod server;
mod signal;
mod takeover;
mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use circlekeeper::media::MediaKind::{Audio, Video};
use circlekeeper::media::testing::PayloadTypes;
use clap::{Parser, Subcommand};
use serde_json::json;

use server::ServerProcess;
use testpeer::{self, Peer, RECORDING, Setup};
use ws::Client;

#[derive(Parser)]
#[command(
    about = "Circle Keeper load tool: raw UDP relay baseline, WebRTC circles, signalling, join/leave"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The raw UDP relay baseline: receive one packet, send it to N sockets.
    Baseline {
        #[arg(long, default_value_t = 9)]
        fanout: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Incoming packets per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Payload bytes per packet.
        #[arg(long, default_value_t = 600)]
        payload: usize,
    },
    /// M circles of N WebRTC participants against the server binary.
    Circle {
        #[arg(long, default_value_t = 10)]
        people: u32,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Length of the measurement window (after everyone's media flows).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Video bitrate each participant publishes (frames every 30 ms).
        #[arg(long, default_value_t = 160)]
        video_kbps: u32,
        #[arg(long, default_value = "target/release/circlekeeper")]
        server_bin: PathBuf,
        /// Seconds between passes of the talking piece.
        #[arg(long, default_value_t = 2.0)]
        pass_every: f64,
        /// Keep the server's temporary data dir (and its log).
        #[arg(long)]
        keep_data: bool,
        /// How the peers number their codecs: as the server does, as Firefox does
        /// (Opus 109, VP8 120), or every second peer as Firefox does.
        #[arg(long, value_enum, default_value_t = Numbering::Mixed)]
        numbering: Numbering,
    },
    /// Signalling only: idle sessions in the lobby (memory per session), then a
    /// burst of arrivals at a fixed rate (arrival → lobby latency).
    Signal(signal::SignalArgs),
    /// Join/leave cycles with media through the whole server: one participant comes
    /// in, is admitted, sends and receives video, and leaves, N times; the server's
    /// descriptors, memory and peer connections after the warm-up and at the end.
    Churn(churn::ChurnArgs),
    /// Two nodes on one Postgres: the room's node is killed again and again;
    /// kill → first `welcome` from the node that takes the room over.
    Takeover(takeover::TakeoverArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    testpeer::epoch();
    // Thousands of sessions are thousands of descriptors, here and in the server
    // (which inherits the limit, and raises its own too).
    circlekeeper::server::raise_open_files_limit();
    match cli.command {
        Cmd::Baseline {
            fanout,
            seconds,
            rate,
            payload,
        } => {
            for (sends, receivers) in baseline::VARIANTS {
                baseline::run(sends, receivers, fanout, rate, payload, seconds)?.print();
            }
            Ok(())
        }
        Cmd::Circle {
            people,
            rooms,
            seconds,
            video_kbps,
            server_bin,
            pass_every,
            keep_data,
            numbering,
        } => {
            anyhow::ensure!(people >= 3, "a circle needs at least 3 people");
            runtime()?.block_on(circle(CircleArgs {
                people,
                rooms,
                seconds,
                video_kbps,
                server_bin,
                pass_every: Duration::from_secs_f64(pass_every),
                keep_data,
                numbering,
            }))
        }
        Cmd::Signal(args) => runtime()?.block_on(signal::run(args)),
        Cmd::Churn(args) => runtime()?.block_on(churn::run(args)),
        Cmd::Takeover(args) => runtime()?.block_on(takeover::run(args)),
    }
}

/// The load tool's runtime: two workers, like the machine it was measured on.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

struct CircleArgs {
    people: u32,
    rooms: usize,
    seconds: u64,
    video_kbps: u32,
    server_bin: PathBuf,
    pass_every: Duration,
    keep_data: bool,
    numbering: Numbering,
}

/// Payload-type numbering of the load tool's peers.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Numbering {
    Server,
    Firefox,
    Mixed,
}

impl Numbering {
    /// The numbering of the `i`-th person of a room.
    fn of(self, i: usize) -> PayloadTypes {
        match self {
            Numbering::Firefox => PayloadTypes::FIREFOX,
            Numbering::Mixed if i % 2 == 1 => PayloadTypes::FIREFOX,
            _ => PayloadTypes::SERVER,
        }
    }
}

/// One circle: its peers (index 0 the keeper) and their person ids.
struct Room {
    peers: Vec<Peer>,
    ids: Vec<u64>,
    /// Per person: connect → consented (in the lobby, or the circle for the keeper).
    arrive: Vec<Duration>,
    /// Per admitted person: keeper's `admit` sent → `media_ready` at the person.
    admit: Vec<Duration>,
    /// Everyone admitted → everyone sees everyone's video and hears the holder.
    media_flowing: Duration,
    /// Streams (person, source, kind) still missing when the setup gave up waiting.
    missing: usize,
}

/// One pass of the piece, seen at the keeper.
struct Switch {
    /// `pass` sent → its `ok` read by the holder.
    ok: Duration,
    /// `pass` sent → last audio packet of the old holder at the keeper (signed, ms).
    last_old_ms: Option<f64>,
    /// `pass` sent → first audio packet of the new holder at the keeper.
    first_new_ms: Option<f64>,
}

async fn circle(args: CircleArgs) -> anyhow::Result<()> {
    let n = args.people as usize;
    let frame_bytes = (args.video_kbps as usize * 1000 / 8 * 30 / 1000).max(16);
    let video_per_frame = frame_bytes.div_ceil(1100);
    let per_person = 50.0 + 1000.0 / 30.0 * video_per_frame as f64;
    let incoming = (per_person * (n * args.rooms) as f64).round() as u32;

    // The baseline first, before the server and the peers compete for the CPU:
    // the same incoming packet rate, each packet to everyone else in the room.
    let base_secs = (args.seconds as f64).clamp(2.0, 5.0);
    let run_baseline = |sends, receivers| {
        tokio::task::spawn_blocking(move || {
            baseline::run(
                sends,
                receivers,
                n - 1,
                incoming,
                frame_bytes / video_per_frame,
                base_secs,
            )
        })
    };
    let mut base = Vec::new();
    for (sends, receivers) in baseline::VARIANTS {
        let b = run_baseline(sends, receivers).await??;
        b.print();
        base.push(b);
    }
    let Ok(base): Result<[baseline::Baseline; 3], _> = base.try_into() else {
        unreachable!("three baselines");
    };

    let server = ServerProcess::start(&args.server_bin, None, args.rooms, args.people).await?;
    server.stop_on_ctrl_c(args.keep_data);
    let pid = server.pid();
    println!(
        "server {} pid {pid} on {}, {} room(s) of {} people, video {} kbit/s ({} packet(s) \
         per frame), data dir {}",
        args.server_bin.display(),
        server.addr,
        args.rooms,
        n,
        args.video_kbps,
        video_per_frame,
        server.data_dir.display()
    );
    let rss_idle = procstat::rss_bytes(pid);

    let result = run_circles(&args, &server, pid, rss_idle, &base).await;
    server.stop(args.keep_data);
    result
}

async fn run_circles(
    args: &CircleArgs,
    server: &ServerProcess,
    pid: u32,
    rss_idle: u64,
    base: &[baseline::Baseline; 3],
) -> anyhow::Result<()> {
    let n = args.people as usize;
    let setup_started = Instant::now();
    let mut tasks = Vec::new();
    for tokens in server.tokens.clone() {
        let (addr, kbps) = (server.addr, args.video_kbps);
        tasks.push(tokio::spawn(setup_room(addr, tokens, kbps, args.numbering)));
    }
    let mut rooms = Vec::new();
    for t in tasks {
        rooms.push(t.await??);
    }
    let setup = setup_started.elapsed();
    println!(
        "all {} room(s) set up in {:.1} s",
        rooms.len(),
        setup.as_secs_f64()
    );

    // The measurement window.
    let metrics0 = server.metrics().await?;
    let (cpu0, self0) = (procstat::cpu_seconds(pid), procstat::self_cpu_seconds());
    let totals = |rooms: &[Room]| {
        let (mut recv, mut audio, mut video) = (0, 0, 0);
        for p in rooms.iter().flat_map(|r| &r.peers) {
            recv += p.counters.total();
            audio += p.counters.sent(Audio);
            video += p.counters.sent(Video);
        }
        (recv, audio, video)
    };
    let t0 = totals(&rooms);
    RECORDING.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for room in rooms {
        tasks.push(tokio::spawn(pass_the_piece(
            room,
            deadline,
            args.pass_every,
        )));
    }
    let mut rooms = Vec::new();
    let mut switches = Vec::new();
    for t in tasks {
        let (room, s) = t.await??;
        rooms.push(room);
        switches.extend(s);
    }
    RECORDING.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, self1) = (procstat::cpu_seconds(pid), procstat::self_cpu_seconds());
    let metrics1 = server.metrics().await?;
    let rss = procstat::rss_bytes(pid);
    let t1 = totals(&rooms);

    let forwarded = server::forwarded(&metrics1) - server::forwarded(&metrics0);
    let drops = |reason| server::dropped(&metrics1, reason) - server::dropped(&metrics0, reason);
    let nacked = |outcome| server::nacked(&metrics1, outcome) - server::nacked(&metrics0, outcome);
    let received = t1.0 - t0.0;
    let (sent_audio, sent_video) = (t1.1 - t0.1, t1.2 - t0.2);
    let server_cpu = cpu1 - cpu0;
    let per_fwd = server_cpu / forwarded.max(1) as f64;
    let mut latency: Vec<u32> = Vec::new();
    for p in rooms.iter().flat_map(|r| &r.peers) {
        latency.extend(p.counters.latency_us.lock().unwrap().iter());
    }
    latency.sort_unstable();
    let arrive: Vec<f64> = sorted_ms(rooms.iter().flat_map(|r| &r.arrive));
    let admit: Vec<f64> = sorted_ms(rooms.iter().flat_map(|r| &r.admit));
    let flowing: Vec<f64> = sorted_ms(rooms.iter().map(|r| &r.media_flowing));
    let first_new: Vec<f64> = sorted(switches.iter().filter_map(|s| s.first_new_ms));
    let last_old: Vec<f64> = sorted(switches.iter().filter_map(|s| s.last_old_ms));
    let ok: Vec<f64> = sorted_ms(switches.iter().map(|s| &s.ok));

    println!();
    println!(
        "{} room(s) × {n} people, {elapsed:.1} s measured, load average {}",
        rooms.len(),
        procstat::loadavg()
    );
    let row = |what: &str, value: String| println!("| {what:<48} | {value:<52} |");
    println!("| {:<48} | {:<52} |", "figure", "value");
    println!("|{:-<50}|{:-<54}|", "", "");
    row(
        "packets sent (audio / video)",
        format!(
            "{sent_audio} / {sent_video} ({:.0} pkt/s)",
            (sent_audio + sent_video) as f64 / elapsed
        ),
    );
    row(
        "packets forwarded (server /metrics)",
        format!("{forwarded} ({:.0} pkt/s)", forwarded as f64 / elapsed),
    );
    row(
        "packets received by the peers",
        format!("{received} ({:.0} pkt/s)", received as f64 / elapsed),
    );
    let lost = forwarded as i64 - received as i64;
    row(
        "loss (1 - received / forwarded)",
        format!(
            "{:.2} % ({lost} packets; ± in flight at the edges)",
            (100.0 * lost as f64 / forwarded.max(1) as f64).max(0.0)
        ),
    );
    row(
        "dropped: gate / queue / write / not negotiated",
        format!(
            "{} / {} / {} / {}",
            drops("gate_closed"),
            drops("subscriber_queue_full"),
            drops("write_failed"),
            drops("not_negotiated")
        ),
    );
    row(
        "NACKed by subscribers: resent / unanswered",
        format!("{} / {}", nacked("resent"), nacked("unanswered")),
    );
    row(
        "server CPU",
        format!(
            "{server_cpu:.2} s = {:.0} % of one core",
            100.0 * server_cpu / elapsed
        ),
    );
    row(
        "server CPU per forwarded packet",
        format!("{:.2} µs", 1e6 * per_fwd),
    );
    let [each, batch, waiting] = base;
    row(
        "baseline CPU per relayed packet",
        format!(
            "{} (send_to; fanout {}, {} pkt/s in)",
            each.per_packet_text(),
            each.fanout,
            each.rate
        ),
    );
    row(
        "ratio to baseline (SPEC §9 target ≤ 1.5)",
        match each.cpu_per_packet() {
            Some(b) => format!("{:.1} × (send_to baseline)", per_fwd / b),
            None => "n/a".to_owned(),
        },
    );
    row("ratio to the sendmmsg baseline", batch.ratio_text(per_fwd));
    row(
        "ratio to the send_to baseline, receivers waiting",
        waiting.ratio_text(per_fwd),
    );
    row(
        "load tool CPU (all webrtc-rs peers)",
        format!(
            "{:.2} s = {:.0} % of one core",
            self1 - self0,
            100.0 * (self1 - self0) / elapsed
        ),
    );
    row(
        "server RSS: idle / after the run",
        format!("{:.1} MiB / {:.1} MiB", mib(rss_idle), mib(rss)),
    );
    row(
        "latency send→receive p50 / p99 / max",
        format!(
            "{:.2} / {:.2} / {:.2} ms ({} packets)",
            pct(&latency, 0.50) / 1e3,
            pct(&latency, 0.99) / 1e3,
            latency.last().copied().unwrap_or(0) as f64 / 1e3,
            latency.len()
        ),
    );
    row(
        "join: connect→consented p50 / max",
        format!("{:.0} / {:.0} ms", pctf(&arrive, 0.5), pctf(&arrive, 1.0)),
    );
    row(
        "join: admit→media_ready p50 / max",
        format!("{:.0} / {:.0} ms", pctf(&admit, 0.5), pctf(&admit, 1.0)),
    );
    row(
        "join: all admitted→all media flowing (max)",
        format!("{:.0} ms", pctf(&flowing, 1.0)),
    );
    row(
        "pass: `ok` read p50 / max",
        format!(
            "{:.1} / {:.1} ms ({} passes)",
            pctf(&ok, 0.5),
            pctf(&ok, 1.0),
            ok.len()
        ),
    );
    row(
        "pass→first new-holder audio p50 / max",
        format!(
            "{:.1} / {:.1} ms ({} measured)",
            pctf(&first_new, 0.5),
            pctf(&first_new, 1.0),
            first_new.len()
        ),
    );
    row(
        "pass→last old-holder audio p50 / max",
        format!(
            "{:.1} / {:.1} ms",
            pctf(&last_old, 0.5),
            pctf(&last_old, 1.0)
        ),
    );
    let gate = |name: &str, labels: &[&str]| {
        server::histogram_text(&server::histogram_delta(
            &server::histogram(&metrics0, name, labels),
            &server::histogram(&metrics1, name, labels),
        ))
    };
    row(
        "server: message taken → gates applied",
        gate("circlekeeper_gate_apply_seconds", &[]),
    );
    for (what, labels) in [
        (
            "server: audio gate opened → 1st packet",
            ["kind=\"audio\"", "to=\"open\""],
        ),
        (
            "server: audio gate closed → 1st packet",
            ["kind=\"audio\"", "to=\"closed\""],
        ),
    ] {
        row(what, gate("circlekeeper_gate_switch_seconds", &labels));
    }
    println!(
        "(latency and switch times are end to end at the peers, through both webrtc-rs \
         stacks of the load tool and the server; the switch is seen at the keeper. The \
         server's gate figures are bucket bounds from /metrics: a gate change waits for \
         the stream's next packet, up to 20 ms for audio.)"
    );
    let failed: usize = rooms
        .iter()
        .flat_map(|r| &r.peers)
        .map(|p| {
            p.log
                .iter()
                .filter(|m| m["type"] == "error" && m["code"] == "media_failed")
                .count()
        })
        .sum();
    let missing: usize = rooms.iter().map(|r| r.missing).sum();
    if missing > 0 {
        println!("streams never seen flowing during the setup: {missing}");
    }
    if failed > 0 {
        println!("media_failed errors during negotiation: {failed}");
    }
    for room in rooms {
        for peer in room.peers {
            peer.close().await;
        }
    }
    Ok(())
}

/// Connects everyone, admits them, starts the session and a round, and waits until
/// everyone sees everyone's video and hears the keeper and the first holder.
async fn setup_room(
    addr: SocketAddr,
    tokens: Vec<String>,
    kbps: u32,
    numbering: Numbering,
) -> anyhow::Result<Room> {
    let mut peers = Vec::new();
    let mut arrive = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let t = Instant::now();
        let mut client = Client::connect(addr).await?;
        client.hello(token).await?;
        client.consent_all().await?;
        arrive.push(t.elapsed());
        let setup = Setup {
            video_kbps: Some(kbps),
            patience: ws::PATIENCE,
            media_patience: ws::PATIENCE,
            payload_types: numbering.of(i),
            hide_addresses: false,
        };
        peers.push(Peer::start(client, &format!("P{}", i + 1), setup));
    }
    let (keeper, others) = peers.split_first_mut().context("a keeper")?;
    keeper.wait_view(|v| v["stage"] == "circle").await?;
    let mut admit = Vec::new();
    for peer in others.iter_mut() {
        let t = Instant::now();
        testpeer::admit(keeper, peer).await?;
        admit.push(t.elapsed());
    }
    let admitted = Instant::now();
    let ids: Vec<u64> = peers.iter().map(|p| p.you).collect();
    peers[0].cmd(json!({"type": "start_session"})).await?;
    peers[0]
        .cmd(json!({"type": "start_round", "prompt": "load", "first": ids[1]}))
        .await?;
    let missing = wait_media(&peers, &ids).await;
    if missing > 0 {
        println!(
            "warning: after {} s, {missing} of the streams each person should get are not \
             flowing (measuring anyway)",
            ws::PATIENCE.as_secs()
        );
    }
    Ok(Room {
        missing,
        peers,
        ids,
        arrive,
        admit,
        media_flowing: admitted.elapsed(),
    })
}

/// Waits (at most `ws::PATIENCE`) until everyone got 10 packets of everyone's video
/// and of the keeper's and the first holder's audio; returns how many such streams
/// are still missing.
async fn wait_media(peers: &[Peer], ids: &[u64]) -> usize {
    let deadline = Instant::now() + ws::PATIENCE;
    loop {
        let mut missing = 0;
        for (i, rx) in peers.iter().enumerate() {
            for (j, &from) in ids.iter().enumerate() {
                if i != j && rx.got(from, Video) < 10 {
                    missing += 1;
                }
                if i != j && j <= 1 && rx.got(from, Audio) < 10 {
                    missing += 1;
                }
            }
        }
        if missing == 0 || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Until `deadline`: the holder passes every `every`; a round that ends is started
/// again at seat 2. Passes between two participants are timed at the keeper.
async fn pass_the_piece(
    mut room: Room,
    deadline: Instant,
    every: Duration,
) -> anyhow::Result<(Room, Vec<Switch>)> {
    let mut switches = Vec::new();
    loop {
        let now = Instant::now();
        if now + every > deadline {
            tokio::time::sleep(deadline.saturating_duration_since(now)).await;
            break;
        }
        tokio::time::sleep(every).await;
        drain(&mut room.peers[0]);
        let holder = room.peers[0].view["holder"].as_u64();
        let Some(h) = holder.and_then(|id| room.ids.iter().position(|&x| x == id)) else {
            let first = room.ids[1];
            room.peers[0]
                .cmd(json!({"type": "start_round", "prompt": "load", "first": first}))
                .await?;
            continue;
        };
        let pass = room.peers[h].cmd_timed(json!({"type": "pass"})).await?;
        pass.result
            .clone()
            .map_err(|code| anyhow!("pass refused: {code}"))?;
        let keeper = &mut room.peers[0];
        let old = room.ids[h];
        keeper
            .wait_view(|v| v["holder"].as_u64() != Some(old))
            .await?;
        let new = keeper.view["holder"].as_u64();
        let mut switch = Switch {
            ok: pass.answered - pass.sent,
            last_old_ms: None,
            first_new_ms: None,
        };
        // The keeper's own audio is always heard: only participant → participant
        // passes show a switch at the keeper.
        if let Some(new) = new.filter(|&id| h != 0 && id != room.ids[0]) {
            let heard = keeper.got(new, Audio);
            if let Err(e) = keeper.wait_got(new, Audio, heard + 3).await {
                println!("warning: {e}");
            }
            let c = &keeper.counters;
            let first = c.first_after(new, Audio, pass.sent);
            let last = first.and_then(|f| c.last_before(old, Audio, f));
            switch.first_new_ms = first.map(|t| signed_ms(pass.sent, t));
            switch.last_old_ms = last.map(|t| signed_ms(pass.sent, t));
        }
        switches.push(switch);
    }
    Ok((room, switches))
}

/// Reads every message already queued for this peer (keeps its view current).
fn drain(peer: &mut Peer) {
    while peer.try_recv().is_some() {}
}

fn signed_ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        (to - from).as_secs_f64() * 1e3
    } else {
        -((from - to).as_secs_f64() * 1e3)
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

fn sorted_ms<'a>(values: impl Iterator<Item = &'a Duration>) -> Vec<f64> {
    sorted(values.map(|d| d.as_secs_f64() * 1e3))
}

/// The `q` quantile (nearest rank) of sorted values; 0 when empty.
fn pctf(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn pct(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i])
}
