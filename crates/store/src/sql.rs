//! Running portable SQL: `$n` placeholders work on both SQLite and PostgreSQL,
//! so each statement is written once. The committer's bulk rows are
//! positional [`Row`]s of a table's column list ([`Columns`]): PostgreSQL reads
//! them, sent as JSON objects, as a derived table with `jsonb_to_recordset`; the
//! SQLite writer binds them cell by cell (`committer/sqlite.rs`).

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

/// A subquery of the ids in the JSON array bound at `placeholder` (`$2`), for
/// `id IN (...)`. One SQL text for any number of ids: prepared once, planned
/// for a short list.
pub fn id_list(backend: DbBackend, placeholder: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("SELECT (value)::bigint FROM jsonb_array_elements_text({placeholder}::jsonb)"),
        _ => format!("SELECT value FROM json_each({placeholder})"),
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
    /// JSON kept as written: `json` on PostgreSQL, which checks the text and
    /// stores it. The engine's own columns (workflow data, run inputs and
    /// outputs, history values, audit details) are written at every step and
    /// read back whole (the inbox's one look into a run's assignment works on
    /// `json` as well).
    Json,
    /// JSON that queries look into: `jsonb` on PostgreSQL, parsed into its
    /// binary form on every write (a ticket's fields, which its search words
    /// are computed from). On SQLite both kinds are text.
    Jsonb,
}

/// A column list for bulk statements.
pub type Columns = &'static [(&'static str, Kind)];

/// One row of a bulk statement: a cell per column of its column list, in
/// that order, so writing it needs no lookups by name. An empty cell is SQL
/// NULL; a JSON cell holding `null` is written as JSON `null` on SQLite and as
/// SQL NULL on PostgreSQL (see `committer/postgres.rs`), so "no value" is left empty.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Columns,
    cells: Vec<Option<serde_json::Value>>,
}

impl Row {
    pub fn new(columns: Columns) -> Self {
        Self { columns, cells: vec![None; columns.len()] }
    }

    fn position(&self, column: &str) -> Option<usize> {
        let position = self.columns.iter().position(|(name, _)| *name == column);
        debug_assert!(position.is_some(), "no column {column} in this row");
        position
    }

    /// Sets a cell (an empty value leaves it empty).
    pub fn set(&mut self, column: &str, value: impl IntoCell) {
        if let Some(at) = self.position(column) {
            self.cells[at] = value.into_cell();
        }
    }

    pub fn get(&self, column: &str) -> Option<&serde_json::Value> {
        self.cells.get(self.position(column)?)?.as_ref()
    }

    /// The cells, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (Kind, Option<&serde_json::Value>)> {
        self.columns.iter().zip(&self.cells).map(|((_, kind), cell)| (*kind, cell.as_ref()))
    }
}

/// Builds a [`Row`] of a column list, leaving out `None`s (they become SQL NULL).
#[macro_export]
macro_rules! row {
    ($columns:expr; $($name:literal : $value:expr),* $(,)?) => {{
        let mut row = $crate::sql::Row::new($columns);
        $( row.set($name, $value); )*
        row
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
