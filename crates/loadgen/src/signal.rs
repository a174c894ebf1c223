//! Signalling only (SPEC §9): thousands of idle sessions waiting in the lobby, the
//! server's memory per session, and a burst of arrivals at a fixed rate with the
//! arrival → lobby latency of each.
//!
//! Every room is started and watched by its keeper before anything is measured, as
//! in real use (a room is created, its keeper opens it, people arrive): the first
//! arrival in a room that is not running yet pays for starting it (journal replay,
//! one store write per invitation), which is not the cost of an arrival.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::procstat;
use crate::server::{RunArgs, ServerProcess};
use crate::ws::{Client, PATIENCE};

#[derive(clap::Args)]
pub struct SignalArgs {
    /// Idle sessions held in the lobby.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Lobby members per room (each room also has its keeper connected).
    #[arg(long, default_value_t = 100)]
    pub per_room: u32,
    /// Arrivals per second in the burst (0: no burst).
    #[arg(long, default_value_t = 1000)]
    pub burst_rate: u32,
    #[arg(long, default_value_t = 3.0)]
    pub burst_seconds: f64,
    /// Seconds the idle sessions are held before memory is read again.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
    /// Keepers opening their rooms, then idle sessions connecting, at once
    /// during the setup.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Nodes sharing the store (several need Postgres). Room r runs on node
    /// r mod N: its keeper and its arrivals connect there, as through a load
    /// balancer that routes by room; CPU and memory are summed over the nodes.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Where the burst's arrivals connect: `room` (their room's node) or
    /// `any` (a node picked by scrambling the arrival's number, following the
    /// `redirect` to the room's node, as through a load balancer that knows
    /// nothing of rooms).
    #[arg(long, value_enum, default_value_t = Route::Room)]
    pub route: Route,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Route {
    Room,
    Any,
}

/// One arrival's timings, from the moment its TCP connect began.
#[derive(Clone, Copy)]
struct Arrival {
    /// Scheduled start → connect began (the load tool's own lag).
    lag: Duration,
    /// → `welcome` and the consent view read.
    welcome: Duration,
    /// → `state` with stage `lobby` read (after `consent`).
    lobby: Duration,
    /// `redirect` answers followed before the `welcome`.
    redirects: usize,
}

/// Percentiles in milliseconds.
#[derive(Serialize, Default)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(values: impl Iterator<Item = Duration>) -> Percentiles {
        let mut ms: Vec<f64> = values.map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let q = |q: f64| crate::pctf(&ms, q);
        Percentiles {
            count: ms.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1.0),
        }
    }

    pub fn text(&self) -> String {
        format!(
            "{:.1} / {:.1} / {:.1} / {:.1} ms ({})",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

/// What `loadgen signal` measured; `--json` writes it as is.
#[derive(Serialize, Default)]
pub struct SignalReport {
    /// Server processes sharing the store; CPU and RSS are their sums.
    pub nodes: usize,
    /// Open sessions on each node after the burst (`circlekeeper_sessions`).
    pub sessions_per_node: Vec<u64>,
    pub rooms: usize,
    pub keepers: usize,
    /// From the first keeper's connect to the last keeper's circle view.
    pub rooms_started_seconds: f64,
    /// Each keeper: connect → `welcome` → the circle's `state` (its room started).
    pub keeper_connect_to_circle_ms: Percentiles,
    pub idle_sessions: usize,
    /// Idle sessions that reached the lobby.
    pub idle_in_lobby: usize,
    /// Idle sessions the server closed while they were held.
    pub idle_dropped: usize,
    pub rss_rooms_started_bytes: u64,
    pub rss_idle_bytes: u64,
    pub rss_after_hold_bytes: u64,
    pub rss_per_session_bytes: f64,
    pub setup_connect_to_lobby_ms: Percentiles,
    pub burst_arrivals: usize,
    pub burst_in_lobby: usize,
    pub burst_failed: usize,
    /// Redirects the burst's arrivals followed (`--route any`).
    pub burst_redirects: usize,
    pub burst_rate_achieved: f64,
    pub burst_connect_to_lobby_ms: Percentiles,
    pub burst_connect_to_welcome_ms: Percentiles,
    pub burst_scheduled_to_lobby_ms: Percentiles,
    pub burst_server_cpu_percent: f64,
    /// Every `postgres` process on this machine (with `--postgres`: our store).
    pub burst_database_cpu_percent: f64,
    pub burst_tool_cpu_percent: f64,
    /// Server CPU over the burst divided by the arrivals that reached the
    /// lobby (issue 17's "CPU per arrival"); Postgres's apart.
    pub burst_server_cpu_ms_per_arrival: f64,
    pub burst_database_cpu_ms_per_arrival: f64,
    pub load_average: String,
}

pub async fn run(args: SignalArgs) -> anyhow::Result<()> {
    let per_room = args.per_room.max(1) as usize;
    let arrivals = (f64::from(args.burst_rate) * args.burst_seconds).round() as usize;
    let idle_rooms = args.sessions.div_ceil(per_room);
    let burst_rooms = arrivals.div_ceil(per_room);
    let rooms = idle_rooms + burst_rooms;
    anyhow::ensure!(rooms > 0, "nothing to do: give --sessions or --burst-rate");
    anyhow::ensure!(args.nodes >= 1, "--nodes is at least 1");
    anyhow::ensure!(
        args.nodes == 1 || args.run.postgres || args.run.store_url.is_some(),
        "several nodes need Postgres: give --postgres or --store-url"
    );
    let started = Instant::now();
    let store = args.run.store()?;
    let first = ServerProcess::start(
        &args.run.server_bin,
        store.url.as_deref(),
        rooms,
        args.per_room + 1,
    )
    .await?;
    first.stop_on_ctrl_c(args.run.keep_data);
    let mut peers = Vec::new();
    for n in 2..=args.nodes {
        let url = store.url.as_deref().context("a Postgres URL")?;
        match first.start_peer(&args.run.server_bin, url, &format!("node-{n}")) {
            Ok(peer) => peers.push(peer),
            Err(e) => {
                stop_all(peers, first, args.run.keep_data);
                return Err(e);
            }
        }
    }
    println!(
        "server {} pid {} on {} ({}, {} node(s)): {rooms} room(s) of 1 keeper + {per_room} seats \
         prepared in {:.1} s; open files limit {}",
        args.run.server_bin.display(),
        first.pid(),
        first.addr,
        store.describe(),
        args.nodes,
        started.elapsed().as_secs_f64(),
        procstat::open_files_limit(first.pid()).unwrap_or_else(|| "?".into()),
    );
    let nodes: Vec<&ServerProcess> = std::iter::once(&first).chain(&peers).collect();
    let result = measure(&args, &nodes, idle_rooms, burst_rooms, arrivals).await;
    stop_all(peers, first, args.run.keep_data);
    let report = result?;
    args.run.write_report(&report)?;
    Ok(())
}

/// Stops the peers first: their data dirs lie inside the first node's.
fn stop_all(peers: Vec<ServerProcess>, first: ServerProcess, keep_data: bool) {
    for peer in peers {
        peer.stop(keep_data);
    }
    first.stop(keep_data);
}

/// The nodes of a run; room r runs on node r mod N.
struct Nodes<'a>(&'a [&'a ServerProcess]);

impl Nodes<'_> {
    fn addr_of(&self, room: usize) -> SocketAddr {
        self.0[room % self.0.len()].addr
    }

    fn tokens(&self) -> &[Vec<String>] {
        &self.0[0].tokens
    }

    fn rss_bytes(&self) -> u64 {
        self.0.iter().map(|n| procstat::rss_bytes(n.pid())).sum()
    }

    /// Each node's open sessions, from its `/metrics`.
    async fn sessions(&self) -> anyhow::Result<Vec<u64>> {
        let mut out = Vec::new();
        for node in self.0 {
            let metrics = node.metrics().await?;
            out.push(crate::server::counter(
                &metrics,
                "circlekeeper_sessions",
                None,
            ));
        }
        Ok(out)
    }

    /// Each node's open sessions once they add up to `held` (or after 5 s,
    /// if some were closed meanwhile).
    async fn sessions_settled(&self, held: usize) -> anyhow::Result<Vec<u64>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sessions = self.sessions().await?;
            let open = sessions.iter().sum::<u64>();
            if open == held as u64 || Instant::now() > deadline {
                return Ok(sessions);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn cpu_seconds(&self) -> f64 {
        self.0.iter().map(|n| procstat::cpu_seconds(n.pid())).sum()
    }
}

async fn measure(
    args: &SignalArgs,
    nodes: &[&ServerProcess],
    idle_rooms: usize,
    burst_rooms: usize,
    arrivals: usize,
) -> anyhow::Result<SignalReport> {
    let nodes = Nodes(nodes);
    let (stop_tx, stop) = watch::channel(false);
    let mut report = SignalReport {
        nodes: nodes.0.len(),
        rooms: idle_rooms + burst_rooms,
        idle_sessions: args.sessions,
        burst_arrivals: arrivals,
        ..SignalReport::default()
    };

    // Every room started and watched by its keeper, `concurrency` keepers
    // opening at a time: each keeper's `hello` starts its room (a claim, a
    // replay, an append), as when a node takes over many rooms at once.
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let opening = Instant::now();
    let mut opened = Vec::new();
    for (room, tokens) in nodes.tokens().iter().enumerate() {
        let (addr, token, gate) = (nodes.addr_of(room), tokens[0].clone(), gate.clone());
        opened.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            arrive(addr, &token, "circle", Instant::now()).await
        }));
    }
    let mut held: Vec<JoinHandle<bool>> = Vec::new();
    let mut opening_times = Vec::new();
    for task in opened {
        let (client, arrival) = task.await??;
        opening_times.push(arrival.lobby);
        held.push(hold(client, stop.clone()));
    }
    report.rooms_started_seconds = opening.elapsed().as_secs_f64();
    report.keeper_connect_to_circle_ms = Percentiles::of(opening_times.into_iter());
    report.keepers = held.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.rss_rooms_started_bytes = nodes.rss_bytes();

    // The idle sessions, `concurrency` connecting at a time.
    let mut setup = Vec::new();
    for i in 0..args.sessions {
        let room = i / args.per_room as usize;
        let token = nodes.tokens()[room][1 + i % args.per_room as usize].clone();
        let addr = nodes.addr_of(room);
        let gate = gate.clone();
        setup.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            arrive(addr, &token, "lobby", Instant::now()).await
        }));
    }
    let mut setup_times = Vec::new();
    let mut idle_handles = Vec::new();
    let mut first_error = None;
    for task in setup {
        match task.await? {
            Ok((client, arrival)) => {
                setup_times.push(arrival.lobby);
                idle_handles.push(hold(client, stop.clone()));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    report.idle_in_lobby = idle_handles.len();
    if let Some(e) = first_error {
        println!(
            "{} idle session(s) did not reach the lobby; first error: {e:#}",
            args.sessions - report.idle_in_lobby
        );
    }
    report.setup_connect_to_lobby_ms = Percentiles::of(setup_times.into_iter());
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.rss_idle_bytes = nodes.rss_bytes();
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    report.rss_after_hold_bytes = nodes.rss_bytes();
    report.idle_dropped = idle_handles.iter().filter(|h| h.is_finished()).count();
    report.rss_per_session_bytes = report
        .rss_after_hold_bytes
        .saturating_sub(report.rss_rooms_started_bytes) as f64
        / report.idle_in_lobby.max(1) as f64;

    // The burst: arrival i starts at i / rate, whatever the others are doing.
    if arrivals > 0 {
        let burst = burst(args, &nodes, idle_rooms, arrivals, &stop).await?;
        report.burst_in_lobby = burst.times.len();
        report.burst_failed = burst.failed;
        report.burst_redirects = burst.times.iter().map(|a| a.redirects).sum();
        report.burst_rate_achieved = burst.rate;
        report.burst_server_cpu_percent = burst.server_cpu_percent;
        report.burst_database_cpu_percent = burst.database_cpu_percent;
        report.burst_tool_cpu_percent = burst.tool_cpu_percent;
        let landed = burst.times.len().max(1) as f64;
        report.burst_server_cpu_ms_per_arrival = 1000.0 * burst.server_cpu_seconds / landed;
        report.burst_database_cpu_ms_per_arrival = 1000.0 * burst.database_cpu_seconds / landed;
        report.burst_connect_to_lobby_ms = Percentiles::of(burst.times.iter().map(|a| a.lobby));
        report.burst_connect_to_welcome_ms = Percentiles::of(burst.times.iter().map(|a| a.welcome));
        report.burst_scheduled_to_lobby_ms =
            Percentiles::of(burst.times.iter().map(|a| a.lag + a.lobby));
        held.extend(burst.held);
    }
    // Connections a redirect ended may still be closing: wait for them.
    let open = report.keepers + report.idle_in_lobby + report.burst_in_lobby;
    report.sessions_per_node = nodes.sessions_settled(open).await?;
    report.load_average = procstat::loadavg();
    print(&report, args);

    let _ = stop_tx.send(true);
    for handle in held.into_iter().chain(idle_handles) {
        let _ = handle.await;
    }
    Ok(report)
}

struct Burst {
    times: Vec<Arrival>,
    failed: usize,
    rate: f64,
    server_cpu_percent: f64,
    database_cpu_percent: f64,
    tool_cpu_percent: f64,
    /// CPU seconds of the servers and of Postgres over the burst.
    server_cpu_seconds: f64,
    database_cpu_seconds: f64,
    held: Vec<JoinHandle<bool>>,
}

async fn burst(
    args: &SignalArgs,
    nodes: &Nodes<'_>,
    first_room: usize,
    arrivals: usize,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Burst> {
    let rooms = arrivals.div_ceil(args.per_room as usize);
    let every = Duration::from_secs_f64(1.0 / f64::from(args.burst_rate));
    let cpu0 = nodes.cpu_seconds();
    let db0 = procstat::command_cpu_seconds("postgres");
    let self0 = procstat::self_cpu_seconds();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(arrivals);
    for i in 0..arrivals {
        // Round-robin over the rooms, so each fills evenly.
        let room = first_room + i % rooms;
        let token = nodes.tokens()[room][1 + i / rooms].clone();
        let at = start + every * i as u32;
        tokio::time::sleep_until(at).await;
        let addr = match args.route {
            Route::Room => nodes.addr_of(room),
            Route::Any => nodes.addr_of(spread(i)),
        };
        tasks.push(tokio::spawn(async move {
            arrive(addr, &token, "lobby", at.into_std()).await
        }));
    }
    let sent = start.elapsed().as_secs_f64();
    let mut out = Burst {
        times: Vec::new(),
        failed: 0,
        rate: arrivals as f64 / sent.max(1e-3),
        server_cpu_percent: 0.0,
        database_cpu_percent: 0.0,
        tool_cpu_percent: 0.0,
        server_cpu_seconds: 0.0,
        database_cpu_seconds: 0.0,
        held: Vec::new(),
    };
    let mut first_error = None;
    for task in tasks {
        match task.await? {
            Ok((client, arrival)) => {
                out.times.push(arrival);
                out.held.push(hold(client, stop.clone()));
            }
            Err(e) => {
                out.failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    out.server_cpu_seconds = nodes.cpu_seconds() - cpu0;
    out.database_cpu_seconds = procstat::command_cpu_seconds("postgres") - db0;
    out.server_cpu_percent = 100.0 * out.server_cpu_seconds / elapsed;
    out.database_cpu_percent = 100.0 * out.database_cpu_seconds / elapsed;
    out.tool_cpu_percent = 100.0 * (procstat::self_cpu_seconds() - self0) / elapsed;
    if let Some(e) = first_error {
        println!(
            "{} arrival(s) of the burst failed; first error: {e:#}",
            out.failed
        );
    }
    Ok(out)
}

/// Arrival i's node with `--route any`: a fixed scramble of i (Fibonacci
/// hashing), unrelated to its room, so runs repeat exactly.
fn spread(i: usize) -> usize {
    ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize
}

/// As the web client: at most this many redirects in a row.
const MAX_REDIRECTS: usize = 3;

/// Connects, says `hello` (following redirects), consents to every item, and waits for the view of
/// `stage` (`lobby`, or `circle` for a keeper).
async fn arrive(
    addr: SocketAddr,
    token: &str,
    stage: &str,
    scheduled: Instant,
) -> anyhow::Result<(Client, Arrival)> {
    let start = Instant::now();
    let lag = start.saturating_duration_since(scheduled);
    let mut client = Client::connect(addr).await?;
    let mut redirects = 0;
    loop {
        let answer = client.hello_answer(token).await?;
        match answer["type"].as_str() {
            Some("welcome") => break,
            Some("redirect") if redirects < MAX_REDIRECTS => {
                let url = answer["url"].as_str().context("a redirect's url")?;
                let to: SocketAddr = url
                    .strip_prefix("http://")
                    .context("a redirect to http://")?
                    .trim_end_matches('/')
                    .parse()?;
                redirects += 1;
                client = Client::connect(to).await?;
            }
            _ => bail!("hello refused: {answer}"),
        }
    }
    let welcome = start.elapsed();
    client.consent_all().await?;
    // The room delivers the new view before it answers the command, but wait
    // for it in any order.
    let deadline = Instant::now() + PATIENCE;
    while client.view["stage"] != stage {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, client.next_message()).await {
            Ok(Some(_)) => {}
            Ok(None) => bail!("closed before reaching the {stage}"),
            Err(_) => return Err(anyhow!("never reached the {stage}")),
        }
    }
    let lobby = start.elapsed();
    Ok((
        client,
        Arrival {
            lag,
            welcome,
            lobby,
            redirects,
        },
    ))
}

/// Keeps a session open (reading, so pings are answered) until `stop`; returns
/// true when the server closed it first.
fn hold(mut client: Client, mut stop: watch::Receiver<bool>) -> JoinHandle<bool> {
    tokio::spawn(async move {
        // Only reading, never parsing: a keeper's view of a full lobby is large,
        // and parsing it at every arrival would cost the load tool more than the
        // server.
        client.log = Vec::new();
        loop {
            tokio::select! {
                open = client.next_frame() => {
                    if !open {
                        return true;
                    }
                }
                // The guard `wait_for` returns is not `Send`: drop it before awaiting.
                () = async { let _ = stop.wait_for(|s| *s).await; } => {
                    client.close().await;
                    return false;
                }
            }
        }
    })
}

fn print(r: &SignalReport, args: &SignalArgs) {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!();
    println!("signalling only, load average {}", r.load_average);
    let row = |what: &str, value: String| println!("| {what:<46} | {value:<50} |");
    println!("| {:<46} | {:<50} |", "figure", "value");
    println!("|{:-<48}|{:-<52}|", "", "");
    row(
        "server nodes (CPU, RSS: their sum)",
        format!(
            "{} (sessions open on each: {:?})",
            r.nodes, r.sessions_per_node
        ),
    );
    row(
        "rooms (a keeper in each)",
        format!("{} ({} keepers)", r.rooms, r.keepers),
    );
    row(
        "rooms started: keeper connect→circle p50/p90/p99/max",
        format!(
            "{} at {} at once, all in {:.2} s",
            r.keeper_connect_to_circle_ms.text(),
            args.concurrency,
            r.rooms_started_seconds
        ),
    );
    row(
        "idle sessions in the lobby",
        format!(
            "{} of {} ({} closed by the server while held {:.0} s)",
            r.idle_in_lobby, r.idle_sessions, r.idle_dropped, args.hold
        ),
    );
    row(
        "server RSS: rooms started / idle / after hold",
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            mib(r.rss_rooms_started_bytes),
            mib(r.rss_idle_bytes),
            mib(r.rss_after_hold_bytes)
        ),
    );
    row(
        "server RSS per idle session",
        format!(
            "{:.1} KiB (10 000 sessions ≈ {:.0} MiB)",
            r.rss_per_session_bytes / 1024.0,
            r.rss_per_session_bytes * 10_000.0 / (1024.0 * 1024.0)
        ),
    );
    row(
        "setup connect→lobby p50/p90/p99/max",
        format!(
            "{} at {} at once",
            r.setup_connect_to_lobby_ms.text(),
            args.concurrency
        ),
    );
    if r.burst_arrivals > 0 {
        row(
            "burst arrivals (in lobby / failed)",
            format!(
                "{} at {:.0}/s ({} / {}), {} redirect(s) followed",
                r.burst_arrivals,
                r.burst_rate_achieved,
                r.burst_in_lobby,
                r.burst_failed,
                r.burst_redirects
            ),
        );
        row(
            "burst connect→lobby p50/p90/p99/max",
            r.burst_connect_to_lobby_ms.text(),
        );
        row(
            "burst connect→welcome p50/p90/p99/max",
            r.burst_connect_to_welcome_ms.text(),
        );
        row(
            "burst scheduled→lobby p50/p90/p99/max",
            r.burst_scheduled_to_lobby_ms.text(),
        );
        row(
            "CPU during the burst: server / Postgres / load tool",
            format!(
                "{:.0} % / {:.0} % / {:.0} % of one core",
                r.burst_server_cpu_percent, r.burst_database_cpu_percent, r.burst_tool_cpu_percent
            ),
        );
        row(
            "CPU per arrival: server / Postgres",
            format!(
                "{:.2} / {:.2} ms",
                r.burst_server_cpu_ms_per_arrival, r.burst_database_cpu_ms_per_arrival
            ),
        );
    }
    println!(
        "(connect→lobby: TCP connect, WebSocket upgrade, hello, welcome + consent view, \
         consent, lobby view; scheduled→lobby adds the load tool's own lag.)"
    );
}
