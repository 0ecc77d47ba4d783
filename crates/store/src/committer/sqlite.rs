//! The SQLite writer: the committer's own connection to the database file.
//!
//! sqlx runs each SQLite connection on a worker thread and hands every
//! statement, parameter list and result across a channel, and it binds
//! parameters by name; for a group commit of a few hundred small rows those
//! hand-offs cost more than SQLite's own work. The committer therefore writes
//! each batch on a plain connection (rusqlite, the same bundled libsqlite3) in
//! one blocking call: `BEGIN IMMEDIATE`, one cached prepared statement per kind
//! of row executed once per row, `COMMIT`. Reads stay on the pool.
//!
//! Within the process the writer takes the store's SQLite write lock first, so
//! it queues behind other write transactions instead of polling SQLite's busy
//! handler; another process writing meanwhile is waited for (`busy_timeout`).

use super::{ACCESS_INSERT, AUDIT_INSERT, ERROR_INSERT, INSTANCE_INSERT, INSTANCE_UPDATE, JOB_INSERT};
use super::{CHANGED_ELSEWHERE, KEEP_EXISTING, RUN_INSERT, RUN_UPDATE, TICKET_INSERT};
use super::{closed_assignee, instance_update_set, run_update_set};
use crate::sql::{Cell, Columns, Row};
use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Statement, TransactionBehavior};
use sea_orm::DbBackend;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// A batch's rows, owned, for the blocking write.
pub(super) struct Batch {
    /// The first (ticket, instance) ids the batch took for its new tickets:
    /// both must be above the tables' current maxima (see [`Writer::write`]).
    pub first_ids: Option<(i64, i64)>,
    pub tickets: Vec<Row>,
    pub instances: Vec<Row>,
    pub instance_updates: Vec<Row>,
    pub run_updates: Vec<Row>,
    pub new_runs: Vec<Row>,
    pub audit: Vec<Row>,
    pub errors: Vec<Row>,
    pub jobs: Vec<Row>,
    pub access: Vec<Row>,
    /// (company, ticket, status, updated_at).
    pub ticket_status: Vec<(i64, i64, &'static str, i64)>,
}

/// The page cache of the writer's connection, in KiB (SQLite's default is
/// 2 MiB). Every step writes to the newest pages of a dozen tables and indexes
/// and to its instance's and runs' pages; once those outgrow the default cache,
/// each page the writer touches is read again from the file system: the
/// benchmark's examples slowed to a third as the database grew. With 64 MiB
/// Document Edit steps cost about a third less CPU and the examples kept their
/// pace (BENCHMARKS.md, session 18).
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// The committer's connection.
#[derive(Clone)]
pub(crate) struct Writer {
    connection: Arc<Mutex<Connected>>,
}

/// The connection, and the text of each multi-row insert it has prepared
/// (built once: the statement cache is looked up by text).
struct Connected {
    connection: Connection,
    insert_texts: HashMap<(&'static str, usize), String>,
}

impl Writer {
    /// Opens the database file the pool uses (already migrated, in WAL mode)
    /// with the pool's durability settings.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path).map_err(database)?;
        connection.busy_timeout(Duration::from_secs(30)).map_err(database)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(database)?;
        connection.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}")).map_err(database)?;
        // Ten statements, and up to six sizes of each multi-row insert.
        connection.set_prepared_statement_cache_capacity(64);
        Ok(Self { connection: Arc::new(Mutex::new(Connected { connection, insert_texts: HashMap::new() })) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connected>> {
        self.connection.lock().map_err(|_| StoreError::Corrupt("the SQLite writer is poisoned".into()))
    }

    /// Writes a batch in one transaction and commits it; returns the `(company,
    /// assignee)` of each assigned run it closed. Blocking: call it from
    /// `spawn_blocking`. Refuses the whole batch with a conflict, writing
    /// nothing, when an instance's revision moved or another writer took one of
    /// the batch's reserved ids.
    pub(super) fn write(&self, batch: Batch) -> Result<Vec<(i64, i64)>> {
        let mut guard = self.lock()?;
        let Connected { connection, insert_texts } = &mut *guard;
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(database)?;
        let mut insert_rows = |table, columns, rows: &[Row]| insert(&tx, insert_texts, table, columns, rows, "");
        if let Some((ticket, instance)) = batch.first_ids
            && !batch.tickets.is_empty()
        {
            // The batch's tickets took the ids from the first on, in order.
            let last = i64::try_from(batch.tickets.len() - 1).unwrap_or(i64::MAX);
            // The batch's ids are its own unless a row holds one already.
            let taken: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM tickets WHERE id BETWEEN ?1 AND ?2) \
                     OR EXISTS (SELECT 1 FROM instances WHERE id BETWEEN ?3 AND ?4)",
                    [ticket, ticket.saturating_add(last), instance, instance.saturating_add(last)],
                    |row| row.get(0),
                )
                .map_err(database)?;
            if taken {
                return Err(StoreError::Conflict(CHANGED_ELSEWHERE.into()));
            }
        }
        // New tickets first: their instances point at them.
        insert_rows("tickets", TICKET_INSERT, &batch.tickets)?;
        insert_rows("instances", INSTANCE_INSERT, &batch.instances)?;
        if !batch.instance_updates.is_empty() {
            let mut statement = tx.prepare_cached(&INSTANCE_UPDATE_SQL).map_err(database)?;
            for row in &batch.instance_updates {
                bind(&mut statement, row)?;
                if statement.raw_execute().map_err(database)? != 1 {
                    return Err(StoreError::Conflict(CHANGED_ELSEWHERE.into()));
                }
            }
        }
        let mut closed = Vec::new();
        if !batch.run_updates.is_empty() {
            let mut statement = tx.prepare_cached(&RUN_UPDATE_SQL).map_err(database)?;
            // Read after the update, not returned by it: SQLite collects the
            // rows of `RETURNING` in a temporary B-tree of their own, and the
            // read by key cost less (2.7 % fewer instructions in the whole
            // benchmark; BENCHMARKS.md, session 17).
            let mut assignee = tx.prepare_cached(&CLOSED_RUN_SQL).map_err(database)?;
            for row in &batch.run_updates {
                bind(&mut statement, row)?;
                statement.raw_execute().map_err(database)?;
                let run: Option<(Option<i64>, Option<i64>)> = assignee
                    .query_row([row.int("id").unwrap_or_default()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(database)?;
                if let Some((Some(company), Some(assignee))) = run {
                    closed.push((company, assignee));
                }
            }
        }
        insert_rows("task_runs", RUN_INSERT, &batch.new_runs)?;
        insert_rows("audit_events", AUDIT_INSERT, &batch.audit)?;
        insert_rows("ticket_errors", ERROR_INSERT, &batch.errors)?;
        insert_rows("jobs", JOB_INSERT, &batch.jobs)?;
        insert(&tx, insert_texts, "ticket_access", ACCESS_INSERT, &batch.access, KEEP_EXISTING)?;
        if !batch.ticket_status.is_empty() {
            let mut statement = tx.prepare_cached(TICKET_STATUS_UPDATE).map_err(database)?;
            for (company, ticket, status, now) in &batch.ticket_status {
                statement.execute(rusqlite::params![company, ticket, status, now]).map_err(database)?;
            }
        }
        tx.commit().map_err(database)?;
        Ok(closed)
    }

    /// Transactions per second of `INSERT` + `UPDATE` + commit on this
    /// connection, for about `duration`: the benchmarks' raw baseline for SQLite,
    /// through the same connection the committer writes on.
    pub(crate) fn raw_step_rate(&self, duration: Duration) -> Result<u64> {
        let mut guard = self.lock()?;
        let connection = &mut guard.connection;
        let started = std::time::Instant::now();
        let mut steps: u64 = 0;
        while started.elapsed() < duration {
            let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(database)?;
            tx.prepare_cached("INSERT INTO bench_raw_events (worker, v) VALUES (0, ?1)")
                .and_then(|mut s| s.execute([steps as i64]))
                .map_err(database)?;
            tx.prepare_cached("UPDATE bench_raw_counters SET n = n + 1 WHERE id = 0")
                .and_then(|mut s| s.execute([]))
                .map_err(database)?;
            tx.commit().map_err(database)?;
            steps += 1;
        }
        Ok(steps)
    }
}

fn database(error: rusqlite::Error) -> StoreError {
    StoreError::Database(sea_orm::DbErr::Custom(format!("SQLite: {error}")))
}

// The statements' texts, built once (each batch looks its statements up by text).
static INSTANCE_UPDATE_SQL: LazyLock<String> = LazyLock::new(instance_update_sql);
static RUN_UPDATE_SQL: LazyLock<String> = LazyLock::new(run_update_sql);
static CLOSED_RUN_SQL: LazyLock<String> = LazyLock::new(closed_run_sql);

fn instance_update_sql() -> String {
    let p = |name: &str| param(INSTANCE_UPDATE, name);
    format!(
        "UPDATE instances SET {} WHERE id = {} AND revision = {}",
        instance_update_set(p),
        p("id"),
        p("old_revision")
    )
}

fn run_update_sql() -> String {
    let p = |name: &str| param(RUN_UPDATE, name);
    format!("UPDATE task_runs SET {} WHERE id = {}", run_update_set(p, ""), p("id"))
}

/// The company and assignee of run `?1` if it is closed and assigned.
fn closed_run_sql() -> String {
    format!("SELECT {} FROM task_runs WHERE id = ?1", closed_assignee(DbBackend::Sqlite, ""))
}

const TICKET_STATUS_UPDATE: &str = "UPDATE tickets SET status = ?3, updated_at = ?4 WHERE company_id = ?1 AND id = ?2";

/// `?n` of a column in a column list.
fn param(columns: Columns, name: &str) -> String {
    let index = columns.iter().position(|(column, _)| *column == name).map_or(0, |i| i + 1);
    format!("?{index}")
}

/// Most rows one `INSERT` of [`insert`] carries.
const ROWS_PER_INSERT: usize = 32;

/// `INSERT INTO table (…) VALUES (?, …), (?, …)… tail` with `rows` rows of
/// parameters (numbered in order, row after row).
fn insert_many_sql(table: &str, columns: Columns, rows: usize, tail: &str) -> String {
    let values: Vec<String> = (0..rows)
        .map(|_| {
            let params = vec!["?"; columns.len()];
            format!("({})", params.join(", "))
        })
        .collect();
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    format!("INSERT INTO {table} ({}) VALUES {}{tail}", names.join(", "), values.join(", "))
}

/// Inserts rows several at a time: in chunks of a power of two up to
/// [`ROWS_PER_INSERT`], so a table has a handful of cached statements.
///
/// A statement that may have to be undone on its own opens a savepoint within
/// the transaction (a ticket's insert does: its trigger writes the search
/// row), and FTS5 writes the words it holds in memory to a new segment of its
/// index at every savepoint: with
/// one `INSERT` per ticket, the search index got a segment (and the merges
/// that follow) per ticket, about a tenth of the writer's instructions. Now
/// it gets one per chunk of tickets. Fewer statements also cost less to start
/// and end (BENCHMARKS.md, session 19).
fn insert(
    tx: &rusqlite::Transaction<'_>,
    texts: &mut HashMap<(&'static str, usize), String>,
    table: &'static str,
    columns: Columns,
    mut rows: &[Row],
    tail: &str,
) -> Result<()> {
    while !rows.is_empty() {
        let chunk = if rows.len() >= ROWS_PER_INSERT { ROWS_PER_INSERT } else { 1 << rows.len().ilog2() };
        let (now, rest) = rows.split_at(chunk);
        let text = texts.entry((table, chunk)).or_insert_with(|| insert_many_sql(table, columns, chunk, tail));
        let mut statement = tx.prepare_cached(text).map_err(database)?;
        for (index, row) in now.iter().enumerate() {
            bind_at(&mut statement, index * columns.len(), row)?;
        }
        statement.raw_execute().map_err(database)?;
        rows = rest;
    }
    Ok(())
}

/// Binds a row's cells in column order, as the pool's driver would: an empty
/// cell is NULL, a JSON cell is its text (JSON `null` included).
fn bind(statement: &mut Statement<'_>, row: &Row) -> Result<()> {
    bind_at(statement, 0, row)
}

/// [`bind`] from parameter `offset + 1` on (a row of a multi-row statement).
fn bind_at(statement: &mut Statement<'_>, offset: usize, row: &Row) -> Result<()> {
    for (index, (_, cell)) in row.cells().enumerate() {
        let at = offset + index + 1;
        let bound = match cell {
            None => statement.raw_bind_parameter(at, rusqlite::types::Null),
            Some(Cell::Int(value)) => statement.raw_bind_parameter(at, value),
            Some(Cell::Text(text) | Cell::Json(text)) => statement.raw_bind_parameter(at, text.as_str()),
        };
        bound.map_err(database)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement the writer runs per row, as SQLite compiles it on the
    /// migrated schema, opens no temporary B-tree: one per evaluation of a
    /// list of more than two values (an index condition like
    /// `status IN ('OPEN', 'IN_PROGRESS', 'PENDING')`) or per `RETURNING`
    /// was a third of the committer's instructions (BENCHMARKS.md, session 17).
    #[tokio::test]
    async fn the_writers_statements_build_no_temporary_tables() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("plans.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = crate::Store::connect(crate::StoreOptions::new(url)).await.expect("a migrated database");
        let connection = Connection::open(&path).expect("the database file");
        // A table with triggers takes a multi-row insert's rows into a
        // temporary table first (one per statement, not per row): the tickets'
        // search row is written by one. That costs far less than the FTS5
        // segment per ticket it saves (see [`insert`]).
        let ephemerals = |sql: &str| usize::from(sql.starts_with("INSERT INTO tickets "));
        let statements = [
            insert_many_sql("tickets", TICKET_INSERT, ROWS_PER_INSERT, ""),
            insert_many_sql("instances", INSTANCE_INSERT, ROWS_PER_INSERT, ""),
            instance_update_sql(),
            run_update_sql(),
            closed_run_sql(),
            insert_many_sql("task_runs", RUN_INSERT, ROWS_PER_INSERT, ""),
            insert_many_sql("audit_events", AUDIT_INSERT, 2, ""),
            insert_many_sql("ticket_errors", ERROR_INSERT, 1, ""),
            insert_many_sql("jobs", JOB_INSERT, ROWS_PER_INSERT, ""),
            insert_many_sql("ticket_access", ACCESS_INSERT, ROWS_PER_INSERT, KEEP_EXISTING),
            TICKET_STATUS_UPDATE.to_owned(),
        ];
        for sql in statements {
            let mut explain = connection.prepare(&format!("EXPLAIN {sql}")).expect("the statement compiles");
            // Parameters left unbound are NULL: the program is the same.
            let mut rows = explain.raw_query();
            let mut opcodes: Vec<String> = Vec::new();
            while let Some(row) = rows.next().expect("its program") {
                opcodes.push(row.get(1).expect("an opcode"));
            }
            assert!(opcodes.len() > 3, "{sql}: {opcodes:?}");
            let temporary = opcodes.iter().filter(|op| *op == "OpenEphemeral").count();
            assert_eq!(temporary, ephemerals(&sql), "{sql} builds temporary tables: {opcodes:?}");
        }
        drop(store);
    }
}
