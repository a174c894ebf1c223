//! A real, private PostgreSQL server for tests and benchmarks — never a mock.
//!
//! [`Postgres::start`] runs `initdb` in a fresh directory under `/tmp` and starts
//! `postgres` listening only on a Unix socket in that directory (superuser
//! `circlekeeper`, trust auth, `C` locale so text sorts bytewise like SQLite).
//! Tests normally share one server per process through [`shared`] and take a
//! new empty database each with `testpg::shared().fresh_database()`.
//!
//! The server cannot outlive the test process: it is started by a small `sh`
//! that blocks reading a pipe whose only writer is the test process, so when
//! that process exits — however it exits — the shell stops the server and
//! deletes the directory. If the PostgreSQL binaries are missing, starting
//! fails with a message naming `apt-get install postgresql`.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The superuser `initdb` creates, and the user every URL connects as.
pub const USER: &str = "circlekeeper";

/// Only the socket file name (`.s.PGSQL.<port>`) uses the port: there is no TCP listener.
const PORT: u16 = 5432;

/// Numbers temp directories and databases; with the pid this makes names unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A running private PostgreSQL server. Dropping it stops the server and
/// removes its directory (the [`shared`] one is never dropped; it is stopped
/// when the process exits).
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    /// The pid of the postmaster (a child of the guard shell).
    pid: u32,
    /// The guard shell; it stops the server when `stdin` reaches EOF.
    guard: Child,
    /// Held open for as long as the server should live.
    stdin: Option<ChildStdin>,
}

impl Postgres {
    /// Starts a server tuned for fast tests: `fsync`, `synchronous_commit` and
    /// `full_page_writes` are off, which is unsafe for anything but throwaway data.
    pub fn start() -> Result<Postgres, String> {
        Self::start_with(false)
    }

    /// Starts a server with PostgreSQL's default durability settings, for
    /// benchmarks, and brings its write-ahead log to the state of a server in
    /// service (see [`Postgres::recycle_wal`]).
    pub fn start_durable() -> Result<Postgres, String> {
        let pg = Self::start_with(true)?;
        pg.recycle_wal()?;
        Ok(pg)
    }

    /// A new cluster has one WAL segment file. The first time its log crosses
    /// into the next 16 MB segment, Postgres creates that file, writes 16 MB of
    /// zeros and flushes them while every commit waits (170–190 ms at the p99
    /// of a 1 000 arrivals/s burst here). A server in service does not: each
    /// checkpoint renames the segments it no longer needs into future ones.
    /// Switching segments eight times and then taking a checkpoint gets the
    /// same state in about a second, with PostgreSQL's settings unchanged.
    fn recycle_wal(&self) -> Result<(), String> {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.arg("-h").arg(&self.dir);
        psql.args(["-p", &PORT.to_string(), "-U", USER, "-d", "postgres"]);
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
        // A switch needs a record written since the last one: the message is one.
        psql.args([
            "-c",
            "SELECT pg_logical_emit_message(false, 'testpg', ''), pg_switch_wal() \
             FROM generate_series(1, 8)",
            "-c",
            "CHECKPOINT",
        ]);
        run(&mut psql).map_err(|e| self.failure(&e))
    }

    fn start_with(durable: bool) -> Result<Postgres, String> {
        let bin = bin_dir()?;
        // Postgres refuses to run as root, so as root the server runs as `postgres`.
        let run_as = if effective_uid()? == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = make_dir(run_as)?;
        let started = Self::spawn(&bin, &dir, run_as, durable);
        if started.is_err() {
            // The guard shell has already removed it if it got that far; otherwise nothing would.
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    fn spawn(
        bin: &Path,
        dir: &Path,
        run_as: Option<(u32, u32)>,
        durable: bool,
    ) -> Result<Postgres, String> {
        let data = dir.join("data");
        let mut initdb = command(&bin.join("initdb"), dir, run_as);
        initdb.arg("-D").arg(&data);
        initdb.args(["-U", USER, "-A", "trust", "--locale=C", "-E", "UTF8"]);
        initdb.arg("--no-instructions");
        if !durable {
            initdb.arg("--no-sync");
        }
        run(&mut initdb)?;

        // The shell ignores terminal signals so that it survives a Ctrl-C and
        // still cleans up once the test process has gone; `read` returns at EOF.
        let script = r#"trap '' INT TERM HUP QUIT
dir=$1; shift
"$@" >>"$dir/server.log" 2>&1 </dev/null &
pid=$!
echo "$pid"
read -r _
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
        let mut sh = command(Path::new("/bin/sh"), dir, run_as);
        sh.args(["-c", script, "sh"])
            .arg(dir)
            .arg(bin.join("postgres"));
        sh.arg("-D").arg(&data).arg("-k").arg(dir);
        sh.arg("-p").arg(PORT.to_string());
        sh.args(["-c", "listen_addresses=", "-c", "max_connections=200"]);
        if !durable {
            sh.args(["-c", "fsync=off", "-c", "synchronous_commit=off"]);
            sh.args(["-c", "full_page_writes=off"]);
        }
        sh.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut guard = sh
            .spawn()
            .map_err(|e| format!("testpg: cannot run /bin/sh: {e}"))?;
        let stdin = guard.stdin.take();
        let mut line = String::new();
        let mut stdout = BufReader::new(guard.stdout.take().expect("piped stdout"));
        let _ = stdout.read_line(&mut line);
        let pid = line.trim().parse().unwrap_or(0);
        let pg = Postgres {
            dir: dir.to_owned(),
            bin: bin.to_owned(),
            pid,
            guard,
            stdin,
        };
        pg.wait_ready()?;
        Ok(pg)
    }

    /// Probes with `pg_isready` (a readiness check, not a timed sleep) until the
    /// server accepts connections, it dies, or 30 s pass.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut backoff = Duration::from_millis(5);
        loop {
            let status = Command::new(self.bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&self.dir)
                .args(["-p", &PORT.to_string(), "-U", USER])
                .status()
                .map_err(|e| format!("testpg: cannot run pg_isready: {e}"))?;
            if status.success() {
                return Ok(());
            }
            if self.pid == 0 || !process_alive(self.pid) {
                return Err(self.failure("the server exited during startup"));
            }
            if Instant::now() > deadline {
                return Err(self.failure("the server was not ready within 30 s"));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// An error message carrying the tail of the server log.
    fn failure(&self, what: &str) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "testpg: {what} (dir {}); server log tail:\n{tail}",
            self.dir.display()
        )
    }

    /// The URL of `database`, connecting over the Unix socket, in the form
    /// sqlx's `PgConnectOptions` accepts: `postgres://circlekeeper@localhost/<db>?host=<dir>&port=5432`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}@localhost/{database}?host={}&port={PORT}",
            self.dir.display()
        )
    }

    /// The directory holding the server's socket (and its data and log).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new empty database with a unique name and returns its URL.
    pub fn fresh_database(&self) -> Result<String, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb.arg("-h").arg(&self.dir);
        createdb.args(["-p", &PORT.to_string(), "-U", USER, &name]);
        run(&mut createdb).map_err(|e| self.failure(&e))?;
        Ok(self.url(&name))
    }
}

impl Drop for Postgres {
    /// Closing the pipe makes the guard shell stop the server and remove the
    /// directory; waiting for it makes both happen before `drop` returns.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.guard.wait();
    }
}

/// The process-wide server, started on first use; it stops when the process exits.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(|| Postgres::start().unwrap_or_else(|e| panic!("{e}")))
}

/// The highest-versioned `/usr/lib/postgresql/<ver>/bin` with `initdb`, else
/// the `PATH` directory holding it (Debian does not put `initdb` on `PATH`).
fn bin_dir() -> Result<PathBuf, String> {
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
    {
        let entry = entry.map_err(|e| e.to_string())?;
        let version = entry.file_name().to_string_lossy().parse::<u32>();
        let bin = entry.path().join("bin");
        if let Ok(version) = version
            && bin.join("initdb").is_file()
            && best.as_ref().is_none_or(|(v, _)| version > *v)
        {
            best = Some((version, bin));
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .ok_or_else(|| {
            "testpg: PostgreSQL server binaries (initdb, postgres) not found in \
             /usr/lib/postgresql/*/bin or on PATH; install them with `apt-get install postgresql`"
                .to_owned()
        })
}

fn effective_uid() -> Result<u32, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
        .ok_or_else(|| "testpg: cannot read the effective uid from /proc/self/status".to_owned())
}

/// The uid and gid of the `postgres` system user (created by the Debian package).
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| {
            "testpg: running as root but there is no `postgres` user to run the server as; \
             `apt-get install postgresql` creates it"
                .to_owned()
        })
}

/// A fresh 0700 directory under /tmp (short, so the socket path fits in
/// `sun_path`, and reachable by the `postgres` user), owned by whoever runs the server.
fn make_dir(run_as: Option<(u32, u32)>) -> Result<PathBuf, String> {
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(format!("/tmp/testpg-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            // A directory left by an earlier process with the same pid: take the next number.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("testpg: cannot create {}: {e}", dir.display())),
            Ok(()) => {}
        }
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(|e| format!("testpg: cannot chown {}: {e}", dir.display()))?;
        }
        return Ok(dir);
    }
}

/// A command run as `run_as` (std drops root's supplementary groups too) from
/// `dir`, so it never needs access to the caller's working directory.
fn command(program: &Path, dir: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Runs a command to completion, turning failure into a message with its output.
fn run(cmd: &mut Command) -> Result<(), String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("testpg: cannot run {name}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "testpg: {name} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Whether `pid` exists and is not a zombie (an exited postmaster stays a
/// zombie until the guard shell reaps it).
fn process_alive(pid: u32) -> bool {
    let mut stat = String::new();
    let read = std::fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read_to_string(&mut stat));
    // "<pid> (<comm>) <state> ...": the state follows the last ')'.
    read.is_ok()
        && stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
}

#[cfg(test)]
mod tests;
