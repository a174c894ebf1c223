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
use circlekeeper::config::{Config, StoreSettings};
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
async fn prepare(
    data_dir: &Path,
    store_url: Option<&str>,
    rooms: usize,
    people: u32,
) -> anyhow::Result<Vec<Vec<String>>> {
    let config = Config {
        data_dir: data_dir.to_path_buf(),
        store: StoreSettings {
            url: store_url.map(str::to_owned),
        },
        ..Config::default()
    };
    let store = Store::open_at(&config.store_location())
        .await
        .context("open the store")?;
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
                    interprets_for: &[],
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

/// How a mode runs the server and where its report goes.
#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long, default_value = "target/release/circlekeeper")]
    pub server_bin: PathBuf,
    /// Keep the server's temporary data dir (and its log).
    #[arg(long)]
    pub keep_data: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Put the store on a private Postgres server (Debian's binaries, default
    /// durability, a Unix socket), started for this run, instead of SQLite.
    #[arg(long, conflicts_with = "store_url")]
    pub postgres: bool,
    /// Put the store on this existing, empty Postgres database instead of SQLite.
    #[arg(long)]
    pub store_url: Option<String>,
}

/// Where the run's store lives; a private Postgres server lives as long as this.
pub struct StoreChoice {
    pub url: Option<String>,
    _server: Option<testpg::Postgres>,
}

impl StoreChoice {
    pub fn describe(&self) -> &'static str {
        if self.url.is_some() {
            "Postgres"
        } else {
            "SQLite"
        }
    }
}

impl RunArgs {
    /// Starts the private Postgres server when `--postgres` asks for one.
    pub fn store(&self) -> anyhow::Result<StoreChoice> {
        if self.postgres {
            let server = testpg::Postgres::start_durable().map_err(|e| anyhow!(e))?;
            let url = server.fresh_database().map_err(|e| anyhow!(e))?;
            return Ok(StoreChoice {
                url: Some(url),
                _server: Some(server),
            });
        }
        Ok(StoreChoice {
            url: self.store_url.clone(),
            _server: None,
        })
    }

    /// Writes the report as JSON when `--json` was given.
    pub fn write_report(&self, report: &impl serde::Serialize) -> anyhow::Result<()> {
        if let Some(path) = &self.json {
            std::fs::write(path, serde_json::to_string_pretty(report)?)
                .with_context(|| format!("write {}", path.display()))?;
        }
        Ok(())
    }
}

pub fn room_id(r: usize) -> String {
    format!("load-{r}")
}

impl ServerProcess {
    /// `store_url`: the Postgres store, or `None` for SQLite in the data dir.
    pub async fn start(
        bin: &Path,
        store_url: Option<&str>,
        rooms: usize,
        people: u32,
    ) -> anyhow::Result<ServerProcess> {
        // Relative to here, not to the server's working directory.
        let bin = std::fs::canonicalize(bin)
            .with_context(|| format!("the server binary {}", bin.display()))?;
        let data_dir = std::env::temp_dir().join(format!(
            "circlekeeper-loadgen-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&data_dir)?;
        let started = Self::start_in(&bin, data_dir.clone(), store_url, rooms, people).await;
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&data_dir);
        }
        started
    }

    async fn start_in(
        bin: &Path,
        data_dir: PathBuf,
        store_url: Option<&str>,
        rooms: usize,
        people: u32,
    ) -> anyhow::Result<ServerProcess> {
        let tokens = prepare(&data_dir, store_url, rooms, people).await?;
        Self::spawn(bin, data_dir, store_url, &[], tokens, rooms, people)
    }

    /// Another node on the same Postgres store and token secret, as node
    /// `node_id`, in its own data dir inside this one's (removed with it).
    pub fn start_peer(
        &self,
        bin: &Path,
        store_url: &str,
        node_id: &str,
    ) -> anyhow::Result<ServerProcess> {
        let bin = std::fs::canonicalize(bin)
            .with_context(|| format!("the server binary {}", bin.display()))?;
        let data_dir = self.data_dir.join(node_id);
        std::fs::create_dir_all(&data_dir)?;
        let secret = self.data_dir.join("token-secret");
        let env = [
            (
                "CIRCLEKEEPER_AUTH__SECRET_FILE",
                secret.display().to_string(),
            ),
            ("CIRCLEKEEPER_CLUSTER__NODE_ID", node_id.to_owned()),
        ];
        let people = self.tokens.first().map_or(1, Vec::len);
        Self::spawn(
            &bin,
            data_dir,
            Some(store_url),
            &env,
            self.tokens.clone(),
            self.tokens.len(),
            u32::try_from(people).unwrap_or(u32::MAX),
        )
    }

    fn spawn(
        bin: &Path,
        data_dir: PathBuf,
        store_url: Option<&str>,
        env: &[(&str, String)],
        tokens: Vec<Vec<String>>,
        rooms: usize,
        people: u32,
    ) -> anyhow::Result<ServerProcess> {
        // Limits high enough for everyone the run connects (SPEC §5.6 limits are
        // per IP, and every load-tool session comes from 127.0.0.1).
        let sessions = rooms * people as usize + 16;
        let log = std::fs::File::create(data_dir.join("server.log"))?;
        let mut command = Command::new(bin);
        if let Some(url) = store_url {
            command.env("CIRCLEKEEPER_STORE__URL", url);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .current_dir(&data_dir)
            .env_remove("CIRCLEKEEPER_CONFIG")
            .env("CIRCLEKEEPER_MEDIA__BIND_IP", "127.0.0.1")
            .env("CIRCLEKEEPER_MEDIA__UDP_PORT", "0")
            .env("CIRCLEKEEPER_LIMITS__SESSIONS_PER_IP", sessions.to_string())
            .env(
                "CIRCLEKEEPER_LIMITS__MAX_SESSIONS",
                sessions.max(20_000).to_string(),
            )
            .env(
                "CIRCLEKEEPER_LIMITS__MAX_ROOMS",
                rooms.max(1000).to_string(),
            )
            .env(
                "CIRCLEKEEPER_LIMITS__MAX_PEOPLE_PER_ROOM",
                (people as usize).max(100).to_string(),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
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

    /// On Ctrl-C: stops the server and removes its data dir (unless kept), then
    /// exits, so an interrupted run leaves nothing behind.
    pub fn stop_on_ctrl_c(&self, keep_data: bool) {
        let pid = self.pid().to_string();
        let data_dir = self.data_dir.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            eprintln!("interrupted: stopping the server");
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            // Give it the moment it needs to close its sessions and its store
            // before the files go (a few seconds with thousands of sessions).
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
            if !keep_data {
                let _ = std::fs::remove_dir_all(&data_dir);
            }
            std::process::exit(130);
        });
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

pub use testpeer::scrape::{counter, dropped, forwarded, nacked};

/// A Prometheus histogram from `/metrics` text: cumulative counts per bucket bound
/// (`le`), summed over the series whose labels contain every one of `labels`.
pub fn histogram(metrics: &str, name: &str, labels: &[&str]) -> Vec<(f64, u64)> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for line in metrics.lines().filter(|l| l.starts_with(&prefix)) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if !labels.iter().all(|l| series.contains(l)) {
            continue;
        }
        let Some(le) = series
            .split("le=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        let count = value.parse::<f64>().unwrap_or(0.0) as u64;
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, c)) => *c += count,
            None => buckets.push((le, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The observations of `after` not yet in `before` (same buckets).
pub fn histogram_delta(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after
        .iter()
        .map(|&(le, c)| {
            let old = before.iter().find(|(b, _)| *b == le).map_or(0, |x| x.1);
            (le, c.saturating_sub(old))
        })
        .collect()
}

/// "p50 ≤ X ms, p99 ≤ Y ms, n observations" from cumulative buckets: each
/// quantile is the upper bound of the bucket it falls in.
pub fn histogram_text(buckets: &[(f64, u64)]) -> String {
    let total = buckets.last().map_or(0, |b| b.1);
    if total == 0 {
        return "no observations".to_owned();
    }
    let bound = |q: f64| {
        let rank = (total as f64 * q).ceil().max(1.0) as u64;
        let le = buckets
            .iter()
            .find(|(_, c)| *c >= rank)
            .map_or(f64::INFINITY, |b| b.0);
        if le.is_infinite() {
            "> last bucket".to_owned()
        } else {
            format!("≤ {} ms", le * 1e3)
        }
    };
    let within_20ms = buckets
        .iter()
        .find(|(le, _)| (*le - 0.02).abs() < 1e-9)
        .map_or(0, |b| b.1);
    format!(
        "p50 {} / p99 {} / max {} ({total}, {:.1} % ≤ 20 ms)",
        bound(0.5),
        bound(0.99),
        bound(1.0),
        100.0 * within_20ms as f64 / total as f64
    )
}
