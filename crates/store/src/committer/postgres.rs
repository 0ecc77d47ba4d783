//! The PostgreSQL function that writes a whole group commit in one round trip.
//!
//! A batch of commands used to cost a dozen statements (begin, reads, one per
//! table, one per ticket, commit), and on a loaded two-core machine each round
//! trip to the server costs more than the work it carries. The committer now
//! sends every row of a batch as one JSON document to this function, which
//! inserts and updates them in one statement — one transaction — and refuses the
//! whole batch with a serialization failure when an instance's revision is not
//! the one the batch read (another committer or node wrote it first).
//!
//! The function's text is generated from the same column lists the SQLite path
//! binds, and its name carries a hash of that text: a node only ever calls the
//! function its own code created, so nodes of two versions can run side by side.

use super::{AUDIT_INSERT, ERROR_INSERT, HISTORY_INSERT, INSTANCE_INSERT, INSTANCE_UPDATE, JOB_INSERT};
use super::{RUN_INSERT, RUN_UPDATE, TICKET_INSERT, instance_update_set, run_update_set};
use crate::sql::{self, Columns, Kind, Row};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use std::sync::OnceLock;

/// The function's argument: every row of a batch, by part.
#[derive(serde::Serialize)]
pub(super) struct Batch<'a> {
    pub tickets: &'a [Row],
    pub instances: &'a [Row],
    pub instance_updates: &'a [Row],
    pub run_updates: &'a [Row],
    pub new_runs: &'a [Row],
    pub history: &'a [Row],
    pub audit: &'a [Row],
    pub errors: &'a [Row],
    pub jobs: &'a [Row],
    pub ticket_status: &'a [Row],
}

/// The group-commit function: its name and the statement that creates it.
pub(crate) struct Function {
    pub name: String,
    create: String,
}

pub(super) const TICKET_STATUS: Columns =
    &[("company_id", Kind::Int), ("id", Kind::Int), ("status", Kind::Text), ("updated_at", Kind::Int)];

/// The function this build calls.
pub(crate) fn function() -> &'static Function {
    static FUNCTION: OnceLock<Function> = OnceLock::new();
    FUNCTION.get_or_init(|| {
        let body = body();
        let name = format!("ticketflower_group_commit_{:016x}", fnv1a(body.as_bytes()));
        let create = format!(
            "CREATE OR REPLACE FUNCTION {name}(batch jsonb) RETURNS jsonb LANGUAGE plpgsql AS $group_commit$\n{body}\n$group_commit$"
        );
        Function { name, create }
    })
}

/// Creates this build's function unless it exists (called while migrating, under the migration lock).
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
        tx.execute_unprepared(&function.create).await?;
    }
    Ok(())
}

fn names(columns: Columns) -> String {
    columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO table (…) SELECT … FROM` the batch's `part` array.
fn insert(table: &str, part: &str, columns: Columns) -> String {
    let names = names(columns);
    format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM {}",
        sql::postgres_recordset(&format!("batch->'{part}'"), columns)
    )
}

/// `statement` when the batch's `part` array has rows: a statement costs its
/// executor start-up even with nothing to do, and most batches leave most
/// tables alone.
fn when_any(part: &str, statement: &str) -> String {
    format!("IF jsonb_array_length(batch->'{part}') > 0 THEN\n        {statement};\n    END IF")
}

/// The batch's `part` array as a set of rows named `x`.
fn rows(part: &str, columns: Columns) -> String {
    sql::postgres_recordset(&format!("batch->'{part}'"), columns)
}

fn body() -> String {
    // Every statement is set-based: one executor start per table, not one per
    // row. The instances are locked in id order before they are updated, so
    // two writers sharing instances lock them in the same order, and every
    // other row a batch changes belongs to an instance it has locked by then.
    // An instance whose revision is not the one the batch read is not updated,
    // and the count tells: the whole batch is then refused.
    format!(
        r#"DECLARE
    created jsonb;
    expected integer;
    changed integer;
BEGIN
    {tickets};
    {instances};
    expected := jsonb_array_length(batch->'instance_updates');
    IF expected > 0 THEN
        PERFORM 1 FROM instances WHERE id IN (SELECT x.id FROM {instance_updates}) ORDER BY id FOR UPDATE;
        UPDATE instances i SET {instance_set}
        FROM {instance_updates} WHERE i.id = x.id AND i.revision = x.old_revision;
        GET DIAGNOSTICS changed = ROW_COUNT;
        IF changed <> expected THEN
            RAISE EXCEPTION '% of % workflow instances were changed by another writer; try again', expected - changed, expected
                USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;
    IF jsonb_array_length(batch->'run_updates') > 0 THEN
        UPDATE task_runs t SET {run_set}
        FROM {run_updates} WHERE t.instance_id = x.instance_id AND t.seq = x.seq;
    END IF;
    created := '[]'::jsonb;
    IF jsonb_array_length(batch->'new_runs') > 0 THEN
        WITH inserted AS ({new_runs} RETURNING id, instance_id, seq)
        SELECT jsonb_agg(jsonb_build_array(id, instance_id, seq)) INTO created FROM inserted;
    END IF;
    {history};
    {audit};
    {errors};
    {jobs};
    IF jsonb_array_length(batch->'ticket_status') > 0 THEN
        UPDATE tickets t SET status = x.status, updated_at = x.updated_at
        FROM {ticket_status} WHERE t.company_id = x.company_id AND t.id = x.id;
    END IF;
    RETURN created;
END"#,
        tickets = when_any("tickets", &insert("tickets", "tickets", TICKET_INSERT)),
        instances = when_any("instances", &insert("instances", "instances", INSTANCE_INSERT)),
        instance_set = instance_update_set(|column| format!("x.{column}")),
        run_set = run_update_set(|column| format!("x.{column}"), "t."),
        instance_updates = rows("instance_updates", INSTANCE_UPDATE),
        run_updates = rows("run_updates", RUN_UPDATE),
        new_runs = insert("task_runs", "new_runs", RUN_INSERT),
        history = when_any("history", &insert("field_history", "history", HISTORY_INSERT)),
        audit = when_any("audit", &insert("audit_events", "audit", AUDIT_INSERT)),
        errors = when_any("errors", &insert("ticket_errors", "errors", ERROR_INSERT)),
        jobs = when_any("jobs", &insert("jobs", "jobs", JOB_INSERT)),
        ticket_status = rows("ticket_status", TICKET_STATUS),
    )
}

/// FNV-1a, 64 bits: a hash that stays the same across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
