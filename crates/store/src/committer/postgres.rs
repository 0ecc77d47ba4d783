//! The PostgreSQL function that writes a whole group commit in one round trip.
//!
//! A batch of commands used to cost a dozen statements (begin, reads, one per
//! table, one per ticket, commit), and on a loaded two-core machine each round
//! trip to the server costs more than the work it carries. The committer now
//! sends every row of a batch to this function, which inserts and updates them
//! with one statement per table — one transaction — and refuses the whole batch
//! with a serialization failure when an instance's revision is not the one the
//! batch read (another committer or node wrote it first).
//!
//! Each part of the batch is one parameter: an array of a composite type with
//! the part's columns, sent in PostgreSQL's binary format. Numbers, text and
//! the engine's JSON (kept as text) arrive as they are stored; only a new
//! ticket's fields are parsed, into `jsonb`. (The
//! batch was one JSON document before: parsing it cost the server about a
//! sixth of its time per completion, mostly for the keys and numbers around
//! the values.) An empty part is sent as NULL.
//!
//! The function's text and its row types are generated from the same column
//! lists the SQLite path binds, and their names carry a hash of that text: a
//! node only ever calls the function its own code created, so nodes of two
//! versions can run side by side.

use super::{ACCESS_INSERT, AUDIT_INSERT, ERROR_INSERT, INSTANCE_INSERT, INSTANCE_UPDATE, JOB_INSERT, KEEP_EXISTING};
use super::{RUN_INSERT, RUN_UPDATE, TICKET_INSERT, closed_assignee, instance_update_set, run_update_set};
use crate::sql::{self, Cell, Columns, Kind, Row};
use crate::{Result, StoreError};
use sea_orm::sqlx::encode::{Encode, IsNull};
use sea_orm::sqlx::error::BoxDynError;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgArgumentBuffer, PgBindIterExt, PgTypeInfo, Postgres};
use sea_orm::sqlx::{self as sqlx, Connection as _, Row as _, Type};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub(super) const TICKET_STATUS: Columns =
    &[("company_id", Kind::Int), ("id", Kind::Int), ("status", Kind::Text), ("updated_at", Kind::Int)];

/// The parts of a batch, in the order of the function's parameters.
const PARTS: [(&str, Columns); 10] = [
    ("tickets", TICKET_INSERT),
    ("instances", INSTANCE_INSERT),
    ("instance_updates", INSTANCE_UPDATE),
    ("run_updates", RUN_UPDATE),
    ("new_runs", RUN_INSERT),
    ("audit", AUDIT_INSERT),
    ("errors", ERROR_INSERT),
    ("jobs", JOB_INSERT),
    ("access", ACCESS_INSERT),
    ("ticket_status", TICKET_STATUS),
];

/// Every row of a batch, by part (in the order of [`PARTS`]).
pub(super) struct Batch<'a> {
    pub tickets: &'a [Row],
    pub instances: &'a [Row],
    pub instance_updates: &'a [Row],
    pub run_updates: &'a [Row],
    pub new_runs: &'a [Row],
    pub audit: &'a [Row],
    pub errors: &'a [Row],
    pub jobs: &'a [Row],
    pub access: &'a [Row],
    pub ticket_status: &'a [Row],
}

impl Batch<'_> {
    fn parts(&self) -> [&[Row]; 10] {
        [
            self.tickets,
            self.instances,
            self.instance_updates,
            self.run_updates,
            self.new_runs,
            self.audit,
            self.errors,
            self.jobs,
            self.access,
            self.ticket_status,
        ]
    }

    /// Calls this build's function with the batch on the committer's own
    /// connection; returns the `(company, assignee)` of each assigned run it closed.
    pub async fn write(&self, db: &DatabaseConnection, own: &mut Own) -> Result<Vec<(i64, i64)>> {
        let function = function();
        // Generated from our own column lists, never from input.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(function.call.as_str()));
        for (rows, row_type) in self.parts().into_iter().zip(&function.row_types) {
            query = query.bind(Part { row_type, rows });
        }
        let pool = db.get_postgres_connection_pool();
        let row = match own {
            Own::Kept(kept) => {
                // Tested first when idle for a while, as the pool would.
                if let Some((connection, used)) = kept
                    && used.elapsed() >= crate::STALE_AFTER
                    && connection.ping().await.is_err()
                {
                    *kept = None;
                }
                let (connection, used) = match kept {
                    Some(kept) => kept,
                    None => kept.insert((pool.acquire().await.map_err(database_error)?, Instant::now())),
                };
                let row = query.fetch_one(&mut **connection).await;
                *used = Instant::now();
                // A connection that failed other than by the database refusing
                // the statement (a serialization failure, say) goes back to the
                // pool, which tests it; the next batch takes another.
                if matches!(&row, Err(error) if !matches!(error, sqlx::Error::Database(_))) {
                    *kept = None;
                }
                row
            }
            Own::Pooled => query.fetch_one(pool).await,
        }
        .map_err(database_error)?;
        let column = |n: usize| -> Result<Vec<i64>> {
            Ok(row.try_get::<Option<Vec<i64>>, _>(n).map_err(database_error)?.unwrap_or_default())
        };
        let (companies, assignees) = (column(0)?, column(1)?);
        if companies.len() != assignees.len() {
            return Err(StoreError::Corrupt("the group commit's closed runs: arrays of different lengths".into()));
        }
        Ok(companies.into_iter().zip(assignees).collect())
    }
}

/// The connection a PostgreSQL committer writes its batches on.
pub(crate) enum Own {
    /// Its own, taken from the pool at its first batch and kept: a connection
    /// taken for each batch cost two round trips more, as the pool tests a
    /// connection when it is given back (and, idle for a while, when taken).
    Kept(Option<(PoolConnection<Postgres>, Instant)>),
    /// One from the pool for each batch, when the pool is too small for each
    /// committer to keep one and leave others for the rest of the store.
    Pooled,
}

fn database_error(error: sqlx::Error) -> StoreError {
    StoreError::Database(DbErr::Query(RuntimeErr::SqlxError(Arc::new(error))))
}

/// Each statement of the function is planned once for any batch (a generic
/// plan: nested loops over the batch's rows through the tables' keys). Left to
/// choose, PostgreSQL kept planning the statements anew at every call for
/// batches of one or two commands, whose custom plans looked cheaper: that
/// cost about 240 µs of server CPU per call, a completion alone in its batch
/// 622 µs instead of 387 µs (BENCHMARKS.md, session 12).
///
/// A generic plan guesses ten rows for the batch, so while a table is small
/// (a new company, a fresh install: up to a few thousand runs) hashing all
/// of it looked cheaper than ten key lookups, and each update read the whole
/// table at every call until the next `ANALYZE` made PostgreSQL plan again
/// (BENCHMARKS.md, session 21). Without hash and merge joins and sequential
/// scans to choose from, every join is a lookup by key at any size.
const ATTRIBUTES: &str = "SET plan_cache_mode = force_generic_plan SET enable_hashjoin = off \
     SET enable_mergejoin = off SET enable_seqscan = off";

/// What the function returns, as its OUT parameters: the company and
/// assignee of each assigned run it closed, each list a column of its own
/// (NULL when empty). Arrays of numbers cost the server next to nothing to
/// build. The JSON array of pairs they replaced cost about 14,000
/// instructions per row (`jsonb_build_array` converts each number into a
/// JSON number; BENCHMARKS.md, session 24). The runs it inserts need no
/// answer: their ids are made from their instance and seq (`crate::RunIds`).
const RETURNED: &str = "OUT closed_companies bigint[], OUT closed_assignees bigint[]";

/// The group-commit function: its name, the statements that create it and
/// its row types, and the statement that calls it.
pub(crate) struct Function {
    pub name: String,
    create: Vec<String>,
    /// The row type of each part, in the order of [`PARTS`].
    row_types: Vec<&'static str>,
    call: String,
}

/// The function this build calls.
pub(crate) fn function() -> &'static Function {
    static FUNCTION: OnceLock<Function> = OnceLock::new();
    FUNCTION.get_or_init(|| {
        // The hash covers the row types and the body, with the names left as
        // placeholders (the names are made of the hash).
        let types: Vec<String> = PARTS
            .iter()
            .map(|(part, columns)| format!("CREATE TYPE {{prefix}}_{part} AS ({})", column_types(columns)))
            .collect();
        let template = format!("{}\n{RETURNED}\n{ATTRIBUTES}\n{}", types.join(";\n"), body());
        let hash = format!("{:016x}", fnv1a(template.as_bytes()));
        let prefix = format!("ticketflower_gc_{hash}");
        let name = format!("ticketflower_group_commit_{hash}");
        let parameters: Vec<String> = PARTS.iter().map(|(part, _)| format!("batch_{part} {prefix}_{part}[]")).collect();
        let mut create: Vec<String> = types.iter().map(|t| t.replace("{prefix}", &prefix)).collect();
        create.push(format!(
            "CREATE FUNCTION {name}({}, {RETURNED}) LANGUAGE plpgsql {ATTRIBUTES} AS $group_commit$\n{}\n$group_commit$",
            parameters.join(", "),
            body()
        ));
        // Named once per process, and `PgTypeInfo` takes static names.
        let row_types =
            PARTS.iter().map(|(part, _)| &*Box::leak(format!("{prefix}_{part}").into_boxed_str())).collect();
        let arguments: Vec<String> = (1..=PARTS.len()).map(|n| format!("${n}")).collect();
        let call = format!("SELECT * FROM {name}({})", arguments.join(", "));
        Function { name, create, row_types, call }
    })
}

/// Creates this build's function and row types unless they exist (called
/// while migrating, under the migration lock).
pub(crate) async fn ensure_function(tx: &impl ConnectionTrait) -> Result<(), DbErr> {
    let function = function();
    let exists = sql::one(
        tx,
        DbBackend::Postgres,
        "SELECT 1 FROM pg_proc WHERE proname = $1",
        vec![sql::text(function.name.as_str())],
    )
    .await?;
    if exists.is_none() {
        for statement in &function.create {
            tx.execute_unprepared(statement).await?;
        }
    }
    Ok(())
}

fn column_types(columns: Columns) -> String {
    let types: Vec<String> = columns.iter().map(|(name, kind)| format!("{name} {}", sql_type(*kind))).collect();
    types.join(", ")
}

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "bigint",
        Kind::Text => "text",
        Kind::Json => "text",
        Kind::Jsonb => "jsonb",
    }
}

fn names(columns: Columns) -> String {
    columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO table (…) SELECT … FROM` the batch's `part` rows.
fn insert(table: &str, part: &str, columns: Columns) -> String {
    let names = names(columns);
    format!("INSERT INTO {table} ({names}) SELECT {names} FROM {}", rows(part))
}

/// `statement` when the batch has rows for `part`: a statement costs its
/// executor start-up even with nothing to do, and most batches leave most
/// tables alone.
fn when_any(part: &str, statement: &str) -> String {
    format!("IF batch_{part} IS NOT NULL THEN\n        {statement};\n    END IF")
}

/// The batch's `part` rows as a table named `x`.
fn rows(part: &str) -> String {
    format!("unnest(batch_{part}) AS x")
}

fn body() -> String {
    // Every statement is set-based: one executor start per table, not one per
    // row. The instances are updated first, and every other row a batch
    // changes belongs to an instance it has locked by then. The update locks
    // them in id order: the committer sends them sorted by id, and the plan
    // (generic, see `ATTRIBUTES`) walks the batch's rows in order and looks
    // each instance up by its key, so two writers sharing instances lock them
    // in the same order. Should a plan ever lock them otherwise, PostgreSQL
    // finds the deadlock and refuses one batch, which is decided again like
    // any conflict. (A `SELECT … ORDER BY id FOR UPDATE` locked them first
    // until session 20: a statement, a sort and a log record per instance more;
    // without it PostgreSQL spent 8 % less CPU per completion, BENCHMARKS.md.)
    // An instance whose revision is not the one the batch read is not updated,
    // and the count tells: the whole batch is then refused.
    format!(
        r#"DECLARE
    expected integer;
    changed integer;
BEGIN
    {tickets};
    {instances};
    IF batch_instance_updates IS NOT NULL THEN
        expected := cardinality(batch_instance_updates);
        UPDATE instances i SET {instance_set}
        FROM {instance_updates} WHERE i.id = x.id AND i.revision = x.old_revision;
        GET DIAGNOSTICS changed = ROW_COUNT;
        IF changed <> expected THEN
            RAISE EXCEPTION '% of % workflow instances were changed by another writer; try again', expected - changed, expected
                USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;
    IF batch_run_updates IS NOT NULL THEN
        WITH updated AS (
            UPDATE task_runs t SET {run_set}
            FROM {run_updates} WHERE t.id = x.id
            RETURNING {closed}
        )
        SELECT array_agg(company_id), array_agg(assignee_id) INTO closed_companies, closed_assignees
        FROM updated WHERE assignee_id IS NOT NULL;
    END IF;
    {new_runs};
    {audit};
    {errors};
    {jobs};
    {access};
    IF batch_ticket_status IS NOT NULL THEN
        UPDATE tickets t SET status = x.status, updated_at = x.updated_at
        FROM {ticket_status} WHERE t.company_id = x.company_id AND t.id = x.id;
    END IF;
END"#,
        tickets = when_any("tickets", &insert("tickets", "tickets", TICKET_INSERT)),
        instances = when_any("instances", &insert("instances", "instances", INSTANCE_INSERT)),
        instance_set = instance_update_set(|column| format!("x.{column}")),
        run_set = run_update_set(|column| format!("x.{column}"), "t."),
        closed = closed_assignee(DbBackend::Postgres, "t."),
        instance_updates = rows("instance_updates"),
        run_updates = rows("run_updates"),
        new_runs = when_any("new_runs", &insert("task_runs", "new_runs", RUN_INSERT)),
        audit = when_any("audit", &insert("audit_events", "audit", AUDIT_INSERT)),
        errors = when_any("errors", &insert("ticket_errors", "errors", ERROR_INSERT)),
        jobs = when_any("jobs", &insert("jobs", "jobs", JOB_INSERT)),
        access = when_any("access", &format!("{}{KEEP_EXISTING}", insert("ticket_access", "access", ACCESS_INSERT))),
        ticket_status = rows("ticket_status"),
    )
}

/// One part of a batch as a parameter: an array of its row type, or NULL when empty.
struct Part<'a> {
    row_type: &'static str,
    rows: &'a [Row],
}

/// One row of a part: a record of the part's row type.
struct Record<'a> {
    row_type: &'static str,
    row: &'a Row,
}

impl Type<Postgres> for Part<'_> {
    fn type_info() -> PgTypeInfo {
        // Each value names its own type (`produces`); this is never asked for.
        PgTypeInfo::array_of("record")
    }
}

impl Encode<'_, Postgres> for Part<'_> {
    fn produces(&self) -> Option<PgTypeInfo> {
        Some(PgTypeInfo::array_of(self.row_type))
    }

    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        if self.rows.is_empty() {
            return Ok(IsNull::Yes);
        }
        let records = self.rows.iter().map(|row| Record { row_type: self.row_type, row });
        records.bind_iter().encode_by_ref(buf)
    }
}

impl Type<Postgres> for Record<'_> {
    fn type_info() -> PgTypeInfo {
        // As for `Part`: every record names its type.
        PgTypeInfo::with_name("record")
    }
}

impl Encode<'_, Postgres> for Record<'_> {
    fn produces(&self) -> Option<PgTypeInfo> {
        Some(PgTypeInfo::with_name(self.row_type))
    }

    /// A composite value in binary: the number of fields, then each field's
    /// type and value (`-1` for NULL). A JSON `null` is SQL NULL, as
    /// `jsonb_to_recordset` read it when batches were JSON.
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<IsNull, BoxDynError> {
        let cells: Vec<_> = self.row.cells().collect();
        buf.extend(i32::try_from(cells.len())?.to_be_bytes());
        for (kind, cell) in cells {
            buf.extend(oid_of(kind).to_be_bytes());
            let Some(value) = cell.filter(|cell| !matches!(cell, Cell::Json(text) if text == "null")) else {
                buf.extend((-1_i32).to_be_bytes());
                continue;
            };
            // The value's length goes before it, once it is written.
            let length_at = buf.len();
            buf.extend(0_i32.to_be_bytes());
            match (kind, value) {
                (Kind::Int, Cell::Int(value)) => buf.extend(value.to_be_bytes()),
                (Kind::Text, Cell::Text(text)) => buf.extend(text.as_bytes()),
                // Stored as text (see `Kind::Json`).
                (Kind::Json, Cell::Json(text)) => buf.extend(text.as_bytes()),
                // jsonb's binary format: a version byte, then the JSON text.
                (Kind::Jsonb, Cell::Json(text)) => {
                    buf.push(1);
                    buf.extend(text.as_bytes());
                }
                (kind, value) => return Err(format!("a {kind:?} column holds {value:?}").into()),
            }
            let length = i32::try_from(buf.len() - length_at - 4)?;
            buf[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        }
        Ok(IsNull::No)
    }
}

// The built-in types' object ids (fixed in PostgreSQL's catalog).
const INT8: u32 = 20;
const TEXT: u32 = 25;
const JSONB: u32 = 3802;

fn oid_of(kind: Kind) -> u32 {
    match kind {
        Kind::Int => INT8,
        Kind::Text => TEXT,
        Kind::Json => TEXT,
        Kind::Jsonb => JSONB,
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
