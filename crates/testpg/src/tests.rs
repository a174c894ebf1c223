//! These start real servers (a second or two each) and check them with `psql`.

use super::*;

/// The database name in a URL made by [`Postgres::url`].
fn db_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap()
}

/// Runs one query with `psql` and returns its unaligned, tuples-only output.
fn psql(pg: &Postgres, db: &str, sql: &str) -> String {
    let out = Command::new(pg.bin.join("psql"))
        .arg("-h")
        .arg(pg.socket_dir())
        .args(["-p", &PORT.to_string(), "-U", USER, "-d", db])
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn fresh_databases_exist_are_distinct_and_drop_stops_the_server() {
    let pg = Postgres::start().unwrap();
    let (a, b) = (pg.fresh_database().unwrap(), pg.fresh_database().unwrap());
    let (name_a, name_b) = (db_name(&a), db_name(&b));
    assert_ne!(name_a, name_b);
    assert_eq!(a, pg.url(name_a));
    assert_eq!(psql(&pg, name_a, "select current_database()"), name_a);
    assert_eq!(psql(&pg, name_b, "select current_database()"), name_b);
    assert_eq!(psql(&pg, name_a, "select 1"), "1");
    // A table in one is not visible in the other.
    psql(&pg, name_a, "create table t (x int)");
    assert_eq!(
        psql(
            &pg,
            name_b,
            "select count(*) from pg_class where relname = 't'"
        ),
        "0"
    );
    // Bytewise collation, UTF-8, and the fast test settings.
    assert_eq!(
        psql(
            &pg,
            name_a,
            "select datcollate from pg_database where datname = current_database()"
        ),
        "C"
    );
    assert_eq!(psql(&pg, name_a, "show server_encoding"), "UTF8");
    assert_eq!(psql(&pg, name_a, "show fsync"), "off");
    assert_eq!(psql(&pg, name_a, "show listen_addresses"), "");

    let (dir, pid) = (pg.socket_dir().to_owned(), pg.pid);
    let socket = dir.join(format!(".s.PGSQL.{PORT}"));
    assert!(socket.exists() && process_alive(pid));
    // The postmaster's own pid file agrees with the pid the guard shell reported.
    let pidfile = std::fs::read_to_string(dir.join("data/postmaster.pid")).unwrap();
    assert_eq!(pidfile.lines().next().unwrap(), pid.to_string());
    drop(pg);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!socket.exists());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "postmaster {pid} still exists"
    );
}

#[test]
fn durable_server_keeps_default_settings() {
    let pg = Postgres::start_durable().unwrap();
    let db = pg.fresh_database().unwrap();
    assert_eq!(psql(&pg, db_name(&db), "show fsync"), "on");
    assert_eq!(psql(&pg, db_name(&db), "show synchronous_commit"), "on");
    assert_eq!(psql(&pg, db_name(&db), "show max_connections"), "200");
    assert_eq!(psql(&pg, db_name(&db), "show wal_init_zero"), "on");
    // Segments after the current one are there already, as in a server in
    // service, so the log's next crossing does not create and zero-fill one.
    let current = psql(
        &pg,
        "postgres",
        "select pg_walfile_name(pg_current_wal_lsn())",
    );
    let later = std::fs::read_dir(pg.socket_dir().join("data/pg_wal"))
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().into_string().ok())
        .filter(|name| name.len() == 24 && name.as_str() > current.as_str())
        .count();
    assert!(later >= 4, "{later} segment(s) after {current}");
}

#[test]
fn shared_server_is_started_once() {
    assert!(std::ptr::eq(shared(), shared()));
    let url = shared().fresh_database().unwrap();
    let dir = shared().socket_dir().display().to_string();
    assert_eq!(
        url,
        format!(
            "postgres://circlekeeper@localhost/{}?host={dir}&port=5432",
            db_name(&url)
        )
    );
    assert_eq!(psql(shared(), db_name(&url), "select 1"), "1");
}
