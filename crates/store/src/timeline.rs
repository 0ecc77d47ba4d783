//! The audit trail of an instance with times, for timelines.

use crate::sql::{self, int};
use crate::{CompanyId, InstanceId, Result, Store, UserId};
use serde::Serialize;
use serde_json::Value;

/// One audit event: what happened (`kind`), its `detail` with the state
/// `changes` it caused, who did it and when.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub kind: String,
    pub detail: Value,
    pub actor: Option<UserId>,
    pub at: i64,
}

impl Store {
    /// The audit events of an instance, oldest first.
    pub async fn instance_audit(&self, company: CompanyId, instance: InstanceId) -> Result<Vec<AuditEntry>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT kind, detail, actor_id, created_at FROM audit_events \
             WHERE company_id = $1 AND instance_id = $2 ORDER BY id",
            vec![int(company.0), int(instance.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    kind: r.try_get_by_index(0)?,
                    detail: sql::json_at(r, 1)?,
                    actor: r.try_get_by_index::<Option<i64>>(2)?.map(UserId),
                    at: r.try_get_by_index(3)?,
                })
            })
            .collect()
    }
}
