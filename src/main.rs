//! `circlekeeper`: parse the command line, set up logging, call the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use circlekeeper::auth::{TokenKeys, with_language};
use circlekeeper::circle::{Party, Phase, Role, RoomKind, Settings};
use circlekeeper::config::{CliOverrides, Config};
use circlekeeper::invitations::{Seat, ensure_room, issue};
use circlekeeper::store::{Lock, Store};
use circlekeeper::{demo, server, telemetry};

/// A secure real-time server for restorative-justice circles and
/// victim-offender dialogues. With no command it serves.
#[derive(Parser)]
#[command(name = "circlekeeper", version)]
struct Cli {
    /// Configuration file [default: config/circlekeeper.toml when it exists].
    #[arg(long, global = true, env = "CIRCLEKEEPER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Directory of the embedded store and the token secret.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the server (the default).
    Serve,
    /// Mint an invitation link; creates the room when it does not exist.
    Invite {
        /// Room id (letters, digits, - and _).
        #[arg(long)]
        room: String,
        #[arg(long)]
        seat: u32,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long, value_enum)]
        party: Option<PartyArg>,
        /// The name the others will see.
        #[arg(long)]
        name: String,
        /// Kind of a room created by this command.
        #[arg(long, value_enum, default_value = "circle")]
        kind: KindArg,
        /// Title of a room created by this command.
        #[arg(long, default_value = "Circle")]
        title: String,
        /// Days the link stays valid [default: auth.invitation_days].
        #[arg(long)]
        days: Option<u32>,
        /// The person's language (`es`, `ar`, …), added to the link as `&lang=`;
        /// also the language of a room created by this command.
        #[arg(long, value_parser = language_tag)]
        lang: Option<String>,
    },
    /// Manage the keys that sign invitation links.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Copy the embedded SQLite store (in --data-dir) into an empty Postgres
    /// database, to move to Postgres or several nodes. Stop the server first.
    CopyStore {
        /// The Postgres database [default: store.url from the configuration].
        #[arg(long)]
        to: Option<String>,
    },
    /// Make TLS certificates: `--dev` writes a self-signed one for localhost.
    Certs {
        /// A development certificate for localhost, 127.0.0.1 and ::1 (never commit it).
        #[arg(long, required = true)]
        dev: bool,
        /// Where to write dev-cert.pem and dev-key.pem.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new signing key; links signed by the old one keep working for
    /// auth.key_overlap_days. A running server uses the new key once restarted.
    Rotate,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Keeper,
    Participant,
    Observer,
}

#[derive(Clone, Copy, ValueEnum)]
enum PartyArg {
    Harmed,
    Responsible,
    Supporter,
    Community,
    Professional,
    Interpreter,
    Guardian,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Circle,
    Conference,
    Preparation,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = CliOverrides {
        listen: cli.listen,
        data_dir: cli.data_dir.clone(),
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("circlekeeper: configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(config.log_format);
    let result = match cli.command {
        None | Some(Commands::Serve) => serve(config).await,
        Some(Commands::Certs { dev: _, dir }) => certs(&dir),
        Some(Commands::CopyStore { to }) => copy_store(&config, to).await,
        Some(Commands::Keys {
            action: KeysAction::Rotate,
        }) => rotate_keys(&config),
        Some(Commands::Invite {
            room,
            seat,
            role,
            party,
            name,
            kind,
            title,
            days,
            lang,
        }) => {
            let role = match role {
                RoleArg::Keeper => Role::Keeper,
                RoleArg::Participant => Role::Participant,
                RoleArg::Observer => Role::Observer,
            };
            let kind = match kind {
                KindArg::Circle => RoomKind::Circle,
                KindArg::Conference => RoomKind::Conference,
                KindArg::Preparation => RoomKind::Preparation,
            };
            let seat = Seat {
                seat,
                role,
                party: party.map(party_of),
                name: &name,
                interprets_for: &[],
            };
            let created = Created {
                kind,
                title: &title,
                language: lang.as_deref(),
            };
            invite(config, &room, seat, created, days).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("circlekeeper: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Clap's check of `--lang`: a language tag of 2 or 3 lowercase letters.
fn language_tag(text: &str) -> Result<String, String> {
    if circlekeeper::circle::is_language_tag(text) {
        Ok(text.to_owned())
    } else {
        Err("a language tag is 2 or 3 lowercase letters, like es".to_owned())
    }
}

fn party_of(party: PartyArg) -> Party {
    match party {
        PartyArg::Harmed => Party::Harmed,
        PartyArg::Responsible => Party::Responsible,
        PartyArg::Supporter => Party::Supporter,
        PartyArg::Community => Party::Community,
        PartyArg::Professional => Party::Professional,
        PartyArg::Interpreter => Party::Interpreter,
        PartyArg::Guardian => Party::Guardian,
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    // With port 0 the links must name the port actually bound.
    config.listen = address;
    let demo_enabled = config.demo;
    let (app, shutdown_tx) = server::build(config).await?;
    tracing::info!(%address, "listening");
    if demo_enabled {
        for line in demo::prepare(&app).await? {
            println!("{line}");
        }
    }
    let scheme = if app.config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    println!("Circle Keeper is running on {scheme}://{address} — Ctrl-C stops it.");
    server::serve(app, shutdown_tx, listener, server::shutdown_signal()).await
}

async fn copy_store(config: &Config, to: Option<String>) -> anyhow::Result<()> {
    let Some(url) = to.or_else(|| config.store.url.clone()) else {
        anyhow::bail!("name the Postgres database: --to postgres://… or [store] url");
    };
    let counts = circlekeeper::store::copy_to_postgres(&config.data_dir, &url).await?;
    println!(
        "Copied the store in {} to Postgres:",
        config.data_dir.display()
    );
    for (table, rows) in counts {
        println!("  {table:<18} {rows:>9} rows");
    }
    println!("Set [store] url to that database and start the server there.");
    println!("Keep the data directory: its token-secret signs and checks every link.");
    Ok(())
}

fn certs(dir: &std::path::Path) -> anyhow::Result<()> {
    let made = circlekeeper::tls::generate_dev_certificate(dir)?;
    println!("Wrote a development certificate (browsers will warn; never commit it).");
    println!("To serve HTTPS, add to config/circlekeeper.toml:\n");
    println!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"",
        made.cert_file.display(),
        made.key_file.display()
    );
    Ok(())
}

fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let now = circlekeeper::rooms::wall_clock();
    let overlap = config.key_overlap_secs();
    let rotation = TokenKeys::rotate(&config.secret_path(), now.0 / 1000, overlap)?;
    let until = circlekeeper::store::rfc3339(circlekeeper::circle::Timestamp(
        now.0.saturating_add(overlap.saturating_mul(1000)),
    ));
    println!("New signing key {}.", rotation.new_kid);
    println!(
        "Links signed by key {} are accepted until {until} (auth.key_overlap_days = {}).",
        rotation.retired_kid, config.auth.key_overlap_days
    );
    println!("Restart the server to sign new links with the new key.");
    Ok(())
}

/// The room `invite` creates when it does not exist, and the link's language.
struct Created<'a> {
    kind: RoomKind,
    title: &'a str,
    language: Option<&'a str>,
}

async fn invite(
    config: Config,
    room: &str,
    seat: Seat<'_>,
    created: Created<'_>,
    days: Option<u32>,
) -> anyhow::Result<()> {
    let Created {
        kind,
        title,
        language,
    } = created;
    let valid_room_id = !room.is_empty()
        && room.len() <= 64
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    anyhow::ensure!(
        valid_room_id,
        "a room id is 1 to 64 letters, digits, - or _"
    );
    // The store and the keys only: no lease, media or TURN. A server may be
    // running, and this process is not a node (its lease would speak for one).
    // It writes to the store, so a copy-store must not be reading it.
    let _writing = circlekeeper::store::lock(&config.data_dir, Lock::Server)?;
    let store = Store::open_at(&config.store_location()).await?;
    let keys = TokenKeys::load_or_create(
        &config.secret_path(),
        &config.auth.issuer,
        &config.auth.audience,
    )?;
    let mut settings = Settings::for_kind(kind, title);
    settings.grace_ms = u64::from(config.rooms.grace_seconds) * 1000;
    if let Some(language) = language {
        settings.language = language.to_owned();
    }
    if ensure_room(&store, room, settings, Phase::Open).await? {
        eprintln!("created {kind:?} room {room}");
    }
    let days = days.unwrap_or(config.auth.invitation_days);
    let issued = issue(
        &store,
        &keys,
        &config.public_url(),
        room,
        seat,
        u64::from(days) * 86_400,
    )
    .await?;
    store.close().await;
    println!("{}", with_language(issued.link, language));
    Ok(())
}
