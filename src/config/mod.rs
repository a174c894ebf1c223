//! Configuration (SPEC §6.1).
//!
//! Sources, weakest first:
//! 1. the built-in defaults ([`Config::default`]),
//! 2. the TOML file (`--config FILE`, else [`DEFAULT_CONFIG_PATH`] when it exists),
//! 3. `CIRCLEKEEPER_*` environment variables: `CIRCLEKEEPER_LISTEN` for a
//!    top-level key, `CIRCLEKEEPER_LIMITS__MAX_MESSAGE_BYTES` for a key in a
//!    section (double underscore separates the section; names are
//!    case-insensitive). The value is read as a TOML value when it is one
//!    (`20`, `true`, `["https://a.example"]`) and as a plain string otherwise
//!    (or when the TOML reading does not fit the setting, so `CIRCLEKEEPER_AUTH__ISSUER=123`
//!    is the string `"123"`),
//! 4. command-line flags ([`CliOverrides`]).
//!
//! Unknown keys, in the file or in the environment, are errors that name the
//! key and where it came from; so are values of the wrong type.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod turn;
pub use turn::TurnSettings;

/// The file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG_PATH: &str = "config/circlekeeper.toml";

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "CIRCLEKEEPER_";

/// `CIRCLEKEEPER_*` variables that are not configuration keys (they belong to
/// the command line) and are skipped by the environment overrides.
pub const RESERVED_ENV_VARS: &[&str] = &["CIRCLEKEEPER_CONFIG", "CIRCLEKEEPER_LOG"];

/// The largest `limits.max_message_bytes` accepted: 1 MiB.
pub const MAX_MESSAGE_BYTES_CEILING: usize = 1 << 20;

/// The whole configuration. Every field has a default, so an empty file (or
/// none) gives a working server on `http://127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Where the embedded store and the token secret live.
    pub data_dir: PathBuf,
    /// Base URL of invitation links; `None` derives `http://{listen}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// Create a demo circle (and print its links) when the store has no rooms.
    pub demo: bool,
    /// Plain HTTP on a non-loopback address without [tls] (e.g. behind a TLS-terminating proxy).
    pub allow_plain_http_non_loopback: bool,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub rooms: RoomsConfig,
    pub websocket: WebSocketConfig,
    pub api: ApiConfig,
    pub webhooks: WebhooksConfig,
    pub media: MediaSettings,
    pub tls: TlsSettings,
    pub turn: TurnSettings,
    pub store: StoreSettings,
    pub cluster: ClusterSettings,
}

/// `[cluster]`: this server as one node of several sharing a Postgres store (SPEC §6.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// This node's name, unique among the nodes sharing the store.
    pub node_id: String,
    /// Where this node itself is reached (not a load balancer in front of
    /// all): clients are redirected here for the rooms it owns. Unset: `public_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// How long a node's lease lasts unrenewed; it renews every third of it.
    /// Another node takes its rooms over once it has lapsed.
    pub lease_seconds: u32,
    /// After SIGTERM, how long the node goes on serving while `/healthz`
    /// answers 503 `draining`, so a load balancer stops sending people here,
    /// before it stops accepting and drains its rooms.
    pub drain_seconds: u32,
}

impl Default for ClusterSettings {
    fn default() -> ClusterSettings {
        ClusterSettings {
            node_id: "node-1".into(),
            public_url: None,
            lease_seconds: 10,
            drain_seconds: 0,
        }
    }
}

/// `[store]`: where rooms, journals and records live (SPEC §6.6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `postgres://user:password@host/db`; unset: SQLite in `data_dir`. The
    /// database must exist; the server creates its tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[auth]`: invitation tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The tokens' `iss`.
    pub issuer: String,
    /// The tokens' `aud`.
    pub audience: String,
    /// The HS256 secret (hex); `None` means `{data_dir}/token-secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// How long a newly minted invitation is valid.
    pub invitation_days: u32,
    /// How long a key replaced by `circlekeeper keys rotate` still verifies
    /// the tokens it signed (0: not at all once replaced).
    pub key_overlap_days: u32,
}

/// `[limits]`: resource limits (SPEC §5.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest WebSocket message (and frame); larger closes with 1009.
    pub max_message_bytes: usize,
    /// Sustained messages per second per session.
    pub messages_per_second: u32,
    /// Messages a session may send in a burst above the sustained rate.
    pub message_burst: u32,
    /// Messages queued for one session before it is dropped as too slow.
    pub outbound_queue: usize,
    /// Concurrent WebSocket sessions from one IP address.
    pub sessions_per_ip: usize,
    /// Rooms in the store.
    pub max_rooms: usize,
    /// Seats/people in one room.
    pub max_people_per_room: usize,
    /// Concurrent WebSocket sessions in all.
    pub max_sessions: usize,
}

/// `[rooms]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomsConfig {
    /// How long a lost connection keeps its place (SPEC §3.7).
    pub grace_seconds: u32,
    /// How long a room with nobody connected and nothing due stays in memory
    /// before it rests (its task ends; the next arrival replays its journal);
    /// 0: never.
    pub rest_after_seconds: u32,
}

impl RoomsConfig {
    pub fn rest_after(&self) -> Option<std::time::Duration> {
        (self.rest_after_seconds > 0)
            .then(|| std::time::Duration::from_secs(self.rest_after_seconds.into()))
    }
}

/// `[websocket]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocketConfig {
    /// Origins allowed to open `/ws`; empty means the public URL's origin and
    /// the loopback origins of the listen port (see [`Config::allowed_origins`]).
    pub allowed_origins: Vec<String>,
}

/// `[api]`: the program API under `/api/v1/` (SPEC §6.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The API keys; only their SHA-256 is configured. Empty: the API refuses every request.
    pub keys: Vec<ApiKeyConfig>,
    /// Days after a room's last activity when its whole record is deleted; 0 keeps records until deleted through the API.
    pub retention_days: u32,
    /// Largest request body; larger ones get 413 `body_too_large`.
    pub max_body_bytes: usize,
}

/// One API key: `key_sha256` is the lowercase hex SHA-256 of the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// A name for logs (never the key).
    pub id: String,
    pub key_sha256: String,
    /// A read-only key may only read (GET).
    #[serde(default)]
    pub read_only: bool,
}

/// `[webhooks]`: signed events to the program's URL (SPEC §5.9, §6.2).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Where events are POSTed (`https://` or `http://`); unset: no webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The HMAC-SHA256 key of the signatures; required with `url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A CA certificate (PEM) trusted for an https:// receiver besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Seconds one delivery may take before it counts as failed.
    pub timeout_seconds: u32,
    /// Delay before the first retry; doubled at each failure, with jitter.
    pub retry_initial_ms: u64,
    /// The longest delay between two retries.
    pub retry_max_ms: u64,
    /// Failed deliveries of one event before it is set aside (kept in the store); 0 never gives up.
    pub max_attempts: u32,
    /// How often the dispatcher looks for new events when it has none.
    pub poll_ms: u64,
}

impl fmt::Debug for WebhooksConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhooksConfig")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("retry_initial_ms", &self.retry_initial_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("max_attempts", &self.max_attempts)
            .field("poll_ms", &self.poll_ms)
            .finish()
    }
}

/// `[tls]`: HTTPS with rustls (SPEC §5.1). Both files set: the server speaks only HTTPS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain, e.g. certs/dev-cert.pem from `circlekeeper certs --dev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }
}

/// `[media]`: the SFU (SPEC §6.1; issue: media).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// Address media binds to; unset: every interface (each interface's address is
    /// announced: Firefox never pairs with a loopback one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<IpAddr>,
    /// Public address announced to clients behind a 1:1 NAT; unset: the bound address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<IpAddr>,
    /// STUN/TURN servers handed to clients; none by default (no third-party servers).
    pub ice_servers: Vec<crate::media::IceServer>,
    /// Media worker threads, each with one UDP port shared by its rooms; 0: one per
    /// CPU core.
    pub workers: usize,
    /// UDP port of the first worker; worker k uses `udp_port + k`. 0: any free port.
    pub udp_port: u16,
}

impl Default for MediaSettings {
    fn default() -> MediaSettings {
        MediaSettings {
            bind_ip: None,
            public_ip: None,
            workers: 0,
            udp_port: 50_000,
            ice_servers: Vec::new(),
        }
    }
}

impl MediaSettings {
    /// The media layer's configuration, given where the server listens.
    pub fn media_config(&self) -> crate::media::MediaConfig {
        crate::media::MediaConfig {
            bind_ip: self.bind_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            public_ip: self.public_ip,
            ice_servers: self.ice_servers.clone(),
            workers: if self.workers == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                self.workers
            },
            udp_port: self.udp_port,
            ..crate::media::MediaConfig::default()
        }
    }
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            keys: Vec::new(),
            retention_days: 0,
            max_body_bytes: 256 * 1024,
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            url: None,
            secret: None,
            ca_file: None,
            timeout_seconds: 10,
            retry_initial_ms: 1000,
            retry_max_ms: 900_000,
            max_attempts: 0,
            poll_ms: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            data_dir: PathBuf::from("./data"),
            public_url: None,
            log_format: LogFormat::Text,
            demo: true,
            allow_plain_http_non_loopback: false,
            auth: AuthConfig::default(),
            limits: Limits::default(),
            rooms: RoomsConfig::default(),
            websocket: WebSocketConfig::default(),
            api: ApiConfig::default(),
            webhooks: WebhooksConfig::default(),
            media: MediaSettings::default(),
            tls: TlsSettings::default(),
            turn: TurnSettings::default(),
            store: StoreSettings::default(),
            cluster: ClusterSettings::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            issuer: "circlekeeper".into(),
            audience: "circlekeeper-join".into(),
            secret_file: None,
            invitation_days: 30,
            key_overlap_days: 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 64 * 1024,
            messages_per_second: 20,
            message_burst: 40,
            outbound_queue: 256,
            sessions_per_ip: 64,
            max_rooms: 1000,
            max_people_per_room: 100,
            max_sessions: 20_000,
        }
    }
}

impl Default for RoomsConfig {
    fn default() -> RoomsConfig {
        RoomsConfig {
            grace_seconds: 30,
            rest_after_seconds: 600,
        }
    }
}

/// Command-line flags; they win over the file and the environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliOverrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read config file {}: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("unknown setting `{key}` ({origin}); known here: {known}")]
    UnknownKey {
        key: String,
        origin: String,
        /// The settings that exist where the unknown one was found.
        known: String,
    },
    #[error("invalid value for `{key}` ({origin}): {message}")]
    InvalidValue {
        key: String,
        origin: String,
        message: String,
    },
    #[error("environment variable {var} is not valid UTF-8")]
    NotUnicode { var: String },
    #[error("invalid configuration: `{key}` {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// The setting concerned, for errors about one setting (`limits.max_rooms`).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    File(&'a str),
    Env(&'a str),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(name) => write!(f, "in {name}"),
            Origin::Env(var) => write!(f, "from environment variable {var}"),
        }
    }
}

impl Config {
    /// Loads the configuration: `path` (which must exist) or else
    /// [`DEFAULT_CONFIG_PATH`] when it exists, then the `CIRCLEKEEPER_*`
    /// environment variables, then `overrides`; and [`validates`](Config::validate) it.
    pub fn load(path: Option<&Path>, overrides: &CliOverrides) -> Result<Config, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if required {
                    return Err(ConfigError::NotFound(path));
                }
                None
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };

        let mut env = Vec::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if !key.starts_with(ENV_PREFIX) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::NotUnicode {
                var: key.to_owned(),
            })?;
            env.push((key.to_owned(), value));
        }

        let name = path.display().to_string();
        let file = text.as_deref().map(|t| (t, name.as_str()));
        let config = Config::load_named(file, env, overrides)?;
        config.validate()?;
        Ok(config)
    }

    /// The loading rules without touching the file system or the process
    /// environment: `file_text` is the TOML file's content (if any), `env` the
    /// environment variables (those without the `CIRCLEKEEPER_` prefix are
    /// ignored). Does not [`validate`](Config::validate).
    pub fn load_from(
        file_text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &CliOverrides,
    ) -> Result<Config, ConfigError> {
        Config::load_named(file_text.map(|t| (t, "the config file")), env, overrides)
    }

    fn load_named(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &CliOverrides,
    ) -> Result<Config, ConfigError> {
        let schema = schema();

        let mut table = match file {
            Some((text, name)) => {
                let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
                    origin: name.to_owned(),
                    message: e.to_string().trim().to_owned(),
                })?;
                check_file_table(&schema, &table, &Origin::File(name))?;
                table
            }
            None => toml::Table::new(),
        };

        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !RESERVED_ENV_VARS.contains(&k.as_str()))
            .collect();
        env.sort();
        for (var, raw) in &env {
            apply_env(&schema, &mut table, var, raw)?;
        }

        let mut config: Config =
            table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::InvalidValue {
                    key: "(configuration)".into(),
                    origin: "after merging file and environment".into(),
                    message: e.message().to_owned(),
                })?;

        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        Ok(config)
    }

    /// The base URL of links, without a trailing `/`: `public_url`, or
    /// `http://{listen}` (with a loopback address when listening on all addresses).
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.tls.enabled() => format!("https://{}", self.link_addr()),
            None => format!("http://{}", self.link_addr()),
        }
    }

    /// Where clients reach this node: `[cluster] public_url`, or `public_url`.
    pub fn node_url(&self) -> String {
        match &self.cluster.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => self.public_url(),
        }
    }

    /// Where the store lives: `[store] url`, or SQLite in `data_dir`.
    pub fn store_location(&self) -> crate::store::Location {
        match &self.store.url {
            Some(url) => crate::store::Location::Postgres(url.clone()),
            None => crate::store::Location::Sqlite(self.data_dir.clone()),
        }
    }

    /// The token secret file: `auth.secret_file`, or `{data_dir}/token-secret`.
    pub fn secret_path(&self) -> PathBuf {
        self.auth
            .secret_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("token-secret"))
    }

    /// How long a replaced signing key stays accepted, in seconds.
    pub fn key_overlap_secs(&self) -> u64 {
        u64::from(self.auth.key_overlap_days) * 86_400
    }

    /// How long a newly minted invitation is valid, in seconds.
    pub fn invitation_valid_secs(&self) -> u64 {
        u64::from(self.auth.invitation_days) * 86_400
    }

    /// The origins allowed to open the WebSocket, normalised
    /// (`scheme://host[:port]`, lowercase, default ports omitted):
    /// `websocket.allowed_origins` when set, else the origin of
    /// [`public_url`](Config::public_url) and `http://127.0.0.1:{port}`,
    /// `http://localhost:{port}` and `http://[::1]:{port}` for the listen port.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = if self.websocket.allowed_origins.is_empty() {
            let port = self.listen.port();
            let mut list: Vec<String> = normalize_origin(&self.public_url()).into_iter().collect();
            for host in ["127.0.0.1", "localhost", "[::1]"] {
                list.extend(normalize_origin(&format!("http://{host}:{port}")));
            }
            list
        } else {
            self.websocket
                .allowed_origins
                .iter()
                .filter_map(|o| normalize_origin(o))
                .collect()
        };
        let mut seen = std::collections::HashSet::new();
        origins.retain(|o| seen.insert(o.clone()));
        origins
    }

    /// Whether a browser's `Origin` header value may open the WebSocket.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        match normalize_origin(origin) {
            Some(origin) => self.allowed_origins().contains(&origin),
            None => false,
        }
    }

    /// Checks the settings make sense together. [`Config::load`] calls it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };

        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(invalid(
                "tls.cert_file",
                "and tls.key_file go together".into(),
            ));
        }
        if !self.listen.ip().is_loopback()
            && !self.tls.enabled()
            && !self.allow_plain_http_non_loopback
        {
            return Err(invalid(
                "listen",
                format!(
                    "is {}, not a loopback address: set [tls] cert_file and key_file, or \
                     allow_plain_http_non_loopback = true (e.g. behind a TLS-terminating proxy)",
                    self.listen
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty".into()));
        }
        let id = &self.cluster.node_id;
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "cluster.node_id",
                "must be 1 to 64 printable characters".into(),
            ));
        }
        if self.cluster.lease_seconds == 0 {
            return Err(invalid(
                "cluster.lease_seconds",
                "must be at least 1".into(),
            ));
        }
        if self.cluster.drain_seconds > 3600 {
            return Err(invalid(
                "cluster.drain_seconds",
                "must be at most 3600 (one hour)".into(),
            ));
        }
        if let Some(url) = &self.cluster.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "cluster.public_url",
                "must start with https:// or http://".into(),
            ));
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            // Not echoed: a store URL may carry a password.
            return Err(invalid(
                "store.url",
                "must start with postgres:// (leave it unset for SQLite in data_dir)".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let ok = match rest {
                Some(rest) => {
                    let host = rest.split('/').next().unwrap_or("");
                    !host.is_empty()
                        && !url.contains(['?', '#'])
                        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
                }
                None => false,
            };
            if !ok {
                return Err(invalid(
                    "public_url",
                    format!(
                        "must be an http:// or https:// URL with a host and no query or \
                         fragment, not {url:?}"
                    ),
                ));
            }
        }

        if self.auth.issuer.is_empty() {
            return Err(invalid("auth.issuer", "must not be empty".into()));
        }
        if self.auth.audience.is_empty() {
            return Err(invalid("auth.audience", "must not be empty".into()));
        }
        if self
            .auth
            .secret_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid("auth.secret_file", "must not be empty".into()));
        }
        if !(1..=3650).contains(&self.auth.invitation_days) {
            return Err(invalid(
                "auth.invitation_days",
                "must be between 1 and 3650".into(),
            ));
        }
        if self.auth.key_overlap_days > 3650 {
            return Err(invalid(
                "auth.key_overlap_days",
                "must be between 0 and 3650".into(),
            ));
        }

        let l = &self.limits;
        let positive: [(&str, u64); 8] = [
            ("limits.max_message_bytes", l.max_message_bytes as u64),
            (
                "limits.messages_per_second",
                u64::from(l.messages_per_second),
            ),
            ("limits.message_burst", u64::from(l.message_burst)),
            ("limits.outbound_queue", l.outbound_queue as u64),
            ("limits.sessions_per_ip", l.sessions_per_ip as u64),
            ("limits.max_rooms", l.max_rooms as u64),
            ("limits.max_people_per_room", l.max_people_per_room as u64),
            ("limits.max_sessions", l.max_sessions as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be greater than 0".into()));
            }
        }
        if l.max_message_bytes > MAX_MESSAGE_BYTES_CEILING {
            return Err(invalid(
                "limits.max_message_bytes",
                format!("must be at most {MAX_MESSAGE_BYTES_CEILING} (1 MiB)"),
            ));
        }

        if self.rooms.grace_seconds > 86_400 {
            return Err(invalid(
                "rooms.grace_seconds",
                "must be at most 86400 (one day)".into(),
            ));
        }

        self.validate_api()?;
        self.validate_webhooks()?;
        self.turn.validate()?;
        let media = &self.media;
        if media.workers > 256 {
            return Err(invalid("media.workers", "must be at most 256".into()));
        }
        if media.udp_port != 0 && usize::from(media.udp_port) + media.workers.max(1) > 65_536 {
            return Err(invalid(
                "media.udp_port",
                "udp_port + workers must stay below 65536".into(),
            ));
        }

        for origin in &self.websocket.allowed_origins {
            let path_free = origin
                .split_once("://")
                .is_some_and(|(_, rest)| !rest.trim_end_matches('/').contains('/'));
            if !path_free || normalize_origin(origin).is_none() {
                return Err(invalid(
                    "websocket.allowed_origins",
                    format!(
                        "entries must be origins like \"https://circles.example.org\" \
                         (scheme, host and optional port; no path, no wildcard), not {origin:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_api(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        let mut ids = std::collections::HashSet::new();
        for key in &self.api.keys {
            if key.id.trim().is_empty() {
                return Err(invalid("api.keys", "every key needs a non-empty id".into()));
            }
            if !ids.insert(key.id.as_str()) {
                return Err(invalid(
                    "api.keys",
                    format!("the id {:?} is used twice", key.id),
                ));
            }
            let hex_ok =
                key.key_sha256.len() == 64 && key.key_sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !hex_ok {
                return Err(invalid(
                    "api.keys",
                    format!(
                        "key_sha256 of {:?} must be the 64 hex digits of the key's SHA-256 \
                         (printf %s \"$KEY\" | sha256sum)",
                        key.id
                    ),
                ));
            }
        }
        if self.api.retention_days > 36_500 {
            return Err(invalid(
                "api.retention_days",
                "must be at most 36500".into(),
            ));
        }
        if !(1024..=16 << 20).contains(&self.api.max_body_bytes) {
            return Err(invalid(
                "api.max_body_bytes",
                "must be between 1024 and 16777216".into(),
            ));
        }
        Ok(())
    }

    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        let w = &self.webhooks;
        if let Some(url) = &w.url {
            let host = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .map(|rest| rest.split('/').next().unwrap_or(""));
            if host.is_none_or(str::is_empty)
                || url.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    "webhooks.url",
                    format!("must be an http:// URL with a host, not {url:?}"),
                ));
            }
            if w.secret.as_ref().is_none_or(|s| s.len() < 16) {
                return Err(invalid(
                    "webhooks.secret",
                    "must be set, at least 16 characters, when webhooks.url is".into(),
                ));
            }
        }
        if !(1..=300).contains(&w.timeout_seconds) {
            return Err(invalid(
                "webhooks.timeout_seconds",
                "must be between 1 and 300".into(),
            ));
        }
        if w.retry_initial_ms == 0 || w.retry_max_ms < w.retry_initial_ms {
            return Err(invalid(
                "webhooks.retry_initial_ms",
                "must be greater than 0 and at most webhooks.retry_max_ms".into(),
            ));
        }
        if !(10..=60_000).contains(&w.poll_ms) {
            return Err(invalid(
                "webhooks.poll_ms",
                "must be between 10 and 60000".into(),
            ));
        }
        Ok(())
    }

    /// `listen`, with a loopback address in place of an unspecified one.
    fn link_addr(&self) -> SocketAddr {
        match self.listen.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.listen.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), self.listen.port())
            }
            _ => self.listen,
        }
    }
}

/// `scheme://host[:port]` in lowercase without the default port, from a URL
/// or origin (a path is dropped). `None` for anything that is not http(s)
/// with a plain host.
fn normalize_origin(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let (scheme, rest, default_port) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest, ":443")
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest, ":80")
    } else {
        return None;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || !authority.chars().all(plain) {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

/// Every key a config can have: the defaults with the optional settings
/// filled in, as a TOML table (sections are sub-tables).
fn schema() -> toml::Table {
    let full = Config {
        public_url: Some(String::new()),
        auth: AuthConfig {
            secret_file: Some(PathBuf::new()),
            ..AuthConfig::default()
        },
        webhooks: WebhooksConfig {
            url: Some(String::new()),
            secret: Some(String::new()),
            ca_file: Some(PathBuf::new()),
            ..WebhooksConfig::default()
        },
        tls: TlsSettings {
            cert_file: Some(PathBuf::new()),
            key_file: Some(PathBuf::new()),
        },
        media: MediaSettings {
            bind_ip: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            public_ip: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            ..MediaSettings::default()
        },
        turn: TurnSettings {
            bind_ip: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            host: Some(String::new()),
            cert_file: Some(PathBuf::new()),
            key_file: Some(PathBuf::new()),
            secret_file: Some(PathBuf::new()),
            ..TurnSettings::default()
        },
        store: StoreSettings {
            url: Some(String::new()),
        },
        cluster: ClusterSettings {
            public_url: Some(String::new()),
            ..ClusterSettings::default()
        },
        ..Config::default()
    };
    toml::Table::try_from(&full).expect("the config serialises to a table")
}

fn check_file_table(
    schema: &toml::Table,
    table: &toml::Table,
    origin: &Origin,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        match schema.get(key) {
            None => {
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    origin: origin.to_string(),
                    known: known_keys(schema, None),
                });
            }
            Some(toml::Value::Table(section)) => {
                let Some(entries) = value.as_table() else {
                    return Err(ConfigError::InvalidValue {
                        key: key.clone(),
                        origin: origin.to_string(),
                        message: format!("`{key}` is a section; write it as [{key}]"),
                    });
                };
                for (inner, value) in entries {
                    let path = format!("{key}.{inner}");
                    if !section.contains_key(inner) {
                        return Err(ConfigError::UnknownKey {
                            key: path,
                            origin: origin.to_string(),
                            known: known_keys(schema, Some(key)),
                        });
                    }
                    check_leaf(Some(key), inner, value).map_err(|message| {
                        ConfigError::InvalidValue {
                            key: path,
                            origin: origin.to_string(),
                            message,
                        }
                    })?;
                }
            }
            Some(_) => {
                check_leaf(None, key, value).map_err(|message| ConfigError::InvalidValue {
                    key: key.clone(),
                    origin: origin.to_string(),
                    message,
                })?;
            }
        }
    }
    Ok(())
}

/// The keys of `section` (or the top level, also when `section` is not one),
/// for error messages: `listen, data_dir, ..., [auth], [limits]`.
fn known_keys(schema: &toml::Table, section: Option<&str>) -> String {
    let (table, prefix) = match section.and_then(|s| schema.get(s)) {
        Some(toml::Value::Table(t)) => (t, format!("{}.", section.unwrap_or_default())),
        _ => (schema, String::new()),
    };
    let mut keys: Vec<String> = table
        .iter()
        .filter(|(_, v)| !v.is_table())
        .map(|(k, _)| format!("{prefix}{k}"))
        .collect();
    keys.extend(
        table
            .iter()
            .filter(|(_, v)| v.is_table())
            .map(|(k, _)| format!("[{k}]")),
    );
    keys.join(", ")
}

/// Applies one `CIRCLEKEEPER_*` variable to the table.
fn apply_env(
    schema: &toml::Table,
    table: &mut toml::Table,
    var: &str,
    raw: &str,
) -> Result<(), ConfigError> {
    let origin = Origin::Env(var);
    let rest = &var[ENV_PREFIX.len()..];
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    let key = parts.join(".");
    let unknown = || ConfigError::UnknownKey {
        key: key.clone(),
        origin: origin.to_string(),
        known: known_keys(
            schema,
            parts
                .first()
                .filter(|_| parts.len() > 1)
                .map(String::as_str),
        ),
    };
    let (section, name) = match parts.as_slice() {
        [name] => match schema.get(name) {
            Some(toml::Value::Table(_)) => {
                return Err(ConfigError::InvalidValue {
                    key: key.clone(),
                    origin: origin.to_string(),
                    message: format!(
                        "`{name}` is a section; set its keys with {ENV_PREFIX}{}__<KEY>",
                        name.to_ascii_uppercase()
                    ),
                });
            }
            Some(_) => (None, name.as_str()),
            None => return Err(unknown()),
        },
        [section, name] => match schema.get(section) {
            Some(toml::Value::Table(s)) if s.contains_key(name) => {
                (Some(section.as_str()), name.as_str())
            }
            _ => return Err(unknown()),
        },
        _ => return Err(unknown()),
    };

    let parsed = parse_env_value(raw);
    let value = match check_leaf(section, name, &parsed) {
        Ok(()) => parsed,
        Err(message) => {
            let as_string = toml::Value::String(raw.to_owned());
            if !parsed.is_str() && check_leaf(section, name, &as_string).is_ok() {
                as_string
            } else {
                return Err(ConfigError::InvalidValue {
                    key,
                    origin: origin.to_string(),
                    message,
                });
            }
        }
    };

    match section {
        None => {
            table.insert(name.to_owned(), value);
        }
        Some(section) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            // The file was checked: a known section is a table.
            if let toml::Value::Table(t) = entry {
                t.insert(name.to_owned(), value);
            }
        }
    }
    Ok(())
}

/// An environment value as TOML (`20`, `true`, `"x"`, `["a", "b"]`), or as a
/// plain string when it is not exactly one TOML value.
fn parse_env_value(raw: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) if t.len() == 1 => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        _ => toml::Value::String(raw.to_owned()),
    }
}

/// Whether one value deserialises for its key, alone (everything else
/// default); the error is serde's message.
fn check_leaf(section: Option<&str>, name: &str, value: &toml::Value) -> Result<(), String> {
    let mut table = toml::Table::new();
    table.insert(name.to_owned(), value.clone());
    if let Some(section) = section {
        let mut outer = toml::Table::new();
        outer.insert(section.to_owned(), toml::Value::Table(table));
        table = outer;
    }
    table
        .try_into::<Config>()
        .map(drop)
        .map_err(|e| e.message().to_owned())
}

#[cfg(test)]
mod tests;
