//! Running portable SQL: `$n` placeholders work on both SQLite and PostgreSQL,
//! so each statement is written once. Helpers build multi-row inserts and
//! `IN` lists with numbered placeholders.

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

/// `$start, $start+1, ...` for `count` values.
pub fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Most bound values in one statement (below SQLite's 32766 and PostgreSQL's 65535).
const MAX_VALUES: usize = 30_000;

/// Inserts rows in as few statements as the placeholder limits allow.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
) -> Result<(), DbErr> {
    insert_many_inner(db, backend, table, columns, rows, None).await.map(drop)
}

/// Like [`insert_many`], returning the `returning` columns of the new rows (in no
/// particular order: SQLite does not promise insertion order).
pub async fn insert_many_returning(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
    returning: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    insert_many_inner(db, backend, table, columns, rows, Some(returning)).await
}

async fn insert_many_inner(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
    returning: Option<&str>,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut returned = Vec::new();
    if rows.is_empty() {
        return Ok(returned);
    }
    let per_statement = (MAX_VALUES / columns.len()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut values = Vec::with_capacity(chunk.len() * columns.len());
        for (index, row) in chunk.into_iter().enumerate() {
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders(values.len() + 1, row.len()));
            sql.push(')');
            values.extend(row);
        }
        match returning {
            Some(columns) => {
                sql.push_str(" RETURNING ");
                sql.push_str(columns);
                returned.extend(all(db, backend, &sql, values).await?);
            }
            None => {
                exec(db, backend, &sql, values).await?;
            }
        }
    }
    Ok(returned)
}

/// A JSON value for binding.
pub fn json(value: &serde_json::Value) -> Value {
    Value::Json(Some(Box::new(value.clone())))
}

pub fn json_opt(value: Option<&serde_json::Value>) -> Value {
    Value::Json(value.map(|v| Box::new(v.clone())))
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
