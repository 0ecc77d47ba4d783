//! The staff inbox (SPEC §7): my open task runs, and the unclaimed ones I may
//! claim, overdue first; one run's detail; claiming and releasing a run.
//!
//! Who may work a run was resolved when it was activated and stored on it:
//! `eligible_role` for a role, and the `assignment` JSON (`{"eligible":
//! {"users": [emails]}, "policy": …}`) for named users, the initiator or an
//! email field. The committer assigns runs with one eligible user, and
//! `round_robin`/`least_loaded` role runs, when it writes them; the rest are
//! pool runs that an eligible user claims. A claim only sets `assignee_id`,
//! which the engine does not track, so it needs no engine event: a
//! conditional `UPDATE` makes exactly one of two racing claims win.

use crate::audit::{self, NewAuditEvent};
use crate::sql::{self, Params, int, text};
use crate::ticket_list::{is_open, user_grantee};
use crate::views::{RUN_COLUMN_COUNT, RUN_COLUMNS, run_view};
use crate::{
    CompanyId, InstanceId, Result, RunId, RunView, Store, StoreError, TicketId, UserId, VersionId, now_millis,
};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};
use serde::Serialize;
use serde_json::json;
use ticketflower_core::engine::{Assignment, Eligible};

/// One open task run in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxItem {
    pub run: RunId,
    pub instance: InstanceId,
    pub ticket: Option<TicketId>,
    pub ticket_title: String,
    pub version_id: VersionId,
    pub task_key: String,
    pub status: String,
    pub assignee: Option<UserId>,
    pub assignee_name: Option<String>,
    pub eligible_role: Option<String>,
    pub due_at: Option<i64>,
    /// Past its due time (or marked overdue by a timeout).
    pub overdue: bool,
    pub created_at: i64,
}

/// A worker's inbox, each list overdue first, then by due time (none last), then oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inbox {
    /// Open runs assigned to the worker.
    pub mine: Vec<InboxItem>,
    /// Open runs nobody has claimed that the worker may claim.
    pub unclaimed: Vec<InboxItem>,
}

/// The person asking: who they are and what makes them eligible.
#[derive(Debug, Clone, Copy)]
pub struct Worker<'a> {
    pub user: UserId,
    pub email: &'a str,
    /// Company role keys the user holds.
    pub roles: &'a [String],
}

/// One task run with its instance and ticket.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    pub run: RunView,
    pub instance: InstanceId,
    pub ticket: Option<TicketId>,
    pub ticket_title: String,
    pub version_id: VersionId,
    /// The email of the instance's initiator (the ticket's creator).
    pub initiator: Option<String>,
}

impl RunDetail {
    /// Whether the worker may work (claim, complete, see the form of) this run:
    /// it is assigned to them, or unassigned and they are eligible (they hold
    /// its role, or their email is listed; a run without an assignment is
    /// open to anyone). This says who, not when: a closed run is not checked here.
    pub fn may_work(&self, worker: &Worker) -> bool {
        match self.run.assignee {
            Some(assignee) => assignee == worker.user,
            None => eligible(self.run.assignment.as_ref(), worker),
        }
    }

    fn is_open(&self) -> bool {
        matches!(self.run.status.as_str(), "OPEN" | "IN_PROGRESS" | "PENDING")
    }
}

fn eligible(assignment: Option<&Assignment>, worker: &Worker) -> bool {
    match assignment.map(|a| &a.eligible) {
        None => true,
        Some(Eligible::Role(role)) => worker.roles.iter().any(|r| r == role),
        Some(Eligible::Users(emails)) => emails.iter().any(|e| e.eq_ignore_ascii_case(worker.email.trim())),
    }
}

/// Most items in each list of an inbox.
const MAX_INBOX: u32 = 500;

/// The inbox's sort key: 0 for runs marked overdue, else the due time, or the
/// largest BIGINT for runs without one. Written exactly like the
/// `task_runs_pool` index expression so the index serves it.
const DUE_KEY: &str = "(CASE WHEN p.overdue <> 0 THEN 0 ELSE COALESCE(p.due_at, 9223372036854775807) END)";

impl Store {
    /// The worker's inbox: at most `limit` runs in each list.
    pub async fn inbox(&self, company: CompanyId, worker: &Worker<'_>, limit: u32) -> Result<Inbox> {
        let (sql, params) = self.inbox_query(company, worker, limit);
        let items = match self.backend() {
            DbBackend::Postgres => {
                let rows = sql::all(self.db(), self.backend(), &sql, params.0).await?;
                rows.iter()
                    .map(|row| Ok((inbox_item(row)?, row.try_get_by_index::<i64>(INBOX_PART_COLUMN)?)))
                    .collect::<Result<Vec<_>>>()?
            }
            // One row holding every item as JSON instead of a row per item: sqlx
            // hands each row of a SQLite result from its worker thread to this
            // task on its own, and those hand-offs cost more than the query.
            _ => {
                let sql = format!(
                    "SELECT json_group_array(json_array(x.id, x.instance_id, x.ticket_id, x.ticket_title, \
                     x.definition_version_id, x.task_key, x.status, x.assignee_id, x.display_name, x.eligible_role, \
                     x.due_at, x.overdue_now, x.created_at, x.due_key, x.part) ORDER BY x.part, x.due_key, x.id) \
                     FROM ({sql}) x"
                );
                let row = sql::one(self.db(), self.backend(), &sql, params.0).await?;
                let text: String = match row {
                    Some(row) => row.try_get_by_index(0)?,
                    None => "[]".to_owned(),
                };
                let rows: Vec<Vec<serde_json::Value>> =
                    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("the inbox's rows: {e}")))?;
                rows.iter().map(|cells| inbox_item_json(cells)).collect::<Result<Vec<_>>>()?
            }
        };
        let now = now_millis();
        let mut inbox = Inbox { mine: Vec::new(), unclaimed: Vec::new() };
        for (mut item, part) in items {
            // Overdue is decided here, not in SQL: a bound "now" would change
            // with every request and make SQLite prepare the statement anew.
            item.overdue = item.overdue || item.due_at.is_some_and(|due| due < now);
            if part == 0 { inbox.mine.push(item) } else { inbox.unclaimed.push(item) }
        }
        Ok(inbox)
    }

    /// The plan of the one query [`Store::inbox`] runs.
    pub async fn explain_inbox(&self, company: CompanyId, worker: &Worker<'_>, limit: u32) -> Result<Vec<String>> {
        let (sql, params) = self.inbox_query(company, worker, limit);
        self.explain(&sql, params).await
    }

    /// Both halves of the inbox in one statement (one round trip): mine
    /// (part 0) then unclaimed (part 1), each in due order.
    fn inbox_query(&self, company: CompanyId, worker: &Worker<'_>, limit: u32) -> (String, Params) {
        let ((mine_sql, mut params), (unclaimed_sql, unclaimed_params)) = self.inbox_queries(company, worker, limit);
        let unclaimed_sql = shift_placeholders(&unclaimed_sql, params.0.len());
        params.0.extend(unclaimed_params.0);
        let sql = format!(
            "SELECT * FROM (SELECT m.*, CAST(0 AS BIGINT) AS part FROM ({mine_sql}) m \
             UNION ALL SELECT u.*, CAST(1 AS BIGINT) AS part FROM ({unclaimed_sql}) u) x ORDER BY part, due_key, id"
        );
        (sql, params)
    }

    /// Both inbox queries. Overdue first is due time first: runs marked
    /// overdue sort first, then by due time (a run whose due time has passed
    /// sorts before every run still on time), and runs without a due time come
    /// last (`due_key`).
    /// Unclaimed runs are read per role from the partial index
    /// `task_runs_pool (company_id, eligible_role, due_key, id)` of open,
    /// unassigned runs with an assignment (a role or users who may take them;
    /// migration 25), each branch already in order and cut to the page, so
    /// the page costs the same with 20 or 20,000 open runs; mine likewise
    /// from `task_runs_assignee`, the open runs assigned to someone. A run
    /// carries its ticket's title and its definition version, so nothing is
    /// joined per row (mine joins the one assignee's name).
    fn inbox_queries(
        &self,
        company: CompanyId,
        worker: &Worker<'_>,
        limit: u32,
    ) -> ((String, Params), (String, Params)) {
        let backend = self.backend();
        let limit = limit.clamp(1, MAX_INBOX);
        // Unclaimed runs have no assignee to name.
        let query = |assigned: bool, conditions: &dyn Fn(&mut Params) -> Vec<String>| {
            let mut params = Params::default();
            let company = params.bind(int(company.0));
            let branches: Vec<String> = conditions(&mut params)
                .into_iter()
                .map(|condition| {
                    format!(
                        "SELECT * FROM (SELECT p.id, p.instance_id, p.ticket_id, p.ticket_title, p.definition_version_id, \
                         p.task_key, p.status, p.assignee_id, p.eligible_role, \
                         p.due_at, p.created_at, p.overdue, {DUE_KEY} AS due_key FROM task_runs p \
                         WHERE p.company_id = {company} AND {} AND {condition} \
                         ORDER BY {DUE_KEY}, p.id LIMIT {limit}) b",
                        is_open(backend, "p.status")
                    )
                })
                .collect();
            let (name, users) = if assigned {
                ("u.display_name", "LEFT JOIN users u ON u.id = r.assignee_id")
            } else {
                ("CAST(NULL AS TEXT)", "")
            };
            let sql = format!(
                "SELECT r.id, r.instance_id, r.ticket_id, COALESCE(r.ticket_title, '') AS ticket_title, r.definition_version_id, \
                 r.task_key, r.status, r.assignee_id, {name} AS display_name, r.eligible_role, r.due_at, \
                 r.overdue AS overdue_now, r.created_at, r.due_key \
                 FROM (SELECT * FROM ({}) a ORDER BY due_key, id LIMIT {limit}) r {users} \
                 ORDER BY r.due_key, r.id",
                branches.join(" UNION ALL ")
            );
            (sql, params)
        };
        let mine = query(true, &|params| vec![format!("p.assignee_id = {}", params.bind(int(worker.user.0)))]);
        let unclaimed = query(false, &|params| {
            let email = params.bind(text(worker.email.trim().to_lowercase()));
            let listed = match backend {
                DbBackend::Postgres => format!(
                    "EXISTS (SELECT 1 FROM json_array_elements_text(p.assignment::json -> 'eligible' -> 'users') AS e(value) \
                     WHERE lower(e.value) = {email})"
                ),
                _ => format!(
                    "EXISTS (SELECT 1 FROM json_each(p.assignment, '$.eligible.users') AS e WHERE lower(e.value) = {email})"
                ),
            };
            // One branch per role (each an ordered range of the pool index),
            // and one for runs without a role that list the worker's email.
            // Both conditions of the pool index are written as it writes them.
            let pool = "p.assignee_id IS NULL AND p.assignment IS NOT NULL";
            let mut branches: Vec<String> = worker
                .roles
                .iter()
                .map(|role| format!("{pool} AND p.eligible_role = {}", params.bind(text(role))))
                .collect();
            branches.push(format!("{pool} AND p.eligible_role IS NULL AND {listed}"));
            branches
        });
        (mine, unclaimed)
    }

    /// A task run with its instance and ticket.
    ///
    /// A run written before migration 26 is found by its old id too (a link
    /// someone kept): the detail then holds its id now.
    pub async fn run_detail(&self, company: CompanyId, run: RunId) -> Result<RunDetail> {
        match self.load_run_detail(self.db(), company, run).await {
            Err(StoreError::NotFound(what)) => {
                let renumbered = sql::one(
                    self.db(),
                    self.backend(),
                    "SELECT run_id FROM task_run_aliases WHERE company_id = $1 AND old_id = $2",
                    vec![int(company.0), int(run.0)],
                )
                .await?;
                match renumbered {
                    Some(row) => self.load_run_detail(self.db(), company, RunId(row.try_get_by_index(0)?)).await,
                    None => Err(StoreError::NotFound(what)),
                }
            }
            other => other,
        }
    }

    async fn load_run_detail(&self, db: &impl ConnectionTrait, company: CompanyId, run: RunId) -> Result<RunDetail> {
        let row = sql::one(
            db,
            self.backend(),
            &format!(
                "SELECT {RUN_COLUMNS}, r.instance_id, r.ticket_id, COALESCE(r.ticket_title, ''), r.definition_version_id, i.initiator \
                 FROM task_runs r JOIN instances i ON i.id = r.instance_id \
                 WHERE r.company_id = $1 AND r.id = $2 AND i.company_id = $1"
            ),
            vec![int(company.0), int(run.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("task"))?;
        let at = RUN_COLUMN_COUNT;
        Ok(RunDetail {
            run: run_view(&row)?,
            instance: InstanceId(row.try_get_by_index(at)?),
            ticket: row.try_get_by_index::<Option<i64>>(at + 1)?.map(TicketId),
            ticket_title: row.try_get_by_index(at + 2)?,
            version_id: VersionId(row.try_get_by_index(at + 3)?),
            initiator: row.try_get_by_index(at + 4)?,
        })
    }

    /// Claims an open, unassigned run the worker is eligible for (claiming
    /// one's own run again does nothing). Audited as `task_claimed`.
    pub async fn claim_run(&self, company: CompanyId, run: RunId, worker: &Worker<'_>) -> Result<()> {
        let backend = self.backend();
        let write = self.write().await?;
        let detail = self.load_run_detail(&write.tx, company, run).await?;
        if !detail.is_open() {
            return Err(StoreError::Conflict("this task is no longer open".into()));
        }
        match detail.run.assignee {
            Some(assignee) if assignee == worker.user => return Ok(()),
            Some(assignee) => {
                let name = self.display_name(&write.tx, company, assignee).await?;
                return Err(StoreError::Conflict(format!("already claimed by {name}")));
            }
            None => {}
        }
        if !detail.may_work(worker) {
            return Err(StoreError::Forbidden("you are not eligible for this task"));
        }
        // Conditional: of two claims racing past the checks above, one updates the row.
        let claimed = sql::exec(
            &write.tx,
            backend,
            &format!(
                "UPDATE task_runs SET assignee_id = $3, updated_at = $4 \
                 WHERE company_id = $1 AND id = $2 AND assignee_id IS NULL AND {}",
                is_open(backend, "status")
            ),
            vec![int(company.0), int(run.0), int(worker.user.0), int(now_millis())],
        )
        .await?;
        if claimed.rows_affected() == 0 {
            return Err(StoreError::Conflict("someone else claimed this task first".into()));
        }
        // The ticket is the claimer's to see from now on, as for an assignee
        // the committer deals a run to (see `ticket_list`).
        if let Some(ticket) = detail.ticket {
            sql::exec(
                &write.tx,
                backend,
                "INSERT INTO ticket_access (company_id, grantee, ticket_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                vec![int(company.0), text(user_grantee(worker.user.0)), int(ticket.0)],
            )
            .await?;
        }
        audit::record(&write.tx, backend, run_audit(company, &detail, "task_claimed", worker.user)).await?;
        write.commit().await?;
        self.forget_load(company, worker.user)
    }

    /// Gives back a run the worker holds, so others eligible can claim it.
    /// Audited as `task_released`.
    pub async fn release_run(&self, company: CompanyId, run: RunId, worker: &Worker<'_>) -> Result<()> {
        let backend = self.backend();
        let write = self.write().await?;
        let detail = self.load_run_detail(&write.tx, company, run).await?;
        if !detail.is_open() {
            return Err(StoreError::Conflict("this task is no longer open".into()));
        }
        if detail.run.assignee != Some(worker.user) {
            return Err(StoreError::Conflict("this task is not claimed by you".into()));
        }
        let released = sql::exec(
            &write.tx,
            backend,
            &format!(
                "UPDATE task_runs SET assignee_id = NULL, updated_at = $4 \
                 WHERE company_id = $1 AND id = $2 AND assignee_id = $3 AND {}",
                is_open(backend, "status")
            ),
            vec![int(company.0), int(run.0), int(worker.user.0), int(now_millis())],
        )
        .await?;
        if released.rows_affected() == 0 {
            return Err(StoreError::Conflict("this task changed meanwhile; reload it".into()));
        }
        // The ticket stays the user's to see only while another run of its
        // instance is assigned to them or was completed by them (see `ticket_list`).
        if let Some(ticket) = detail.ticket {
            let (first, last) = self.run_ids().range(detail.instance);
            sql::exec(
                &write.tx,
                backend,
                "DELETE FROM ticket_access WHERE company_id = $1 AND grantee = $2 AND ticket_id = $3 \
                 AND NOT EXISTS (SELECT 1 FROM task_runs r WHERE r.company_id = $1 AND r.id BETWEEN $5 AND $6 \
                 AND (r.assignee_id = $4 OR r.completed_by = $4))",
                vec![
                    int(company.0),
                    text(user_grantee(worker.user.0)),
                    int(ticket.0),
                    int(worker.user.0),
                    int(first),
                    int(last),
                ],
            )
            .await?;
        }
        audit::record(&write.tx, backend, run_audit(company, &detail, "task_released", worker.user)).await?;
        write.commit().await?;
        self.forget_load(company, worker.user)
    }

    async fn display_name(&self, db: &impl ConnectionTrait, company: CompanyId, user: UserId) -> Result<String> {
        let row = sql::one(
            db,
            self.backend(),
            "SELECT display_name FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        Ok(match row {
            Some(row) => row.try_get_by_index(0)?,
            None => "someone else".to_owned(),
        })
    }
}

fn run_audit(company: CompanyId, detail: &RunDetail, kind: &'static str, actor: UserId) -> NewAuditEvent {
    NewAuditEvent {
        company,
        instance: Some(detail.instance),
        ticket: detail.ticket,
        kind,
        detail: json!({"run": detail.run.id.0, "seq": detail.run.seq, "task": detail.run.task}),
        actor: Some(actor),
    }
}

/// The column of the combined inbox query that says which half a row is in.
const INBOX_PART_COLUMN: usize = 14;

/// Renumbers `$n` placeholders to `$(n + offset)`, to append one statement's
/// parameters after another's.
fn shift_placeholders(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|(_, next)| next.is_ascii_digit()) {
            let mut number = String::new();
            while let Some((_, digit)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                number.push(*digit);
                chars.next();
            }
            let shifted = number.parse::<usize>().map(|n| n + offset).unwrap_or_default();
            out.push('$');
            out.push_str(&shifted.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn inbox_item(r: &QueryResult) -> Result<InboxItem> {
    Ok(InboxItem {
        run: RunId(r.try_get_by_index(0)?),
        instance: InstanceId(r.try_get_by_index(1)?),
        ticket: r.try_get_by_index::<Option<i64>>(2)?.map(TicketId),
        ticket_title: r.try_get_by_index(3)?,
        version_id: VersionId(r.try_get_by_index(4)?),
        task_key: r.try_get_by_index(5)?,
        status: r.try_get_by_index(6)?,
        assignee: r.try_get_by_index::<Option<i64>>(7)?.map(UserId),
        assignee_name: r.try_get_by_index(8)?,
        eligible_role: r.try_get_by_index(9)?,
        due_at: r.try_get_by_index(10)?,
        overdue: r.try_get_by_index::<i64>(11)? != 0,
        created_at: r.try_get_by_index(12)?,
    })
}

/// An inbox item and its part from the JSON array of the columns [`inbox_item`] reads, then `part`.
fn inbox_item_json(cells: &[serde_json::Value]) -> Result<(InboxItem, i64)> {
    let bad = || StoreError::Corrupt(format!("an inbox row is malformed: {cells:?}"));
    let int = |at: usize| cells.get(at).and_then(serde_json::Value::as_i64).ok_or_else(bad);
    let int_opt = |at: usize| cells.get(at).and_then(serde_json::Value::as_i64);
    let text = |at: usize| cells.get(at).and_then(serde_json::Value::as_str).map(str::to_owned);
    let item = InboxItem {
        run: RunId(int(0)?),
        instance: InstanceId(int(1)?),
        ticket: int_opt(2).map(TicketId),
        ticket_title: text(3).unwrap_or_default(),
        version_id: VersionId(int(4)?),
        task_key: text(5).ok_or_else(bad)?,
        status: text(6).ok_or_else(bad)?,
        assignee: int_opt(7).map(UserId),
        assignee_name: text(8),
        eligible_role: text(9),
        due_at: int_opt(10),
        overdue: int(11)? != 0,
        created_at: int(12)?,
    };
    Ok((item, int(14)?))
}

#[cfg(test)]
mod shift_tests {
    use super::shift_placeholders;

    #[test]
    fn placeholders_move_and_json_paths_stay() {
        assert_eq!(
            shift_placeholders("a = $1 AND b IN ($2, $10) AND json_each(x, '$.eligible')", 3),
            "a = $4 AND b IN ($5, $13) AND json_each(x, '$.eligible')"
        );
        assert_eq!(shift_placeholders("no params", 5), "no params");
    }
}
