//! Going back in history (SPEC §3): rolling a field back to an earlier value,
//! and re-running a task ("retry from here") with its latest inputs. Both are
//! ordinary engine events, so they are decided, audited and group-committed
//! like any other change.

use crate::committer::{Command, CommandOutcome};
use crate::sql::{self, int};
use crate::views::{HISTORY_EVENT, HISTORY_ROW, row_changes};
use crate::{CompanyId, HistoryId, InstanceId, Result, RunId, Store, StoreError, UserId, VersionId};
use ticketflower_core::engine::Event;
use ticketflower_core::path::FieldPath;

impl Store {
    /// Sets a field back to the value a history entry wrote (removing it if that
    /// write removed it). The rollback is itself a new history entry. An entry
    /// is named by its instance, its write and its field's path.
    pub async fn rollback_field(
        &self,
        company: CompanyId,
        instance: InstanceId,
        entry: HistoryId,
        path: &str,
        actor: Option<UserId>,
    ) -> Result<CommandOutcome> {
        let (query, id) = match entry {
            HistoryId::AuditEvent(id) => (
                format!(
                    "SELECT {HISTORY_EVENT} FROM audit_events \
                     WHERE company_id = $1 AND instance_id = $2 AND id = $3 AND data_changes IS NOT NULL"
                ),
                id,
            ),
            HistoryId::HistoryRow(id) => (
                format!(
                    "SELECT {HISTORY_ROW} FROM field_history WHERE company_id = $1 AND instance_id = $2 AND id = $3"
                ),
                id,
            ),
        };
        let row = sql::one(self.db(), self.backend(), &query, vec![int(company.0), int(instance.0), int(id)])
            .await?
            .ok_or(StoreError::NotFound("history entry"))?;
        let changes = row_changes(&row)?;
        let value = changes
            .into_iter()
            .find(|change| change.path == path)
            .map(|change| change.new)
            .ok_or(StoreError::NotFound("history entry"))?;
        let path = FieldPath::parse(path).map_err(|e| StoreError::Corrupt(format!("stored field path {path}: {e}")))?;
        self.execute(Command::Apply {
            company,
            instance,
            event: Event::UpdateData { values: vec![(path, value)] },
            actor,
        })
        .await
    }

    /// Activates the run's task again, with inputs from the current data.
    pub async fn rerun_task(&self, company: CompanyId, run: RunId, actor: Option<UserId>) -> Result<CommandOutcome> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT r.instance_id, r.task_key, i.definition_version_id FROM task_runs r JOIN instances i ON i.id = r.instance_id \
             WHERE r.company_id = $1 AND r.id = $2",
            vec![int(company.0), int(run.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("task"))?;
        let instance = InstanceId(row.try_get_by_index(0)?);
        let key: String = row.try_get_by_index(1)?;
        let definition = self.definition(company, VersionId(row.try_get_by_index(2)?)).await?;
        let task =
            definition.task_index(&key).ok_or_else(|| StoreError::Corrupt(format!("run of unknown task {key}")))?;
        self.execute(Command::Apply { company, instance, event: Event::Activate { task }, actor }).await
    }
}
