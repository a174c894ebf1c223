//! Tests of loading, merging and validating the configuration.
use super::*;

const SHIPPED: &str = include_str!("../../config/circlekeeper.toml");

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(file: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_from(file, env(vars), &CliOverrides::default())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.listen, addr("127.0.0.1:8080"));
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.public_url, None);
    assert_eq!(c.log_format, LogFormat::Text);
    assert!(c.demo);
    assert!(!c.allow_plain_http_non_loopback);
    assert_eq!(c.auth.issuer, "circlekeeper");
    assert_eq!(c.auth.audience, "circlekeeper-join");
    assert_eq!(c.auth.secret_file, None);
    assert_eq!(c.auth.invitation_days, 30);
    assert_eq!(c.auth.key_overlap_days, 30);
    assert_eq!(c.key_overlap_secs(), 30 * 86_400);
    assert_eq!(c.limits.max_message_bytes, 65536);
    assert_eq!(c.limits.messages_per_second, 20);
    assert_eq!(c.limits.message_burst, 40);
    assert_eq!(c.limits.outbound_queue, 256);
    assert_eq!(c.limits.sessions_per_ip, 64);
    assert_eq!(c.limits.max_rooms, 1000);
    assert_eq!(c.limits.max_people_per_room, 100);
    assert_eq!(c.limits.max_sessions, 20000);
    assert_eq!(c.rooms.grace_seconds, 30);
    assert!(c.websocket.allowed_origins.is_empty());
    c.validate().unwrap();

    assert_eq!(load(None, &[]).unwrap(), c);
    assert_eq!(load(Some(""), &[]).unwrap(), c);
    assert_eq!(c.public_url(), "http://127.0.0.1:8080");
    assert_eq!(c.secret_path(), PathBuf::from("./data/token-secret"));
    assert_eq!(c.invitation_valid_secs(), 30 * 86_400);
}

#[test]
fn shipped_config_file_equals_defaults() {
    let c = load(Some(SHIPPED), &[]).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn shipped_config_file_shows_every_setting() {
    let lines: Vec<&str> = SHIPPED.lines().map(str::trim).collect();
    for (key, value) in schema() {
        let keys: Vec<(String, String)> = match value {
            toml::Value::Table(section) => {
                assert!(
                    lines.contains(&format!("[{key}]").as_str()),
                    "[{key}] missing"
                );
                section
                    .keys()
                    .map(|k| (format!("{key}.{k}"), k.clone()))
                    .collect()
            }
            _ => vec![(key.clone(), key.clone())],
        };
        for (full, name) in keys {
            let shown = lines.iter().any(|l| {
                l.starts_with(&format!("{name} = ")) || l.starts_with(&format!("# {name} = "))
            });
            assert!(shown, "{full} is not shown in config/circlekeeper.toml");
        }
    }
    // One comment line before each setting.
    for (i, line) in lines.iter().enumerate() {
        let is_setting = line.contains(" = ") && !line.starts_with('#');
        if is_setting {
            assert!(lines[i - 1].starts_with('#'), "no comment above {line}");
        }
    }
}

#[test]
fn file_overrides() {
    let c = load(
        Some(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "/var/lib/circlekeeper"
            public_url = "https://circles.example.org/"
            log_format = "json"
            demo = false
            allow_plain_http_non_loopback = true

            [auth]
            issuer = "me"
            secret_file = "/etc/circlekeeper/secret"
            invitation_days = 7

            [limits]
            max_message_bytes = 1024
            max_rooms = 5

            [rooms]
            grace_seconds = 60

            [websocket]
            allowed_origins = ["https://circles.example.org", "https://other.example:8443"]
            "#,
        ),
        &[],
    )
    .unwrap();
    assert_eq!(c.listen, addr("0.0.0.0:9000"));
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/circlekeeper"));
    assert_eq!(c.public_url(), "https://circles.example.org");
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(!c.demo);
    assert_eq!(c.auth.issuer, "me");
    assert_eq!(
        c.auth.audience, "circlekeeper-join",
        "untouched keys keep defaults"
    );
    assert_eq!(c.secret_path(), PathBuf::from("/etc/circlekeeper/secret"));
    assert_eq!(c.invitation_valid_secs(), 7 * 86_400);
    assert_eq!(c.limits.max_message_bytes, 1024);
    assert_eq!(c.limits.max_rooms, 5);
    assert_eq!(c.limits.max_sessions, 20_000);
    assert_eq!(c.rooms.grace_seconds, 60);
    assert_eq!(
        c.allowed_origins(),
        vec!["https://circles.example.org", "https://other.example:8443"]
    );
    c.validate().unwrap();
}

#[test]
fn env_overrides() {
    let c = load(
        None,
        &[
            ("CIRCLEKEEPER_LISTEN", "127.0.0.1:9999"),
            ("CIRCLEKEEPER_DATA_DIR", "/tmp/ck"),
            ("CIRCLEKEEPER_DEMO", "false"),
            ("CIRCLEKEEPER_LOG_FORMAT", "json"),
            ("CIRCLEKEEPER_PUBLIC_URL", "https://c.example"),
            ("CIRCLEKEEPER_LIMITS__MAX_MESSAGE_BYTES", "4096"),
            ("CIRCLEKEEPER_limits__max_rooms", "7"),
            ("CIRCLEKEEPER_AUTH__ISSUER", "123"),
            ("CIRCLEKEEPER_AUTH__AUDIENCE", "\"quoted\""),
            ("CIRCLEKEEPER_AUTH__SECRET_FILE", "/run/secret"),
            ("CIRCLEKEEPER_ROOMS__GRACE_SECONDS", "5"),
            (
                "CIRCLEKEEPER_WEBSOCKET__ALLOWED_ORIGINS",
                r#"["https://a.example"]"#,
            ),
            // Not ours: ignored.
            ("CIRCLEKEEPER_CONFIG", "/somewhere/else.toml"),
            ("PATH", "/bin"),
            ("CIRCLEKEEPERX", "1"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen, addr("127.0.0.1:9999"));
    assert_eq!(c.data_dir, PathBuf::from("/tmp/ck"));
    assert!(!c.demo);
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.public_url(), "https://c.example");
    assert_eq!(c.limits.max_message_bytes, 4096);
    assert_eq!(c.limits.max_rooms, 7);
    assert_eq!(
        c.auth.issuer, "123",
        "a number is taken as a string for a string setting"
    );
    assert_eq!(c.auth.audience, "quoted");
    assert_eq!(c.secret_path(), PathBuf::from("/run/secret"));
    assert_eq!(c.rooms.grace_seconds, 5);
    assert_eq!(c.websocket.allowed_origins, vec!["https://a.example"]);
}

#[test]
fn env_merges_into_file_sections() {
    let c = load(
        Some("[limits]\nmax_rooms = 3\nmax_sessions = 10\n"),
        &[("CIRCLEKEEPER_LIMITS__MAX_SESSIONS", "11")],
    )
    .unwrap();
    assert_eq!(c.limits.max_rooms, 3);
    assert_eq!(c.limits.max_sessions, 11);
}

#[test]
fn cli_wins_over_env_over_file() {
    let file = "listen = \"127.0.0.1:1001\"\ndata_dir = \"/file\"\n";
    let vars = [
        ("CIRCLEKEEPER_LISTEN", "127.0.0.1:1002"),
        ("CIRCLEKEEPER_DATA_DIR", "/env"),
    ];

    let c = load(Some(file), &[]).unwrap();
    assert_eq!(
        (c.listen, c.data_dir),
        (addr("127.0.0.1:1001"), PathBuf::from("/file"))
    );

    let c = load(Some(file), &vars).unwrap();
    assert_eq!(
        (c.listen, c.data_dir),
        (addr("127.0.0.1:1002"), PathBuf::from("/env"))
    );

    let cli = CliOverrides {
        listen: Some(addr("127.0.0.1:1003")),
        data_dir: Some(PathBuf::from("/cli")),
    };
    let c = Config::load_from(Some(file), env(&vars), &cli).unwrap();
    assert_eq!(
        (c.listen, c.data_dir),
        (addr("127.0.0.1:1003"), PathBuf::from("/cli"))
    );

    let only_listen = CliOverrides {
        listen: Some(addr("127.0.0.1:1003")),
        data_dir: None,
    };
    let c = Config::load_from(Some(file), env(&vars), &only_listen).unwrap();
    assert_eq!(
        (c.listen, c.data_dir),
        (addr("127.0.0.1:1003"), PathBuf::from("/env"))
    );
}

fn unknown_key(result: Result<Config, ConfigError>) -> (String, String) {
    match result {
        Err(e @ ConfigError::UnknownKey { .. }) => {
            let text = e.to_string();
            (e.key().unwrap().to_owned(), text)
        }
        other => panic!("expected an unknown key error, got {other:?}"),
    }
}

#[test]
fn unknown_keys_in_file_are_errors() {
    let (key, text) = unknown_key(load(Some("lisen = \"127.0.0.1:1\""), &[]));
    assert_eq!(key, "lisen");
    assert!(
        text.contains("`lisen`") && text.contains("config file"),
        "{text}"
    );

    let (key, text) = unknown_key(load(Some("[limits]\nmax_room = 3"), &[]));
    assert_eq!(key, "limits.max_room");
    assert!(text.contains("limits.max_rooms"), "{text}");

    let (key, _) = unknown_key(load(Some("[clusters]\nnodes = 3"), &[]));
    assert_eq!(key, "clusters");

    let (key, _) = unknown_key(load(Some("[tls]\ncert = \"x\""), &[]));
    assert_eq!(key, "tls.cert");

    let (key, _) = unknown_key(load(Some("[limits.deeper]\nx = 1"), &[]));
    assert_eq!(key, "limits.deeper");
}

#[test]
fn unknown_keys_in_env_are_errors() {
    let (key, text) = unknown_key(load(None, &[("CIRCLEKEEPER_LISTN", "1")]));
    assert_eq!(key, "listn");
    assert!(text.contains("CIRCLEKEEPER_LISTN"), "{text}");

    let (key, _) = unknown_key(load(None, &[("CIRCLEKEEPER_LIMITS__MAX_ROOM", "1")]));
    assert_eq!(key, "limits.max_room");

    let (key, _) = unknown_key(load(None, &[("CIRCLEKEEPER_NOPE__MAX_ROOMS", "1")]));
    assert_eq!(key, "nope.max_rooms");

    let (key, _) = unknown_key(load(None, &[("CIRCLEKEEPER_LIMITS__MAX_ROOMS__X", "1")]));
    assert_eq!(key, "limits.max_rooms.x");

    let (key, _) = unknown_key(load(None, &[("CIRCLEKEEPER_LISTEN__PORT", "1")]));
    assert_eq!(key, "listen.port");

    // A section is not a value.
    let err = load(None, &[("CIRCLEKEEPER_LIMITS", "1")]).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err:?}");
}

fn invalid_value(result: Result<Config, ConfigError>) -> String {
    match result {
        Err(e @ ConfigError::InvalidValue { .. }) => e.to_string(),
        other => panic!("expected an invalid value error, got {other:?}"),
    }
}

#[test]
fn bad_values_are_errors() {
    let text = invalid_value(load(Some("listen = \"not an address\""), &[]));
    assert!(text.contains("`listen`"), "{text}");
    let text = invalid_value(load(Some("[limits]\nmax_rooms = \"many\""), &[]));
    assert!(text.contains("`limits.max_rooms`"), "{text}");
    let text = invalid_value(load(Some("[limits]\nmax_rooms = -1"), &[]));
    assert!(text.contains("`limits.max_rooms`"), "{text}");
    let text = invalid_value(load(Some("log_format = \"xml\""), &[]));
    assert!(
        text.contains("`log_format`") && text.contains("xml"),
        "{text}"
    );
    let text = invalid_value(load(Some("demo = \"yes\""), &[]));
    assert!(text.contains("`demo`"), "{text}");
    let text = invalid_value(load(Some("limits = 5"), &[]));
    assert!(text.contains("`limits`"), "{text}");
    let text = invalid_value(load(
        Some("[websocket]\nallowed_origins = \"https://a\""),
        &[],
    ));
    assert!(text.contains("websocket.allowed_origins"), "{text}");

    let text = invalid_value(load(None, &[("CIRCLEKEEPER_LIMITS__MAX_ROOMS", "abc")]));
    assert!(
        text.contains("`limits.max_rooms`") && text.contains("CIRCLEKEEPER_LIMITS__MAX_ROOMS"),
        "{text}"
    );
    let text = invalid_value(load(None, &[("CIRCLEKEEPER_LISTEN", "localhost")]));
    assert!(text.contains("`listen`"), "{text}");
    let text = invalid_value(load(None, &[("CIRCLEKEEPER_DEMO", "maybe")]));
    assert!(text.contains("`demo`"), "{text}");
    let text = invalid_value(load(
        None,
        &[("CIRCLEKEEPER_ROOMS__GRACE_SECONDS", "99999999999")],
    ));
    assert!(text.contains("`rooms.grace_seconds`"), "{text}");
}

#[test]
fn syntax_errors_are_reported() {
    let err = load(Some("listen = "), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
}

#[test]
fn validation() {
    let ok = Config::default();
    ok.validate().unwrap();

    let with = |f: &dyn Fn(&mut Config)| {
        let mut c = Config::default();
        f(&mut c);
        c.validate()
    };
    let key_of = |r: Result<(), ConfigError>| r.unwrap_err().key().unwrap().to_owned();

    assert_eq!(key_of(with(&|c| c.listen = addr("0.0.0.0:8080"))), "listen");
    assert_eq!(
        key_of(with(&|c| c.listen = addr("192.0.2.1:8080"))),
        "listen"
    );
    with(&|c| {
        c.listen = addr("0.0.0.0:8080");
        c.allow_plain_http_non_loopback = true;
    })
    .unwrap();
    with(&|c| c.listen = addr("[::1]:8080")).unwrap();

    assert_eq!(
        key_of(with(&|c| c.limits.max_rooms = 0)),
        "limits.max_rooms"
    );
    // [turn]: one relay or the other; a certificate comes with its key; a
    // host is a name or an address; limits are positive.
    with(&|c| c.turn.enabled = true).unwrap();
    assert_eq!(
        key_of(with(&|c| {
            c.turn.enabled = true;
            c.turn.external_urls = vec!["turn:t.example.org:3478".into()];
        })),
        "turn.enabled"
    );
    assert_eq!(
        key_of(with(&|c| c.turn.cert_file = Some("c.pem".into()))),
        "turn.cert_file"
    );
    assert_eq!(
        key_of(with(&|c| c.turn.host = Some("a b".into()))),
        "turn.host"
    );
    with(&|c| c.turn.host = Some("circles.example.org".into())).unwrap();
    assert_eq!(
        key_of(with(&|c| c.turn.allocations_per_session = 0)),
        "turn.allocations_per_session"
    );
    assert_eq!(
        key_of(with(&|c| c.limits.message_burst = 0)),
        "limits.message_burst"
    );
    assert_eq!(
        key_of(with(&|c| c.limits.outbound_queue = 0)),
        "limits.outbound_queue"
    );
    assert_eq!(
        key_of(with(
            &|c| c.limits.max_message_bytes = MAX_MESSAGE_BYTES_CEILING + 1
        )),
        "limits.max_message_bytes"
    );
    with(&|c| c.limits.max_message_bytes = MAX_MESSAGE_BYTES_CEILING).unwrap();
    assert_eq!(
        key_of(with(&|c| c.auth.invitation_days = 0)),
        "auth.invitation_days"
    );
    assert_eq!(
        key_of(with(&|c| c.auth.key_overlap_days = 3651)),
        "auth.key_overlap_days"
    );
    assert_eq!(key_of(with(&|c| c.auth.issuer.clear())), "auth.issuer");
    assert_eq!(
        key_of(with(&|c| c.auth.secret_file = Some(PathBuf::new()))),
        "auth.secret_file"
    );
    assert_eq!(key_of(with(&|c| c.data_dir = PathBuf::new())), "data_dir");
    for bad in [
        "",
        "ftp://x",
        "https://",
        "https://h/#frag",
        "circles.example.org",
        "http://a b",
    ] {
        assert_eq!(
            key_of(with(&|c| c.public_url = Some(bad.into()))),
            "public_url",
            "{bad}"
        );
    }
    with(&|c| c.public_url = Some("https://circles.example.org/base/".into())).unwrap();
    for bad in [
        "*",
        "https://*.example.org",
        "circles.example.org",
        "https://a.example/path",
        "null",
    ] {
        assert_eq!(
            key_of(with(&|c| c.websocket.allowed_origins = vec![bad.into()])),
            "websocket.allowed_origins",
            "{bad}"
        );
    }
    assert_eq!(
        key_of(with(&|c| c.rooms.grace_seconds = 90_000)),
        "rooms.grace_seconds"
    );
}

#[test]
fn public_url_and_paths() {
    let mut c = Config {
        listen: addr("0.0.0.0:9000"),
        ..Config::default()
    };
    assert_eq!(c.public_url(), "http://127.0.0.1:9000");
    c.listen = addr("[::]:9000");
    assert_eq!(c.public_url(), "http://[::1]:9000");
    c.listen = addr("[::1]:9000");
    assert_eq!(c.public_url(), "http://[::1]:9000");
    c.public_url = Some("https://circles.example.org///".into());
    assert_eq!(c.public_url(), "https://circles.example.org");

    c.data_dir = PathBuf::from("/srv/ck");
    assert_eq!(c.secret_path(), PathBuf::from("/srv/ck/token-secret"));
}

#[test]
fn allowed_origins_default_to_public_url_and_loopback() {
    let c = Config::default();
    assert_eq!(
        c.allowed_origins(),
        vec![
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080"
        ]
    );
    assert!(c.origin_allowed("http://localhost:8080"));
    assert!(c.origin_allowed("HTTP://LOCALHOST:8080"));
    assert!(!c.origin_allowed("http://localhost:8081"));
    assert!(!c.origin_allowed("https://evil.example"));
    assert!(!c.origin_allowed("null"));
    assert!(!c.origin_allowed(""));

    let mut c = Config {
        public_url: Some("https://Circles.Example.org:443/some/path".into()),
        ..Config::default()
    };
    assert_eq!(c.allowed_origins()[0], "https://circles.example.org");
    assert!(c.origin_allowed("https://circles.example.org"));
    assert!(c.origin_allowed("http://127.0.0.1:8080"));
    assert!(!c.origin_allowed("http://circles.example.org"));

    c.websocket.allowed_origins = vec!["https://only.example/".into()];
    assert_eq!(c.allowed_origins(), vec!["https://only.example"]);
    assert!(!c.origin_allowed("http://127.0.0.1:8080"));
    assert!(!c.origin_allowed("https://circles.example.org"));
}

#[test]
fn load_reads_the_given_file_and_requires_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = Config::load(Some(&missing), &CliOverrides::default()).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound(_)), "{err:?}");

    let path = dir.path().join("ck.toml");
    std::fs::write(&path, "[limits]\nmax_rooms = 9\nbogus = 1\n").unwrap();
    let err = Config::load(Some(&path), &CliOverrides::default()).unwrap_err();
    assert!(err.to_string().contains("ck.toml"), "{err}");
    assert!(err.to_string().contains("limits.bogus"), "{err}");

    std::fs::write(&path, "[limits]\nmax_rooms = 9\n").unwrap();
    let cli = CliOverrides {
        listen: None,
        data_dir: Some(dir.path().join("data")),
    };
    let c = Config::load(Some(&path), &cli).unwrap();
    assert_eq!(c.limits.max_rooms, 9);
    assert_eq!(c.data_dir, dir.path().join("data"));

    // Validation runs on load.
    std::fs::write(&path, "listen = \"0.0.0.0:8080\"\n").unwrap();
    let err = Config::load(Some(&path), &CliOverrides::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
}

#[test]
fn env_values_parse_as_toml_or_string() {
    assert_eq!(parse_env_value("20"), toml::Value::Integer(20));
    assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
    assert_eq!(
        parse_env_value("./data"),
        toml::Value::String("./data".into())
    );
    assert_eq!(
        parse_env_value("127.0.0.1:80"),
        toml::Value::String("127.0.0.1:80".into())
    );
    assert_eq!(
        parse_env_value("1\nx = 2"),
        toml::Value::String("1\nx = 2".into())
    );
    assert_eq!(parse_env_value(""), toml::Value::String(String::new()));
}

#[test]
fn media_settings_come_from_file_and_environment() {
    let file = "[media]\nudp_port = 40000\nworkers = 3\nice_servers = [{ urls = [\"stun:stun.example.org:3478\"] }]\n";
    let c = load(
        Some(file),
        &[("CIRCLEKEEPER_MEDIA__PUBLIC_IP", "203.0.113.7")],
    )
    .unwrap();
    let media = c.media.media_config();
    assert_eq!((media.udp_port, media.workers), (40000, 3));
    assert_eq!(media.public_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(
        media.bind_ip,
        std::net::IpAddr::from([0, 0, 0, 0]),
        "media workers listen on every interface, even for a loopback server (Firefox)"
    );
    assert_eq!(
        media.ice_servers[0].urls,
        vec!["stun:stun.example.org:3478".to_owned()]
    );
    assert!(
        Config::default().media.ice_servers.is_empty(),
        "no third-party servers by default"
    );
    let mut bad = Config::default();
    bad.media.udp_port = 65_535;
    bad.media.workers = 2;
    assert_eq!(bad.validate().unwrap_err().key(), Some("media.udp_port"));
    // The earlier engine's keys are gone: an old file names them, loudly.
    let old = load(Some("[media]\nengine = \"tasks\"\n"), &[]);
    assert!(old.is_err(), "an unknown media key is refused");
}

#[test]
fn the_log_filter_variable_is_not_a_setting() {
    let c = load(
        None,
        &[
            ("CIRCLEKEEPER_LOG", "debug"),
            ("CIRCLEKEEPER_CONFIG", "x.toml"),
        ],
    )
    .unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn the_store_is_sqlite_in_the_data_dir_unless_a_postgres_url_is_given() {
    let c = load(None, &[("CIRCLEKEEPER_DATA_DIR", "/var/ck")]).unwrap();
    assert_eq!(
        c.store_location(),
        crate::store::Location::Sqlite(PathBuf::from("/var/ck"))
    );

    let url = "postgres://ck:pw@db.internal/circlekeeper";
    let c = load(
        Some("[store]\nurl = \"postgres://ck:pw@db.internal/circlekeeper\"\n"),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.store_location(),
        crate::store::Location::Postgres(url.into())
    );
    let c = load(None, &[("CIRCLEKEEPER_STORE__URL", url)]).unwrap();
    assert_eq!(c.store.url.as_deref(), Some(url));

    // Anything else is refused at start, without echoing what may hold a password.
    let err = load(
        None,
        &[("CIRCLEKEEPER_STORE__URL", "mysql://u:secret@h/db")],
    )
    .unwrap()
    .validate()
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("store.url"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}
