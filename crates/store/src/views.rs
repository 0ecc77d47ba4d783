//! Read models: what pages, the API and tests look at.

use crate::sql::{self, int};
use crate::{CompanyId, InstanceId, Result, RunId, Store, StoreError, TicketErrorId, TicketId, UserId};
use sea_orm::QueryResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ticketflower_core::engine::Assignment;

#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: RunId,
    pub seq: i64,
    pub task: String,
    pub status: String,
    pub run: i64,
    pub input: Value,
    pub output: Option<Value>,
    pub assignee: Option<UserId>,
    pub eligible_role: Option<String>,
    pub due_at: Option<i64>,
    pub completed_by: Option<UserId>,
    /// Who may work it, as resolved when it was activated (none for automated tasks).
    pub assignment: Option<Assignment>,
    pub created_at: i64,
}

/// The columns [`run_view`] reads, from `task_runs` aliased `r`.
pub(crate) const RUN_COLUMNS: &str = "r.id, r.seq, r.task_key, r.status, r.run, r.input, r.output, r.assignee_id, \
     r.eligible_role, r.due_at, r.completed_by, r.assignment, r.created_at";

/// How many columns [`RUN_COLUMNS`] has.
pub(crate) const RUN_COLUMN_COUNT: usize = 13;

/// Reads a run selected with [`RUN_COLUMNS`].
pub(crate) fn run_view(r: &QueryResult) -> Result<RunView> {
    let id = RunId(r.try_get_by_index(0)?);
    let assignment: Option<Assignment> = sql::json_opt_at(r, 11)?;
    Ok(RunView {
        id,
        seq: r.try_get_by_index(1)?,
        task: r.try_get_by_index(2)?,
        status: r.try_get_by_index(3)?,
        run: r.try_get_by_index(4)?,
        input: sql::json_at(r, 5)?,
        output: sql::json_opt_at(r, 6)?,
        assignee: r.try_get_by_index::<Option<i64>>(7)?.map(UserId),
        eligible_role: r.try_get_by_index(8)?,
        due_at: r.try_get_by_index(9)?,
        completed_by: r.try_get_by_index::<Option<i64>>(10)?.map(UserId),
        assignment,
        created_at: r.try_get_by_index(12)?,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub id: InstanceId,
    pub ticket: Option<TicketId>,
    pub status: String,
    pub data: Value,
    pub revision: i64,
    pub runs: Vec<RunView>,
}

impl InstanceView {
    /// The open runs of a task, oldest first.
    pub fn open_runs_of<'a>(&'a self, task: &'a str) -> impl Iterator<Item = &'a RunView> {
        self.runs
            .iter()
            .filter(move |r| r.task == task && matches!(r.status.as_str(), "OPEN" | "IN_PROGRESS" | "PENDING"))
    }
}

/// One field a write changed, as a history row's `changes` hold it (`old` and
/// `new` missing for a field absent before or after the write).
#[derive(Debug, Deserialize)]
pub(crate) struct FieldChange {
    pub path: String,
    #[serde(default, deserialize_with = "present")]
    pub old: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub new: Option<Value>,
}

/// A key that is there holds a value, `null` included (serde's default
/// would read `null` as missing).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The columns a write is read by, from a `field_history` row: its field
/// (rows before migration 20), its fields, and what it says of the write.
pub(crate) const HISTORY_ROW: &str =
    "path, old_value, new_value, changes, revision, source, run_seq, actor_id, created_at, id";
/// The same columns from an audit event that wrote data (migration 21).
pub(crate) const HISTORY_EVENT: &str =
    "NULL, NULL, NULL, data_changes, data_revision, data_source, data_run_seq, actor_id, created_at, id";

/// The fields a write changed, from a row selected as [`HISTORY_ROW`] or
/// [`HISTORY_EVENT`]: its `changes`, or for a row written before migration
/// 20, its one field.
pub(crate) fn row_changes(row: &QueryResult) -> Result<Vec<FieldChange>> {
    match sql::json_opt_at::<Vec<FieldChange>>(row, 3)? {
        Some(changes) => Ok(changes),
        None => Ok(vec![FieldChange {
            path: row.try_get_by_index(0)?,
            old: sql::json_opt_at(row, 1)?,
            new: sql::json_opt_at(row, 2)?,
        }]),
    }
}

/// The write a history entry belongs to: the audit event of the command that
/// made it (since migration 21 a command's data changes are part of its
/// event), or a `field_history` row written before. With the field's path it
/// names one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "in", content = "id", rename_all = "snake_case")]
pub enum HistoryId {
    AuditEvent(i64),
    HistoryRow(i64),
}

/// One field's value written by one write (the write's id and the field's path name it).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: HistoryId,
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub revision: i64,
    pub source: String,
    pub run_seq: Option<i64>,
    pub actor: Option<UserId>,
    pub at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketErrorView {
    pub id: TicketErrorId,
    pub kind: String,
    pub message: String,
    pub status: String,
    pub details: Value,
}

impl Store {
    pub async fn instance(&self, company: CompanyId, id: InstanceId) -> Result<InstanceView> {
        let backend = self.backend();
        let row = sql::one(
            self.db(),
            backend,
            "SELECT id, ticket_id, status, data, revision FROM instances WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("workflow instance"))?;
        let (first, last) = self.run_ids().range(id);
        let runs = sql::all(
            self.db(),
            backend,
            &format!(
                "SELECT {RUN_COLUMNS} FROM task_runs r WHERE r.company_id = $1 AND r.id BETWEEN $2 AND $3 ORDER BY r.id"
            ),
            vec![int(company.0), int(first), int(last)],
        )
        .await?;
        Ok(InstanceView {
            id,
            ticket: row.try_get_by_index::<Option<i64>>(1)?.map(TicketId),
            status: row.try_get_by_index(2)?,
            data: sql::json_at(&row, 3)?,
            revision: row.try_get_by_index(4)?,
            runs: runs.iter().map(run_view).collect::<Result<_>>()?,
        })
    }

    /// Every write of workflow data of an instance, oldest first (optionally one
    /// field's): an entry per changed field. A write is part of the audit event
    /// of the command that made it; writes from before migration 21 are rows
    /// of `field_history` (one per write, or before migration 20 one per field),
    /// read alongside and in order of time.
    pub async fn field_history(
        &self,
        company: CompanyId,
        id: InstanceId,
        path: Option<&str>,
    ) -> Result<Vec<HistoryEntry>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            &format!(
                "SELECT {HISTORY_ROW}, 0 AS event FROM field_history WHERE company_id = $1 AND instance_id = $2 \
                 UNION ALL SELECT {HISTORY_EVENT}, 1 FROM audit_events \
                 WHERE company_id = $1 AND instance_id = $2 AND data_changes IS NOT NULL \
                 ORDER BY 9, 11, 10"
            ),
            vec![int(company.0), int(id.0)],
        )
        .await?;
        let mut entries = Vec::new();
        for r in &rows {
            let id = r.try_get_by_index(9)?;
            let id =
                if r.try_get_by_index::<i32>(10)? == 0 { HistoryId::HistoryRow(id) } else { HistoryId::AuditEvent(id) };
            let source: String = r.try_get_by_index(5)?;
            for FieldChange { path: field, old, new } in row_changes(r)? {
                if path.is_none_or(|p| p == field) {
                    entries.push(HistoryEntry {
                        id,
                        path: field,
                        old,
                        new,
                        revision: r.try_get_by_index(4)?,
                        source: source.clone(),
                        run_seq: r.try_get_by_index(6)?,
                        actor: r.try_get_by_index::<Option<i64>>(7)?.map(UserId),
                        at: r.try_get_by_index(8)?,
                    });
                }
            }
        }
        Ok(entries)
    }

    /// The ticket errors of an instance, oldest first.
    pub async fn instance_errors(&self, company: CompanyId, id: InstanceId) -> Result<Vec<TicketErrorView>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT id, kind, message, status, details FROM ticket_errors WHERE company_id = $1 AND instance_id = $2 ORDER BY id",
            vec![int(company.0), int(id.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TicketErrorView {
                    id: TicketErrorId(r.try_get_by_index(0)?),
                    kind: r.try_get_by_index(1)?,
                    message: r.try_get_by_index(2)?,
                    status: r.try_get_by_index(3)?,
                    details: sql::json_at(r, 4)?,
                })
            })
            .collect()
    }

    /// Audit events of an instance, oldest first: (kind, detail with its `changes`, actor).
    pub async fn audit_events(
        &self,
        company: CompanyId,
        id: InstanceId,
    ) -> Result<Vec<(String, Value, Option<UserId>)>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT kind, detail, actor_id FROM audit_events WHERE company_id = $1 AND instance_id = $2 ORDER BY id",
            vec![int(company.0), int(id.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok((r.try_get_by_index(0)?, sql::json_at(r, 1)?, r.try_get_by_index::<Option<i64>>(2)?.map(UserId)))
            })
            .collect()
    }

    /// The ticket's current status (mirrors its instance).
    pub async fn ticket_status(&self, company: CompanyId, id: TicketId) -> Result<String> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT status FROM tickets WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket"))?;
        Ok(row.try_get_by_index(0)?)
    }

    /// Counts rows of a table for one company (tests and benchmarks).
    pub async fn count_rows(&self, company: CompanyId, table: &str) -> Result<i64> {
        if !crate::migrations::TABLES.contains(&table) || table == "companies" {
            return Err(StoreError::NotFound("table"));
        }
        let row = sql::one(
            self.db(),
            self.backend(),
            &format!("SELECT COUNT(*) FROM {table} WHERE company_id = $1"),
            vec![int(company.0)],
        )
        .await?
        .ok_or(StoreError::Corrupt("count returned nothing".into()))?;
        Ok(row.try_get_by_index(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::FieldChange;
    use serde_json::{Value, json};

    fn field_changes(changes: Value) -> serde_json::Result<Vec<FieldChange>> {
        serde_json::from_value(changes)
    }

    #[test]
    fn a_null_written_is_kept_apart_from_a_field_absent() {
        let changes = field_changes(json!([{"path": "a", "new": null}, {"path": "b", "old": 1}])).unwrap();
        assert_eq!((changes[0].old.clone(), changes[0].new.clone()), (None, Some(Value::Null)));
        assert_eq!((changes[1].old.clone(), changes[1].new.clone()), (Some(json!(1)), None));
        assert!(field_changes(json!({"path": "a"})).is_err(), "not a list");
    }
}
