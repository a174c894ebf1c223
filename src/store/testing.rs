//! The store's test suite runs once per backend: SQLite in a temporary
//! directory, and Postgres on a fresh database of the test process's own
//! server (`testpg`, Debian's real Postgres; never skipped when missing).

use super::{Location, Store};

/// Where one test's store lives; the directory (SQLite) lives as long as this.
pub(super) struct Place {
    pub location: Location,
    _dir: Option<tempfile::TempDir>,
}

impl Place {
    pub(super) fn sqlite() -> Place {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Place {
            location: Location::Sqlite(dir.path().join("nested").join("data")),
            _dir: Some(dir),
        }
    }

    pub(super) async fn postgres() -> Place {
        // createdb is a child process; keep it off the runtime's thread.
        let url = tokio::task::spawn_blocking(|| testpg::shared().fresh_database())
            .await
            .expect("createdb task")
            .expect("a fresh Postgres database");
        Place {
            location: Location::Postgres(url),
            _dir: None,
        }
    }

    /// Opens (and migrates) the store here; call again to reopen it.
    pub(super) async fn open(&self) -> Store {
        Store::open_at(&self.location)
            .await
            .expect("open the store")
    }
}

/// `on_both_backends!(name)` turns `async fn name(place: Place)` into two
/// tests, `name::sqlite` and `name::postgres`; `multi_thread:` gives them a
/// four-thread runtime.
macro_rules! on_both_backends {
    ($name:ident) => {
        on_both_backends!(@ $name, tokio::test);
    };
    (multi_thread: $name:ident) => {
        on_both_backends!(@ $name, tokio::test(flavor = "multi_thread", worker_threads = 4));
    };
    (@ $name:ident, $($test:tt)*) => {
        mod $name {
            use crate::store::testing::Place;

            #[$($test)*]
            async fn sqlite() {
                super::$name(Place::sqlite()).await
            }

            #[$($test)*]
            async fn postgres() {
                super::$name(Place::postgres().await).await
            }
        }
    };
}
pub(super) use on_both_backends;
