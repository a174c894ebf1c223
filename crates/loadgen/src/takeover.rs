//! `loadgen takeover`: two nodes on one Postgres (SPEC §6.6). The keeper of
//! the demo circle is in the room on its node; that node is killed (SIGKILL)
//! and the keeper's link, used on the other node, is redirected until that
//! node takes the room over. Measured: kill → first `welcome` from the new
//! owner, over N kills; the killed node is started again each time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::server::RunArgs;
use crate::signal::Percentiles;
use crate::ws::Client;

#[derive(clap::Args)]
pub struct TakeoverArgs {
    /// How many times the room's node is killed.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// `[cluster] lease_seconds` of both nodes: a takeover waits for it to lapse.
    #[arg(long, default_value_t = 10)]
    pub lease_seconds: u32,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Serialize, Default)]
pub struct TakeoverReport {
    pub kills: usize,
    pub lease_seconds: u32,
    /// SIGKILL of the owner → the first `welcome` from the other node.
    pub kill_to_welcome_ms: Percentiles,
    /// Of those, `redirect` answers (to the dead node) before the takeover.
    pub redirects: usize,
}

struct Node {
    id: &'static str,
    child: Child,
    addr: SocketAddr,
}

/// Starts node `id` on the shared store and token secret; its log goes to `dir/<id>.log`.
fn start(
    bin: &Path,
    dir: &Path,
    id: &'static str,
    store_url: &str,
    lease: u32,
) -> anyhow::Result<(Node, Option<String>)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{id}.log")))?;
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join(id))
        .env_remove("CIRCLEKEEPER_CONFIG")
        .env("CIRCLEKEEPER_STORE__URL", store_url)
        .env("CIRCLEKEEPER_AUTH__SECRET_FILE", dir.join("token-secret"))
        .env("CIRCLEKEEPER_CLUSTER__NODE_ID", id)
        .env("CIRCLEKEEPER_CLUSTER__LEASE_SECONDS", lease.to_string())
        .env("CIRCLEKEEPER_MEDIA__BIND_IP", "127.0.0.1")
        .env("CIRCLEKEEPER_MEDIA__UDP_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut keeper = None;
    let addr = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow!("node {id} did not print its address (see {id}.log)"))??;
        if line.contains("Keeper Kim")
            && let Some(link) = line.split_whitespace().find(|w| w.contains("/join#t="))
        {
            keeper = link.split("#t=").nth(1).map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
            break rest.split_whitespace().next().context("address")?.parse()?;
        }
    };
    // Keep reading, so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((Node { id, child, addr }, keeper))
}

fn kill(node: &mut Node) {
    let _ = node.child.kill();
    let _ = node.child.wait();
}

/// Says hello at `addr`: `Ok(true)` welcomed, `Ok(false)` redirected.
async fn hello(addr: SocketAddr, token: &str) -> anyhow::Result<(bool, Client)> {
    let mut client = Client::connect(addr).await?;
    let first = client.hello_answer(token).await?;
    match first["type"].as_str() {
        Some("welcome") => Ok((true, client)),
        Some("redirect") => Ok((false, client)),
        _ => bail!("hello refused: {first}"),
    }
}

pub async fn run(args: TakeoverArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.run.postgres || args.run.store_url.is_some(),
        "several nodes need Postgres: give --postgres or --store-url"
    );
    let store = args.run.store()?;
    let url = store.url.clone().context("a Postgres URL")?;
    let bin = std::fs::canonicalize(&args.run.server_bin)
        .with_context(|| format!("the server binary {}", args.run.server_bin.display()))?;
    let dir = tempfile_dir()?;
    let result = measure(&args, &bin, &dir, &url).await;
    if !args.run.keep_data {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
    let report = result?;
    println!(
        "takeover over {} kills, lease {} s: kill → welcome p50/p90/p99/max {}; {} redirect(s) to the dead node on the way",
        report.kills,
        report.lease_seconds,
        report.kill_to_welcome_ms.text(),
        report.redirects
    );
    args.run.write_report(&report)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "circlekeeper-takeover-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn measure(
    args: &TakeoverArgs,
    bin: &Path,
    dir: &Path,
    url: &str,
) -> anyhow::Result<TakeoverReport> {
    let lease = args.lease_seconds;
    let (a, keeper) = start(bin, dir, "a", url, lease)?;
    let token = keeper.context("node a printed no keeper link")?;
    let (b, _) = start(bin, dir, "b", url, lease)?;
    let mut nodes = [a, b];
    // The keeper starts the room on a.
    let (welcomed, mut keeper) = hello(nodes[0].addr, &token).await?;
    anyhow::ensure!(welcomed, "the first node did not take the room");
    keeper.consent_all().await?;
    let mut owner = 0;
    let mut times = Vec::with_capacity(args.kills);
    let mut redirects = 0;
    for _ in 0..args.kills {
        let other = 1 - owner;
        kill(&mut nodes[owner]);
        let killed = Instant::now();
        drop(keeper);
        keeper = loop {
            let (welcomed, client) = hello(nodes[other].addr, &token).await?;
            if welcomed {
                break client;
            }
            redirects += 1;
            anyhow::ensure!(
                killed.elapsed() < Duration::from_secs(u64::from(lease) * 3 + 30),
                "no takeover by node {}",
                nodes[other].id
            );
            // The dead owner's lease must lapse first: look again shortly.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        times.push(killed.elapsed());
        let (restarted, _) = start(bin, dir, nodes[owner].id, url, lease)?;
        nodes[owner] = restarted;
        owner = other;
    }
    for node in &mut nodes {
        kill(node);
    }
    Ok(TakeoverReport {
        kills: args.kills,
        lease_seconds: lease,
        kill_to_welcome_ms: Percentiles::of(times.into_iter()),
        redirects,
    })
}
