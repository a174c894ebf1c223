//! The program's outline library: outlines saved through the API, and the
//! ones keepers set in their rooms (`Record::OutlineSaved`, written with the
//! journal entry). Names are unique; a keeper's save replaces by name.

use rand::RngCore;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, ts_from_db, ts_to_db, write_error};
use crate::circle::{Outline, Timestamp};

/// One outline of the library.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredOutline {
    /// `ol_…`, stable across replacements by name.
    pub id: String,
    pub outline: Outline,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn new_outline_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    format!("ol_{}", hex::encode(bytes))
}

fn stored(r: &AnyRow) -> Result<StoredOutline, StoreError> {
    let steps: String = r.try_get("steps")?;
    Ok(StoredOutline {
        id: r.try_get("id")?,
        outline: Outline {
            name: r.try_get("name")?,
            steps: serde_json::from_str(&steps)
                .map_err(|_| StoreError::Corrupt("outline steps"))?,
        },
        created_at: ts_from_db(r.try_get("created_at")?)?,
        updated_at: ts_from_db(r.try_get("updated_at")?)?,
    })
}

/// Inside `append`'s transaction: insert, or replace the steps of the
/// outline with the same name (its id and creation time stay).
pub(super) async fn save(
    conn: &mut AnyConnection,
    outline: &Outline,
    at: Timestamp,
) -> Result<(), StoreError> {
    let at = ts_to_db(at)?;
    sqlx::query(
        "INSERT INTO outlines (id, name, steps, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET steps = excluded.steps, updated_at = excluded.updated_at",
    )
    .bind(new_outline_id())
    .bind(&outline.name)
    .bind(serde_json::to_string(&outline.steps)?)
    .bind(at)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

impl Store {
    /// A new outline in the library; `Duplicate` if its name is taken.
    pub async fn create_outline(
        &self,
        outline: &Outline,
        at: Timestamp,
    ) -> Result<StoredOutline, StoreError> {
        let row = StoredOutline {
            id: new_outline_id(),
            outline: outline.clone(),
            created_at: at,
            updated_at: at,
        };
        sqlx::query(
            "INSERT INTO outlines (id, name, steps, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&outline.name)
        .bind(serde_json::to_string(&outline.steps)?)
        .bind(ts_to_db(at)?)
        .bind(ts_to_db(at)?)
        .execute(&self.writer)
        .await
        .map_err(write_error)?;
        Ok(row)
    }

    /// The whole library, by name.
    pub async fn outlines(&self) -> Result<Vec<StoredOutline>, StoreError> {
        sqlx::query(
            "SELECT id, name, steps, created_at, updated_at FROM outlines ORDER BY name, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    pub async fn outline(&self, id: &str) -> Result<Option<StoredOutline>, StoreError> {
        sqlx::query("SELECT id, name, steps, created_at, updated_at FROM outlines WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(stored)
            .transpose()
    }

    /// True when it existed. Rooms keep their own copy.
    pub async fn delete_outline(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM outlines WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circle::{
        Command, Input, OutlineStep, Phase, Record, RoomKind, SessionId, Settings, StepKind,
    };
    use crate::store::RoomRow;
    use crate::store::testing::{Place, on_both_backends};

    fn outline(name: &str, prompt: &str) -> Outline {
        Outline {
            name: name.into(),
            steps: vec![OutlineStep {
                kind: StepKind::Round,
                prompt: prompt.into(),
                speakers: Vec::new(),
            }],
        }
    }

    on_both_backends!(the_library_keeps_outlines_and_a_keepers_save_replaces_by_name);
    async fn the_library_keeps_outlines_and_a_keepers_save_replaces_by_name(place: Place) {
        let store = place.open().await;
        let first = store
            .create_outline(&outline("Harm circle", "Who was affected?"), Timestamp(10))
            .await
            .unwrap();
        assert!(first.id.starts_with("ol_"));
        assert!(matches!(
            store
                .create_outline(&outline("Harm circle", "Other"), Timestamp(11))
                .await,
            Err(StoreError::Duplicate)
        ));

        // A keeper's set_outline, journaled in a room: same name, new steps, same id.
        store
            .create_room(&RoomRow {
                id: "r1".into(),
                settings: Settings::for_kind(RoomKind::Circle, "R"),
                phase: Phase::Open,
                created_at: Timestamp(1),
            })
            .await
            .unwrap();
        let changed = outline("Harm circle", "What is needed now?");
        let input = Input::Command {
            session: SessionId(1),
            command: Command::SetOutline {
                outline: changed.clone(),
            },
        };
        let saved = [Record::OutlineSaved {
            outline: changed.clone(),
        }];
        store
            .append("r1", Timestamp(20), &input, &saved)
            .await
            .unwrap();
        let new = Record::OutlineSaved {
            outline: outline("Check-in only", "How are you?"),
        };
        store
            .append("r1", Timestamp(30), &input, &[new])
            .await
            .unwrap();

        let all = store.outlines().await.unwrap();
        let names: Vec<&str> = all.iter().map(|o| o.outline.name.as_str()).collect();
        assert_eq!(names, ["Check-in only", "Harm circle"], "by name");
        let replaced = store.outline(&first.id).await.unwrap().expect("same id");
        assert_eq!(replaced.outline, changed);
        assert_eq!(
            (replaced.created_at, replaced.updated_at),
            (Timestamp(10), Timestamp(20))
        );

        assert!(store.delete_outline(&first.id).await.unwrap());
        assert!(!store.delete_outline(&first.id).await.unwrap());
        assert_eq!(store.outline(&first.id).await.unwrap(), None);
    }
}
