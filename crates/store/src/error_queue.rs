//! The error queue (SPEC §2.3 rule 8): every ticket error the engine raised,
//! for a ticket admin to review and resolve. Errors never vanish; a review
//! moves the status forward (`NEW` → `REVIEWED` → `RESOLVED`) and appends a
//! note, with who wrote it and when, to the resolution.

use crate::audit::{self, NewAuditEvent};
use crate::sql::{self, Params, int, text};
use crate::{CompanyId, InstanceId, Result, Store, StoreError, TicketErrorId, TicketId, UserId, now_millis};
use sea_orm::QueryResult;
use serde::Serialize;
use serde_json::{Value, json};
use ticketflower_core::Problem;

/// Which errors to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFilter {
    /// `NEW`, `REVIEWED` or `RESOLVED`.
    pub status: Option<String>,
    /// `WORKFLOW_CREATION`, `TASK_CREATION`, `TASK_UPDATE` or `WORKFLOW_TRANSITION`.
    pub kind: Option<String>,
    pub ticket: Option<TicketId>,
    /// At most this many (1 to 500).
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorItem {
    pub id: TicketErrorId,
    pub ticket: Option<TicketId>,
    pub ticket_title: Option<String>,
    pub instance: InstanceId,
    pub kind: String,
    pub message: String,
    pub details: Value,
    pub run_seq: Option<i64>,
    pub status: String,
    /// The review notes, one per line: `<RFC 3339 time> <name> (<STATUS>): <note>`.
    pub resolution: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where an error is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorStatus {
    New,
    Reviewed,
    Resolved,
}

impl ErrorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStatus::New => "NEW",
            ErrorStatus::Reviewed => "REVIEWED",
            ErrorStatus::Resolved => "RESOLVED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [ErrorStatus::New, ErrorStatus::Reviewed, ErrorStatus::Resolved].into_iter().find(|s| s.as_str() == text)
    }
}

const COLUMNS: &str = "e.id, e.ticket_id, t.title, e.instance_id, e.kind, e.message, e.details, e.run_seq, e.status, \
     e.resolution, e.created_at, e.updated_at";

impl Store {
    /// The company's ticket errors that `filter` selects, newest first.
    pub async fn ticket_errors(&self, company: CompanyId, filter: &ErrorFilter) -> Result<Vec<ErrorItem>> {
        let mut params = Params::default();
        let mut conditions = vec![format!("e.company_id = {}", params.bind(int(company.0)))];
        if let Some(status) = &filter.status {
            conditions.push(format!("e.status = {}", params.bind(text(status))));
        }
        if let Some(kind) = &filter.kind {
            conditions.push(format!("e.kind = {}", params.bind(text(kind))));
        }
        if let Some(ticket) = filter.ticket {
            conditions.push(format!("e.ticket_id = {}", params.bind(int(ticket.0))));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM ticket_errors e LEFT JOIN tickets t ON t.id = e.ticket_id \
             WHERE {} ORDER BY e.id DESC LIMIT {}",
            conditions.join(" AND "),
            filter.limit.clamp(1, 500)
        );
        let rows = sql::all(self.db(), self.backend(), &sql, params.0).await?;
        rows.iter().map(error_item).collect()
    }

    pub async fn ticket_error(&self, company: CompanyId, id: TicketErrorId) -> Result<ErrorItem> {
        let row = sql::one(
            self.db(),
            self.backend(),
            &format!(
                "SELECT {COLUMNS} FROM ticket_errors e LEFT JOIN tickets t ON t.id = e.ticket_id \
                 WHERE e.company_id = $1 AND e.id = $2"
            ),
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket error"))?;
        error_item(&row)
    }

    /// Moves an error to `REVIEWED` or `RESOLVED`, appending `note` (if any) to
    /// its resolution with the actor's name and the time. A resolved error stays
    /// resolved (more notes may be added); none goes back to `NEW`. Audited as
    /// `error_reviewed` or `error_resolved`.
    pub async fn review_error(
        &self,
        company: CompanyId,
        id: TicketErrorId,
        status: ErrorStatus,
        note: &str,
        actor: UserId,
    ) -> Result<()> {
        if status == ErrorStatus::New {
            return Err(StoreError::Invalid(vec![Problem::error(
                "/status",
                "an error can be marked REVIEWED or RESOLVED, not NEW again",
            )]));
        }
        let backend = self.backend();
        let write = self.write().await?;
        let row = sql::one(
            &write.tx,
            backend,
            "SELECT status, instance_id, ticket_id FROM ticket_errors WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket error"))?;
        let current: String = row.try_get_by_index(0)?;
        let instance = InstanceId(row.try_get_by_index(1)?);
        let ticket = row.try_get_by_index::<Option<i64>>(2)?.map(TicketId);
        if current == ErrorStatus::Resolved.as_str() && status != ErrorStatus::Resolved {
            return Err(StoreError::Conflict("this error is already resolved".into()));
        }
        let name: String = sql::one(
            &write.tx,
            backend,
            "SELECT display_name FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(actor.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?
        .try_get_by_index(0)?;
        let now = now_millis();
        let note = note.trim();
        let line = (!note.is_empty()).then(|| {
            let at = chrono::DateTime::from_timestamp_millis(now)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            format!("{at} {name} ({}): {note}", status.as_str())
        });
        // The note is appended in SQL, and only from the status just read, so
        // two reviews at once both keep their notes or one is refused.
        let mut values = vec![int(company.0), int(id.0), text(&current), text(status.as_str()), int(now)];
        let append = match line {
            Some(line) => {
                values.push(text(line));
                values.push(text("\n"));
                ", resolution = CASE WHEN resolution IS NULL OR resolution = '' THEN $6 ELSE resolution || $7 || $6 END"
            }
            None => "",
        };
        let updated = sql::exec(
            &write.tx,
            backend,
            &format!(
                "UPDATE ticket_errors SET status = $4, updated_at = $5{append} \
                 WHERE company_id = $1 AND id = $2 AND status = $3"
            ),
            values,
        )
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict("this error changed meanwhile; reload it".into()));
        }
        let kind = match status {
            ErrorStatus::Resolved => "error_resolved",
            _ => "error_reviewed",
        };
        audit::record(
            &write.tx,
            backend,
            NewAuditEvent {
                company,
                instance: Some(instance),
                ticket,
                kind,
                detail: json!({"error": id.0, "from": current, "status": status.as_str(), "note": note}),
                actor: Some(actor),
            },
        )
        .await?;
        write.commit().await
    }
}

fn error_item(r: &QueryResult) -> Result<ErrorItem> {
    Ok(ErrorItem {
        id: TicketErrorId(r.try_get_by_index(0)?),
        ticket: r.try_get_by_index::<Option<i64>>(1)?.map(TicketId),
        ticket_title: r.try_get_by_index(2)?,
        instance: InstanceId(r.try_get_by_index(3)?),
        kind: r.try_get_by_index(4)?,
        message: r.try_get_by_index(5)?,
        details: sql::json_at(r, 6)?,
        run_seq: r.try_get_by_index(7)?,
        status: r.try_get_by_index(8)?,
        resolution: r.try_get_by_index(9)?,
        created_at: r.try_get_by_index(10)?,
        updated_at: r.try_get_by_index(11)?,
    })
}
