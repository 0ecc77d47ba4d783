//! Running portable SQL: `$n` placeholders work on both SQLite and PostgreSQL,
//! so each statement is written once. Bulk statements read a batch's rows as a
//! derived table `x`: from one JSON parameter with `jsonb_to_recordset` on
//! PostgreSQL, from bound `VALUES` chunks on SQLite. That derived table is the
//! only place where the SQL differs per backend.

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

/// A subquery of the ids in the JSON array bound as `$param`, for `id IN (...)`.
/// One SQL text for any number of ids: prepared once, planned for a short list.
pub fn id_list(backend: DbBackend, param: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT (value)::bigint FROM jsonb_array_elements_text(${param}::jsonb)"),
        _ => format!("SELECT value FROM json_each(${param})"),
    }
}

/// Binds ids for [`id_list`].
pub fn ids(ids: &[i64]) -> Value {
    json(&serde_json::Value::from(ids.to_vec()))
}

/// A subquery of the strings in the JSON array bound at `placeholder` (`$3`),
/// for `x IN (...)`: one SQL text for any number of strings.
pub fn text_list(backend: DbBackend, placeholder: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT jsonb_array_elements_text({placeholder}::jsonb)"),
        _ => format!("SELECT value FROM json_each({placeholder})"),
    }
}

/// Binds strings for [`text_list`].
pub fn texts(texts: &[String]) -> Value {
    json(&serde_json::Value::from(texts.to_vec()))
}

/// The values of a statement assembled piece by piece (only the conditions a
/// filter uses): [`Params::bind`] adds a value and returns its placeholder.
#[derive(Debug, Default)]
pub struct Params(pub Vec<Value>);

impl Params {
    pub fn bind(&mut self, value: Value) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }
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

/// Rows per statement on SQLite: a batch is written in chunks of this size (plus
/// one shorter chunk), so each table needs at most this many statement texts and
/// sqlx's per-connection statement cache keeps all of them prepared.
const SQLITE_CHUNK: usize = 12;

/// PostgreSQL reads the rows from one JSON parameter as a derived table `x`:
/// one statement text for any batch size, and one value on the wire.
fn postgres_rows(columns: Columns) -> String {
    postgres_recordset("$1::jsonb", columns)
}

/// `jsonb_to_recordset(source) AS x(column type, …)`: the rows of a JSON array as a table.
pub fn postgres_recordset(source: &str, columns: Columns) -> String {
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
    format!("jsonb_to_recordset({source}) AS x({})", types.join(", "))
}

/// SQLite binds every cell (extracting them from a JSON parameter with
/// `json_each` cost more than the inserts): a `VALUES` list of `count` rows,
/// named like the columns, as the derived table `x`.
fn sqlite_rows(columns: Columns, count: usize) -> String {
    let width = columns.len();
    let tuples: Vec<String> = (0..count)
        .map(|row| {
            let cells: Vec<String> = (1..=width).map(|column| format!("${}", row * width + column)).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    let names: Vec<String> =
        columns.iter().enumerate().map(|(i, (name, _))| format!("column{} AS {name}", i + 1)).collect();
    format!("(SELECT {} FROM (VALUES {})) AS x", names.join(", "), tuples.join(", "))
}

/// The bound values of rows for [`sqlite_rows`]; absent keys are NULL.
fn sqlite_values(columns: Columns, rows: &[serde_json::Value]) -> Vec<Value> {
    let mut values = Vec::with_capacity(rows.len() * columns.len());
    for row in rows {
        for (name, kind) in columns {
            let cell = row.get(*name);
            values.push(match kind {
                Kind::Int => Value::BigInt(cell.and_then(serde_json::Value::as_i64)),
                Kind::Text => Value::String(cell.and_then(serde_json::Value::as_str).map(str::to_owned)),
                Kind::Json => Value::Json(cell.map(|v| Box::new(v.clone()))),
            });
        }
    }
    values
}

/// Inserts every row, returning `returning` columns of each new row.
pub async fn bulk_insert(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: Columns,
    rows: Vec<serde_json::Value>,
    returning: Option<&str>,
) -> Result<Vec<QueryResult>, DbErr> {
    let names = columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let suffix = returning.map(|r| format!(" RETURNING {r}")).unwrap_or_default();
    let mut returned = Vec::new();
    if rows.is_empty() {
        return Ok(returned);
    }
    if backend == DbBackend::Postgres {
        let sql = format!("INSERT INTO {table} ({names}) SELECT {names} FROM {}{suffix}", postgres_rows(columns));
        let values = vec![json(&serde_json::Value::Array(rows))];
        return match returning {
            Some(_) => all(db, backend, &sql, values).await,
            None => exec(db, backend, &sql, values).await.map(|_| Vec::new()),
        };
    }
    for chunk in rows.chunks(SQLITE_CHUNK) {
        let sql =
            format!("INSERT INTO {table} ({names}) SELECT {names} FROM {}{suffix}", sqlite_rows(columns, chunk.len()));
        let values = sqlite_values(columns, chunk);
        match returning {
            Some(_) => returned.extend(all(db, backend, &sql, values).await?),
            None => {
                exec(db, backend, &sql, values).await?;
            }
        }
    }
    Ok(returned)
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
    if backend == DbBackend::Postgres {
        let sql = format!("UPDATE {table} SET {set} FROM {} WHERE {condition}", postgres_rows(columns));
        return Ok(exec(db, backend, &sql, vec![json(&serde_json::Value::Array(rows))]).await?.rows_affected());
    }
    let mut affected = 0;
    for chunk in rows.chunks(SQLITE_CHUNK) {
        let sql = format!("UPDATE {table} SET {set} FROM {} WHERE {condition}", sqlite_rows(columns, chunk.len()));
        affected += exec(db, backend, &sql, sqlite_values(columns, chunk)).await?.rows_affected();
    }
    Ok(affected)
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
