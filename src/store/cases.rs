//! Cases (SPEC §2 "Case", issue 15): a program's matter, grouping its rooms —
//! preparation meetings with one party each, and the joint meeting. A case
//! holds a title and nothing about the people in it; its rooms name it in
//! `api_rooms.case_id`.

use sqlx::Row;

use super::{Store, StoreError, ts_from_db, ts_to_db, write_error};
use crate::circle::Timestamp;

#[derive(Clone, Debug, PartialEq)]
pub struct CaseRow {
    pub id: String,
    pub title: String,
    pub created_at: Timestamp,
}

/// Why `delete_case` deleted nothing.
#[derive(Debug, thiserror::Error)]
pub enum CaseDeleteError {
    #[error("no such case")]
    NotFound,
    /// Rooms still name the case: delete them (or let retention) first.
    #[error("rooms still belong to the case")]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// `Duplicate` if the id exists.
    pub async fn create_case(&self, case: &CaseRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO cases (id, title, created_at) VALUES ($1, $2, $3)")
            .bind(&case.id)
            .bind(&case.title)
            .bind(ts_to_db(case.created_at)?)
            .execute(&self.writer)
            .await
            .map_err(write_error)?;
        Ok(())
    }

    pub async fn case(&self, id: &str) -> Result<Option<CaseRow>, StoreError> {
        let row = sqlx::query("SELECT id, title, created_at FROM cases WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(CaseRow {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                created_at: ts_from_db(r.try_get("created_at")?)?,
            })
        })
        .transpose()
    }

    /// Deletes a case no room names any more, checked in the same
    /// transaction so that a room created meanwhile cannot be orphaned.
    pub async fn delete_case(&self, id: &str) -> Result<(), CaseDeleteError> {
        let mut tx = self.write_tx().await?;
        // Delete first (takes the write lock), then look for rooms.
        let deleted = sqlx::query("DELETE FROM cases WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?
            .rows_affected();
        if deleted == 0 {
            return Err(CaseDeleteError::NotFound);
        }
        let rooms: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_rooms WHERE case_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if rooms > 0 {
            return Err(CaseDeleteError::NotEmpty);
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
