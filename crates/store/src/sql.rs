//! Running portable SQL: `$n` placeholders work on both SQLite and PostgreSQL,
//! so each statement is written once. Bulk statements pass a batch's rows as one
//! JSON array, read as a table by `jsonb_to_recordset` (PostgreSQL) or
//! `json_each` (SQLite): the only place where the SQL differs per backend.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, Statement, Value};

pub async fn exec(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) -> Result<ExecResult, DbErr> {
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await
}

pub async fn all(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await
}

pub async fn one(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, DbErr> {
    db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await
}

/// A subquery of the ids in the JSON array bound as `$1`, for `id IN (...)`.
/// One SQL text for any number of ids: prepared once, planned for a short list.
pub fn id_list(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "SELECT (value)::bigint FROM jsonb_array_elements_text($1::jsonb)",
        _ => "SELECT value FROM json_each($1)",
    }
}

/// Binds ids for [`id_list`].
pub fn ids(ids: &[i64]) -> Value {
    json(&serde_json::Value::from(ids.to_vec()))
}

/// A JSON value for binding.
pub fn json(value: &serde_json::Value) -> Value {
    Value::Json(Some(Box::new(value.clone())))
}

pub fn text(value: impl Into<String>) -> Value {
    Value::String(Some(value.into()))
}

pub fn text_opt(value: Option<impl Into<String>>) -> Value {
    Value::String(value.map(Into::into))
}

pub fn int(value: i64) -> Value {
    Value::BigInt(Some(value))
}

pub fn int_opt(value: Option<i64>) -> Value {
    Value::BigInt(value)
}

/// The SQL type of a column in a bulk statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Json,
}

/// A column list for bulk statements.
pub type Columns = &'static [(&'static str, Kind)];

/// The rows as a derived table named `x`: one JSON parameter (`$1`) holding an
/// array of objects. The SQL text is the same for any number of rows, so each
/// statement is prepared once and the whole batch travels in one value.
/// Absent keys are SQL NULL.
fn json_rows(backend: DbBackend, columns: Columns) -> String {
    match backend {
        DbBackend::Postgres => {
            let types: Vec<String> = columns
                .iter()
                .map(|(name, kind)| {
                    let kind = match kind {
                        Kind::Int => "bigint",
                        Kind::Text => "text",
                        Kind::Json => "jsonb",
                    };
                    format!("{name} {kind}")
                })
                .collect();
            format!("jsonb_to_recordset($1::jsonb) AS x({})", types.join(", "))
        }
        _ => {
            let fields: Vec<String> = columns
                .iter()
                .map(|(name, kind)| match kind {
                    Kind::Json => format!("value -> '$.{name}' AS {name}"),
                    _ => format!("value ->> '$.{name}' AS {name}"),
                })
                .collect();
            format!("(SELECT {} FROM json_each($1)) AS x", fields.join(", "))
        }
    }
}

/// Inserts every row in one statement, returning `returning` columns of each new row.
pub async fn bulk_insert(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: Columns,
    rows: Vec<serde_json::Value>,
    returning: Option<&str>,
) -> Result<Vec<QueryResult>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let names = names.join(", ");
    let mut sql = format!("INSERT INTO {table} ({names}) SELECT {names} FROM {}", json_rows(backend, columns));
    let values = vec![json(&serde_json::Value::Array(rows))];
    match returning {
        Some(returning) => {
            sql.push_str(" RETURNING ");
            sql.push_str(returning);
            all(db, backend, &sql, values).await
        }
        None => exec(db, backend, &sql, values).await.map(|_| Vec::new()),
    }
}

/// `UPDATE table SET <set> FROM <rows as x> WHERE <condition>`; returns rows affected.
pub async fn bulk_update(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: Columns,
    set: &str,
    condition: &str,
    rows: Vec<serde_json::Value>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sql = format!("UPDATE {table} SET {set} FROM {} WHERE {condition}", json_rows(backend, columns));
    Ok(exec(db, backend, &sql, vec![json(&serde_json::Value::Array(rows))]).await?.rows_affected())
}

/// Builds a JSON row, leaving out `None`s (they become SQL NULL).
#[macro_export]
macro_rules! row {
    ($($name:literal : $value:expr),* $(,)?) => {{
        let mut map = serde_json::Map::new();
        $( if let Some(value) = $crate::sql::IntoCell::into_cell($value) { map.insert($name.to_owned(), value); } )*
        serde_json::Value::Object(map)
    }};
}

/// Values a bulk row cell can hold.
pub trait IntoCell {
    fn into_cell(self) -> Option<serde_json::Value>;
}

impl IntoCell for i64 {
    fn into_cell(self) -> Option<serde_json::Value> {
        Some(self.into())
    }
}
impl IntoCell for &str {
    fn into_cell(self) -> Option<serde_json::Value> {
        Some(self.into())
    }
}
impl IntoCell for String {
    fn into_cell(self) -> Option<serde_json::Value> {
        Some(self.into())
    }
}
impl IntoCell for serde_json::Value {
    fn into_cell(self) -> Option<serde_json::Value> {
        Some(self)
    }
}
impl<T: IntoCell> IntoCell for Option<T> {
    fn into_cell(self) -> Option<serde_json::Value> {
        self.and_then(IntoCell::into_cell)
    }
}
