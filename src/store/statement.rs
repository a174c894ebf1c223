//! One SQL statement of a journal append with its values: run on its own, or
//! composed with the others of its entry into one statement (`Composer`), so
//! that an append on Postgres is one round trip (`group_commit`).

use std::borrow::Cow;
use std::fmt::Write;

use sqlx::any::{Any, AnyArguments, AnyQueryResult};
use sqlx::query::Query;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::StoreError;

/// A value for one `$n` of a statement.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Text(String),
    Bool(bool),
    Null,
}

/// SQL numbered from `$1` in the order of `values`. The SQL never holds a `$`
/// of its own: every `$` starts a parameter.
#[derive(Clone, Debug)]
pub(super) struct Statement {
    sql: Cow<'static, str>,
    values: Vec<Value>,
    /// Must not share one statement with others (`Composer`).
    alone: bool,
}

impl Statement {
    pub(super) fn new(sql: impl Into<Cow<'static, str>>) -> Statement {
        Statement {
            sql: sql.into(),
            values: Vec::new(),
            alone: false,
        }
    }

    /// Marks a statement that must run on its own, e.g. an update that could
    /// meet a row inserted by another part of a composed statement.
    pub(super) fn alone(mut self) -> Statement {
        self.alone = true;
        self
    }

    pub(super) fn is_alone(&self) -> bool {
        self.alone
    }

    /// The statement behind `prefix` (a `WITH` clause, say), same values.
    pub(super) fn prefixed(&self, prefix: &str) -> Statement {
        Statement {
            sql: Cow::Owned(format!("{prefix}{}", self.sql)),
            values: self.values.clone(),
            alone: self.alone,
        }
    }

    pub(super) fn int(mut self, v: i64) -> Statement {
        self.values.push(Value::Int(v));
        self
    }

    pub(super) fn text(mut self, v: impl Into<String>) -> Statement {
        self.values.push(Value::Text(v.into()));
        self
    }

    pub(super) fn opt_text(mut self, v: Option<&str>) -> Statement {
        self.values
            .push(v.map_or(Value::Null, |v| Value::Text(v.to_owned())));
        self
    }

    pub(super) fn bool(mut self, v: bool) -> Statement {
        self.values.push(Value::Bool(v));
        self
    }

    fn query(&self) -> Query<'_, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql.as_ref()));
        for value in &self.values {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.as_str()),
                Value::Bool(v) => query.bind(*v),
                Value::Null => query.bind(None::<String>),
            };
        }
        query
    }

    /// Runs the statement alone.
    pub(super) async fn execute(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<AnyQueryResult, sqlx::Error> {
        self.query().execute(conn).await
    }

    /// Runs a statement that returns at most one integer.
    pub(super) async fn fetch_int(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Option<i64>, sqlx::Error> {
        use sqlx::Row;
        match self.query().fetch_optional(conn).await? {
            Some(row) => Ok(Some(row.try_get(0)?)),
            None => Ok(None),
        }
    }

    /// The statement prepared (or taken from the cache) on the SQLite
    /// journal thread's connection, each `$n` bound to its value.
    pub(super) fn bound<'c>(
        &self,
        conn: &'c rusqlite::Connection,
    ) -> Result<rusqlite::CachedStatement<'c>, StoreError> {
        let mut prepared = conn.prepare_cached(&self.sql)?;
        for index in 1..=prepared.parameter_count() {
            let n = prepared
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok());
            let value = n
                .and_then(|n| self.values.get(n.checked_sub(1)?))
                .ok_or(StoreError::OutOfRange("statement parameter"))?;
            match value {
                Value::Int(v) => prepared.raw_bind_parameter(index, v)?,
                Value::Text(v) => prepared.raw_bind_parameter(index, v.as_str())?,
                Value::Bool(v) => prepared.raw_bind_parameter(index, v)?,
                Value::Null => prepared.raw_bind_parameter(index, rusqlite::types::Null)?,
            }
        }
        Ok(prepared)
    }

    /// Appends the SQL to `out` with each `$n` renumbered `$(n + offset)`.
    fn write_renumbered(&self, out: &mut String, offset: usize) -> Result<(), StoreError> {
        let mut rest = self.sql.as_ref();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            let n: usize = rest[at + 1..at + 1 + digits]
                .parse()
                .map_err(|_| StoreError::OutOfRange("statement parameter"))?;
            if n == 0 || n > self.values.len() {
                return Err(StoreError::OutOfRange("statement parameter"));
            }
            let _ = write!(out, "${}", n + offset);
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        Ok(())
    }
}

/// Builds one statement from several, each part's `$n` renumbered after the
/// values of the parts before it.
#[derive(Default)]
pub(super) struct Composer {
    sql: String,
    values: Vec<Value>,
}

impl Composer {
    /// SQL of the composer's own, without parameters.
    pub(super) fn sql(&mut self, sql: &str) -> &mut Composer {
        self.sql.push_str(sql);
        self
    }

    pub(super) fn part(&mut self, part: &Statement) -> Result<&mut Composer, StoreError> {
        part.write_renumbered(&mut self.sql, self.values.len())?;
        self.values.extend(part.values.iter().cloned());
        Ok(self)
    }

    pub(super) fn finish(self) -> Statement {
        Statement {
            sql: Cow::Owned(self.sql),
            values: self.values,
            alone: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_renumbered_after_the_values_before_them() {
        let first = Statement::new("a AS (SELECT $1, $2, $1)")
            .text("room")
            .int(7);
        let second = Statement::new("b AS (SELECT $2 || $1)")
            .text("room")
            .text("x");
        let mut composer = Composer::default();
        composer.sql("WITH ");
        composer
            .part(&first)
            .unwrap()
            .sql(", ")
            .part(&second)
            .unwrap()
            .sql(" SELECT 1");
        let whole = composer.finish();
        assert_eq!(
            whole.sql,
            "WITH a AS (SELECT $1, $2, $1), b AS (SELECT $4 || $3) SELECT 1"
        );
        assert_eq!(
            whole.values,
            [
                Value::Text("room".into()),
                Value::Int(7),
                Value::Text("room".into()),
                Value::Text("x".into())
            ]
        );
    }

    #[test]
    fn a_parameter_without_a_value_is_an_error_not_a_panic() {
        for sql in ["SELECT $2", "SELECT $0", "SELECT $"] {
            let err = Composer::default()
                .part(&Statement::new(sql).int(1))
                .map(|_| ());
            assert!(matches!(err, Err(StoreError::OutOfRange(_))), "{sql}");
        }
    }
}
