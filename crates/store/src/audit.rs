//! Audit events written outside the committer: desk actions (comments, claims,
//! error reviews) that change no workflow state but are state changes a
//! person made (SPEC §3: every change has an actor and a time).

use crate::sql::{self, int, int_opt, text};
use crate::{CompanyId, InstanceId, Result, TicketId, UserId, now_millis};
use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::Value;

/// One audit event; `kind` names what happened in snake case (`comment_added`), like the committer's kinds.
pub(crate) struct NewAuditEvent {
    pub company: CompanyId,
    pub instance: Option<InstanceId>,
    pub ticket: Option<TicketId>,
    pub kind: &'static str,
    pub detail: Value,
    pub actor: Option<UserId>,
}

/// Writes the event in the caller's transaction.
pub(crate) async fn record(db: &impl ConnectionTrait, backend: DbBackend, entry: NewAuditEvent) -> Result<()> {
    sql::exec(
        db,
        backend,
        "INSERT INTO audit_events (company_id, instance_id, ticket_id, kind, detail, actor_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            int(entry.company.0),
            int_opt(entry.instance.map(|i| i.0)),
            int_opt(entry.ticket.map(|t| t.0)),
            text(entry.kind),
            text(entry.detail.to_string()),
            int_opt(entry.actor.map(|a| a.0)),
            int(now_millis()),
        ],
    )
    .await?;
    Ok(())
}
