//! Running portable SQL: `$n` placeholders work on both SQLite and PostgreSQL,
//! so each statement is written once. The committer's bulk rows are
//! positional [`Row`]s of a table's column list ([`Columns`]): PostgreSQL
//! receives them as arrays of composite values (`committer/postgres.rs`), the
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

/// The JSON value of a [`Kind::Json`] column at `index`: its text parsed
/// (into `T`: a [`serde_json::Value`] or a typed value).
pub fn json_at<T: serde::de::DeserializeOwned>(row: &QueryResult, index: usize) -> crate::Result<T> {
    let text: String = row.try_get_by_index(index)?;
    parse_json(row, &text, index)
}

/// Like [`json_at`] for a column that may be NULL.
pub fn json_opt_at<T: serde::de::DeserializeOwned>(row: &QueryResult, index: usize) -> crate::Result<Option<T>> {
    let text: Option<String> = row.try_get_by_index(index)?;
    text.map(|text| parse_json(row, &text, index)).transpose()
}

/// Parses a stored value; an error names its column (looked up only then).
fn parse_json<T: serde::de::DeserializeOwned>(row: &QueryResult, text: &str, index: usize) -> crate::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let column = row.column_names().into_iter().nth(index).unwrap_or_else(|| format!("#{index}"));
        crate::StoreError::Corrupt(format!("stored JSON in column {column}: {e}"))
    })
}

pub fn text(value: impl Into<String>) -> Value {
    Value::String(Some(value.into()))
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
    /// JSON the store wrote itself, kept as its text on both databases
    /// (`text` on PostgreSQL, checked by nobody: the store serialized it). The
    /// engine's own columns (workflow data, run inputs and outputs, history
    /// values, audit details) are written at every step and read back whole
    /// with [`json_at`] (the inbox's one look into a run's assignment casts
    /// it to `json`).
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
    cells: Vec<Option<Cell>>,
    /// The column after the one set last: where [`row!`], which names the
    /// columns in their order, sets the next cell.
    next: usize,
}

/// A cell's value, as its column's [`Kind`] stores it. JSON is kept as its
/// text, written once when the cell is set from the value it was made of
/// (never a copy of that value: an instance's data, a run's output): both
/// databases take the text as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(i64),
    Text(String),
    Json(String),
}

impl Row {
    pub fn new(columns: Columns) -> Self {
        Self { columns, cells: vec![None; columns.len()], next: 0 }
    }

    fn position(&self, column: &str) -> Option<usize> {
        let position = self.columns.iter().position(|(name, _)| *name == column);
        debug_assert!(position.is_some(), "no column {column} in this row");
        position
    }

    /// Sets a cell, as the column's kind stores the value (an empty value
    /// leaves it empty).
    pub fn set(&mut self, column: &str, value: impl IntoCell) {
        let at = match self.columns.get(self.next) {
            Some((name, _)) if *name == column => Some(self.next),
            _ => self.position(column),
        };
        if let Some(at) = at {
            self.cells[at] = value.into_cell(self.columns[at].1);
            self.next = at + 1;
        }
    }

    /// An integer cell.
    pub fn int(&self, column: &str) -> Option<i64> {
        match self.cells.get(self.position(column)?)? {
            Some(Cell::Int(value)) => Some(*value),
            _ => None,
        }
    }

    /// A text cell.
    pub fn text(&self, column: &str) -> Option<&str> {
        match self.cells.get(self.position(column)?)? {
            Some(Cell::Text(value)) => Some(value),
            _ => None,
        }
    }

    /// The cells, in column order.
    pub fn cells(&self) -> impl Iterator<Item = (Kind, Option<&Cell>)> {
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

/// Values a bulk row cell can hold: each becomes the cell its column's
/// [`Kind`] stores (a JSON column takes any of them as JSON). A value a
/// column cannot hold (a text for an integer column) leaves the cell empty.
pub trait IntoCell {
    fn into_cell(self, kind: Kind) -> Option<Cell>;
}

/// JSON already written as text (serialized straight from a typed value).
pub struct JsonText(pub String);

impl IntoCell for i64 {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        Some(match kind {
            Kind::Int => Cell::Int(self),
            Kind::Text => Cell::Text(self.to_string()),
            Kind::Json | Kind::Jsonb => Cell::Json(self.to_string()),
        })
    }
}
impl IntoCell for &str {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        match kind {
            Kind::Int => None,
            Kind::Text => Some(Cell::Text(self.to_owned())),
            Kind::Json | Kind::Jsonb => serde_json::to_string(self).ok().map(Cell::Json),
        }
    }
}
impl IntoCell for String {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        match kind {
            Kind::Text => Some(Cell::Text(self)),
            _ => self.as_str().into_cell(kind),
        }
    }
}
impl IntoCell for &serde_json::Value {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        match kind {
            Kind::Int => self.as_i64().map(Cell::Int),
            Kind::Text => self.as_str().map(|text| Cell::Text(text.to_owned())),
            // A value's text can always be written (its keys are strings).
            Kind::Json | Kind::Jsonb => serde_json::to_string(self).ok().map(Cell::Json),
        }
    }
}
impl IntoCell for serde_json::Value {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        match (kind, self) {
            (Kind::Text, serde_json::Value::String(text)) => Some(Cell::Text(text)),
            (kind, value) => (&value).into_cell(kind),
        }
    }
}
impl IntoCell for JsonText {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        matches!(kind, Kind::Json | Kind::Jsonb).then_some(Cell::Json(self.0))
    }
}
impl<T: IntoCell> IntoCell for Option<T> {
    fn into_cell(self, kind: Kind) -> Option<Cell> {
        self.and_then(|value| value.into_cell(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLUMNS: Columns = &[("n", Kind::Int), ("name", Kind::Text), ("data", Kind::Json), ("fields", Kind::Jsonb)];

    #[test]
    fn cells_are_stored_as_their_columns_kind() {
        let data = json!({"b": [1, "two", null], "a": {"x": true}});
        let row = crate::row! { COLUMNS; "n": 7_i64, "name": "Ann", "data": &data, "fields": json!("text") };
        let cells: Vec<_> = row.cells().map(|(_, cell)| cell.cloned()).collect();
        assert_eq!(
            cells,
            vec![
                Some(Cell::Int(7)),
                Some(Cell::Text("Ann".into())),
                // Written as the value reads, keys in their order.
                Some(Cell::Json(r#"{"b":[1,"two",null],"a":{"x":true}}"#.into())),
                Some(Cell::Json(r#""text""#.into())),
            ]
        );
        assert_eq!((row.int("n"), row.text("name")), (Some(7), Some("Ann")));
        assert_eq!(row.int("name"), None, "a text cell is not an integer");
    }

    #[test]
    fn empty_values_leave_cells_empty_and_json_null_is_kept() {
        let mut row = crate::row! { COLUMNS; "n": None::<i64>, "name": None::<&str>, "data": &serde_json::Value::Null };
        row.set("fields", JsonText("[1]".into()));
        let cells: Vec<_> = row.cells().map(|(_, cell)| cell.cloned()).collect();
        assert_eq!(cells, vec![None, None, Some(Cell::Json("null".into())), Some(Cell::Json("[1]".into()))]);
        row.set("n", &json!(12) as &serde_json::Value);
        row.set("name", json!("Bo"));
        assert_eq!((row.int("n"), row.text("name")), (Some(12), Some("Bo")));
    }

    #[test]
    fn cells_named_out_of_order_land_in_their_columns() {
        let row = crate::row! { COLUMNS; "data": json!([2]), "n": 1_i64, "fields": json!(3), "name": "four" };
        let cells: Vec<_> = row.cells().map(|(_, cell)| cell.cloned()).collect();
        assert_eq!(
            cells,
            vec![
                Some(Cell::Int(1)),
                Some(Cell::Text("four".into())),
                Some(Cell::Json("[2]".into())),
                Some(Cell::Json("3".into())),
            ]
        );
    }
}
