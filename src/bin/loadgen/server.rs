//! The server binary in its own process, serving a store prepared here: M open
//! circles, each with an invitation token per seat (seat 1 the keeper), minted with
//! the library against the same data dir before the server starts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, anyhow, bail};
use circlekeeper::auth::TokenKeys;
use circlekeeper::circle::{Party, Phase, Role, RoomKind, Settings};
use circlekeeper::config::Config;
use circlekeeper::invitations::{Seat, ensure_room, issue};
use circlekeeper::store::Store;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// `tokens[room][seat - 1]`.
    pub tokens: Vec<Vec<String>>,
    pub data_dir: PathBuf,
}

/// Prepares `rooms` circles of `people` seats in a fresh data dir (seat 1 the
/// keeper). Invitations are minted a room at a time, concurrently within a room.
async fn prepare(data_dir: &Path, rooms: usize, people: u32) -> anyhow::Result<Vec<Vec<String>>> {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    let store = Store::open(data_dir).await.context("open the store")?;
    let keys = TokenKeys::load_or_create(
        &config.secret_path(),
        &config.auth.issuer,
        &config.auth.audience,
    )
    .context("token keys")?;
    let mut all = Vec::new();
    for r in 0..rooms {
        let room = room_id(r);
        let settings = Settings::for_kind(RoomKind::Circle, format!("Load {r}"));
        ensure_room(&store, &room, settings, Phase::Open)
            .await
            .context("create room")?;
        let mint = (1..=people).map(|seat| {
            let (store, keys, room) = (&store, &keys, &room);
            async move {
                let (role, party) = match seat {
                    1 => (Role::Keeper, None),
                    _ => (Role::Participant, Some(Party::Community)),
                };
                let name = format!("P{seat}");
                let seat = Seat {
                    seat,
                    role,
                    party,
                    name: &name,
                };
                let issued = issue(store, keys, "http://x", room, seat, 3600)
                    .await
                    .context("issue an invitation")?;
                let token = issued.link.split("#t=").nth(1).context("token in link")?;
                Ok::<_, anyhow::Error>(token.to_owned())
            }
        });
        let tokens = futures_util::future::try_join_all(mint).await?;
        all.push(tokens);
    }
    store.close().await;
    Ok(all)
}

pub fn room_id(r: usize) -> String {
    format!("load-{r}")
}

impl ServerProcess {
    pub async fn start(bin: &Path, rooms: usize, people: u32) -> anyhow::Result<ServerProcess> {
        // Relative to here, not to the server's working directory.
        let bin = std::fs::canonicalize(bin)
            .with_context(|| format!("the server binary {}", bin.display()))?;
        let data_dir = std::env::temp_dir().join(format!(
            "circlekeeper-loadgen-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&data_dir)?;
        let started = Self::start_in(&bin, data_dir.clone(), rooms, people).await;
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&data_dir);
        }
        started
    }

    async fn start_in(
        bin: &Path,
        data_dir: PathBuf,
        rooms: usize,
        people: u32,
    ) -> anyhow::Result<ServerProcess> {
        let tokens = prepare(&data_dir, rooms, people).await?;
        // Limits high enough for everyone the run connects (SPEC §5.6 limits are
        // per IP, and every load-tool session comes from 127.0.0.1).
        let sessions = rooms * people as usize + 16;
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .current_dir(&data_dir)
            .env_remove("CIRCLEKEEPER_CONFIG")
            .env("CIRCLEKEEPER_MEDIA__BIND_IP", "127.0.0.1")
            .env("CIRCLEKEEPER_LIMITS__SESSIONS_PER_IP", sessions.to_string())
            .env("CIRCLEKEEPER_LIMITS__MAX_SESSIONS", sessions.max(20_000).to_string())
            .env("CIRCLEKEEPER_LIMITS__MAX_ROOMS", rooms.max(1000).to_string())
            .env(
                "CIRCLEKEEPER_LIMITS__MAX_PEOPLE_PER_ROOM",
                (people as usize).max(100).to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                bail!("the server did not print its address: {log}");
            };
            if let Some(rest) = line.strip_prefix("Circle Keeper is running on http://") {
                break rest
                    .split_whitespace()
                    .next()
                    .context("address")?
                    .to_owned();
            }
        };
        // Keep draining, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess {
            child,
            addr: addr.parse().context("socket address")?,
            tokens,
            data_dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `GET /metrics` (plain HTTP/1.1 on loopback).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let addr = self.addr;
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr)?;
            write!(
                stream,
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok::<_, std::io::Error>(response)
        })
        .await?
        .map_err(|e| anyhow!("GET /metrics: {e}"))
    }

    /// Stops the server (SIGTERM, then waits) and removes the data dir.
    pub fn stop(mut self, keep_data: bool) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let _ = self.child.wait();
        if !keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// The value of a Prometheus counter in `/metrics` text: the sum of its series
/// whose labels contain `label` (e.g. `reason="gate_closed"`), or of all.
pub fn counter(metrics: &str, name: &str, label: Option<&str>) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = match (rest.chars().next(), label) {
                (None, None) => true,
                (Some('{'), None) => true,
                (Some('{'), Some(label)) => rest.contains(label),
                _ => false,
            };
            matches.then(|| value.parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

pub fn forwarded(metrics: &str) -> u64 {
    counter(metrics, "circlekeeper_media_packets_forwarded_total", None)
}

pub fn dropped(metrics: &str, reason: &str) -> u64 {
    counter(
        metrics,
        "circlekeeper_media_packets_dropped_total",
        Some(&format!("reason=\"{reason}\"")),
    )
}
