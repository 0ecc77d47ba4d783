//! The ticket list and a ticket's page header (SPEC §7): filters, full-text
//! search and keyset pagination, newest first, over a company's tickets.
//!
//! The list query is assembled from the filter's conditions only (no
//! `$n IS NULL OR …` terms), so each combination gets a plan that uses its
//! index: `(company_id, id)`, `(company_id, status, id)` or
//! `(company_id, ticket_type, id)`, read backwards from `before`.
//! [`Store::explain_ticket_list`] shows the plan of exactly that query.
//!
//! A restricted scope is not a condition checked ticket by ticket (that walks
//! every ticket of the company when the user may see few of them): each way of
//! seeing a ticket is its own branch, an index range ordered by ticket id and
//! cut at the page size — the allowed types `(company_id, ticket_type, id)`,
//! the user's own `(company_id, creator_id, id)`, and the tickets the user or
//! one of their roles was given by a run they were assigned, completed or
//! were eligible to, `ticket_access (company_id, grantee, ticket_id)`
//! (migrations 19 and 27) — and the page is the newest of their union. Its cost follows the page size and the number of branches,
//! not the company's size. A filter few tickets pass, combined with a role
//! that has many runs, would have that role's branch read its runs until the
//! page is full: PostgreSQL plans such a query from the filter's index, as
//! each list query is planned with its values; SQLite cannot tell a rare
//! value from a common one, so a restricted list with a status or type filter
//! first counts that filter's tickets in its index (up to [`FEW_FILTERED`])
//! and, when few pass, reads them there and checks each one's visibility.
//!
//! Search is the one backend-specific part (see [`search`]): SQLite matches
//! the FTS5 table `ticket_search`, one row per ticket with its comments (kept
//! by triggers, see migrations.rs); PostgreSQL the GIN-indexed tsvector column
//! `tickets.search` and expression on `comments.body`. On both, every whitespace-separated word
//! of the input (up to eight) must occur, as whole words, in the ticket or in
//! one of its comments, and no input can be a syntax error.

mod search;

use crate::sql::{self, Params, int, text};
use crate::{CompanyId, InstanceId, Result, Store, StoreError, TicketId, UserId, VersionId};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use search::{SearchPlan, WindowedSearch};
use serde::Serialize;
use serde_json::Value;

/// Which tickets a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketScope {
    /// Every ticket of the company (ticket admins).
    All,
    /// Tickets whose type is in `ticket_types` (the user's roles' `role_access`),
    /// or created by `user`, or with a task run assigned to or completed by
    /// `user`, or eligible to one of `roles`.
    Restricted { user: UserId, ticket_types: Vec<String>, roles: Vec<String> },
}

/// What the ticket list shows. Conditions left `None` do not filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    pub scope: TicketScope,
    pub ticket_type: Option<String>,
    pub status: Option<String>,
    /// Tickets with an open task run assigned to this user.
    pub assignee: Option<UserId>,
    /// Created at or after (ms).
    pub created_from: Option<i64>,
    /// Created before (ms).
    pub created_to: Option<i64>,
    /// Words to find in the title, the fields or the comments.
    pub search: Option<String>,
    /// Keyset pagination: only tickets with ids below this one.
    pub before: Option<TicketId>,
    /// Tickets per page (1 to [`TicketFilter::MAX_LIMIT`]).
    pub limit: u32,
}

impl TicketFilter {
    pub const MAX_LIMIT: u32 = 500;

    /// The first page of 50, in `scope`, unfiltered.
    pub fn new(scope: TicketScope) -> Self {
        Self {
            scope,
            ticket_type: None,
            status: None,
            assignee: None,
            created_from: None,
            created_to: None,
            search: None,
            before: None,
            limit: 50,
        }
    }
}

/// One line of the ticket list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketSummary {
    pub id: TicketId,
    pub title: String,
    pub ticket_type: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The creator's display name.
    pub creator: Option<String>,
}

/// One page of the list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketPage {
    pub tickets: Vec<TicketSummary>,
    /// The `before` of the next page, when there is one.
    pub next_before: Option<TicketId>,
}

/// A ticket with what its page shows at the top.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    pub id: TicketId,
    pub title: String,
    pub ticket_type: String,
    pub definition_key: String,
    pub version: i64,
    pub version_id: VersionId,
    pub status: String,
    pub fields: Value,
    pub creator: Option<UserId>,
    pub creator_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub instance: Option<InstanceId>,
}

/// A page from up to `limit + 1` tickets: one row more than the page says
/// whether another page follows.
fn page(mut tickets: Vec<TicketSummary>, limit: u32) -> TicketPage {
    let next_before = if tickets.len() > limit as usize {
        tickets.truncate(limit as usize);
        tickets.last().map(|t| t.id)
    } else {
        None
    };
    TicketPage { tickets, next_before }
}

/// A ticket summary from the JSON array of the list's columns.
fn ticket_summary_json(cells: &[serde_json::Value]) -> Result<TicketSummary> {
    let bad = || StoreError::Corrupt(format!("a ticket list row is malformed: {cells:?}"));
    let int = |at: usize| cells.get(at).and_then(serde_json::Value::as_i64).ok_or_else(bad);
    let text = |at: usize| cells.get(at).and_then(serde_json::Value::as_str).map(str::to_owned);
    Ok(TicketSummary {
        id: TicketId(int(0)?),
        title: text(1).ok_or_else(bad)?,
        ticket_type: text(2).ok_or_else(bad)?,
        status: text(3).ok_or_else(bad)?,
        created_at: int(4)?,
        updated_at: int(5)?,
        creator: text(6),
    })
}

impl Store {
    /// A page of the company's tickets that `filter` selects, newest first.
    pub async fn list_tickets(&self, company: CompanyId, filter: &TicketFilter) -> Result<TicketPage> {
        let limit = page_size(filter.limit);
        let plan = self.list_plan(company, filter).await?;
        if plan.search.finds_nothing() {
            return Ok(page(Vec::new(), limit));
        }
        let wanted = limit as usize + 1;
        if !plan.search.windowed() {
            let tickets = self.ticket_list_rows(company, filter, &plan, None, wanted).await?;
            return Ok(page(tickets, limit));
        }
        // Windows of ticket ids, newest first and each four times the last, until
        // the page is full or the ids run out (see `search.rs`).
        let mut window = self.first_window(company, filter).await?;
        let mut tickets = Vec::new();
        while window.end > 1 && tickets.len() < wanted {
            let rows = wanted - tickets.len();
            tickets.extend(self.ticket_list_rows(company, filter, &plan, Some(window), rows).await?);
            let width = (window.end - window.start).saturating_mul(4);
            window = Window { start: (window.start - width).max(1), end: window.start };
        }
        Ok(page(tickets, limit))
    }

    /// The first window of a search read in windows: [`search::FIRST_WINDOW`]
    /// ids below the page's start, or below the company's newest ticket.
    async fn first_window(&self, company: CompanyId, filter: &TicketFilter) -> Result<Window> {
        let end = match filter.before {
            Some(before) => before.0,
            None => {
                let newest = sql::one(
                    self.db(),
                    self.backend(),
                    "SELECT COALESCE(MAX(id), 0) FROM tickets WHERE company_id = $1",
                    vec![int(company.0)],
                )
                .await?;
                match newest {
                    Some(row) => row.try_get_by_index::<i64>(0)? + 1,
                    None => 1,
                }
            }
        };
        Ok(Window { start: (end - search::FIRST_WINDOW).max(1), end })
    }

    /// How the list of `filter` is read: its search counted in the index (see
    /// [`search`]), and on SQLite whether a restricted list's status or type
    /// filter is passed by so few tickets that they are read through it.
    async fn list_plan(&self, company: CompanyId, filter: &TicketFilter) -> Result<ListPlan> {
        let search = self.search_plan(company, filter.search.as_deref()).await?;
        let narrow = if search.windowed() { None } else { self.narrow_filter(company, filter).await? };
        Ok(ListPlan { search, narrow })
    }

    /// SQLite, a restricted list: its status or type filter (a type the scope
    /// does not grant) that fewer than [`FEW_FILTERED`] tickets pass, if any.
    async fn narrow_filter(&self, company: CompanyId, filter: &TicketFilter) -> Result<Option<Narrow>> {
        let TicketScope::Restricted { ticket_types, .. } = &filter.scope else { return Ok(None) };
        if self.backend() == DbBackend::Postgres {
            return Ok(None);
        }
        let candidates = [
            (Narrow::Status, filter.status.as_ref()),
            (Narrow::TicketType, filter.ticket_type.as_ref().filter(|t| !ticket_types.contains(t))),
        ];
        for (narrow, value) in candidates {
            if let Some(value) = value
                && self.few_pass(company, narrow, value, filter.before).await?
            {
                return Ok(Some(narrow));
            }
        }
        Ok(None)
    }

    /// Whether fewer than [`FEW_FILTERED`] of the company's tickets below
    /// `before` have `value` in the column of `narrow`: a count of at most that
    /// many entries of its index.
    async fn few_pass(
        &self,
        company: CompanyId,
        narrow: Narrow,
        value: &str,
        before: Option<TicketId>,
    ) -> Result<bool> {
        let mut params = Params::default();
        let mut where_ = vec![
            format!("company_id = {}", params.bind(int(company.0))),
            format!("{} = {}", narrow.column(), params.bind(text(value))),
        ];
        where_.extend(before.map(|before| format!("id < {}", params.bind(int(before.0)))));
        let sql = format!(
            "SELECT count(*) FROM (SELECT 1 FROM tickets INDEXED BY {} WHERE {} LIMIT {FEW_FILTERED})",
            narrow.index(),
            where_.join(" AND ")
        );
        let count = match sql::one(self.db(), self.backend(), &sql, params.0).await? {
            Some(row) => row.try_get_by_index::<i64>(0)?,
            None => 0,
        };
        Ok(count < FEW_FILTERED)
    }

    /// Up to `rows` tickets of the list query, newest first.
    async fn ticket_list_rows(
        &self,
        company: CompanyId,
        filter: &TicketFilter,
        plan: &ListPlan,
        window: Option<Window>,
        rows: usize,
    ) -> Result<Vec<TicketSummary>> {
        let (sql, params) = self.ticket_list_query(company, filter, plan, window, rows);
        let backend = self.backend();
        if backend != DbBackend::Postgres {
            // The page as one row of JSON: sqlx hands each row of a SQLite result
            // from its worker thread to this task on its own (as for the inbox).
            let sql = format!(
                "SELECT json_group_array(json_array(x.id, x.title, x.ticket_type, x.status, x.created_at, \
                 x.updated_at, x.display_name) ORDER BY x.id DESC) FROM ({sql}) x"
            );
            let text: Option<String> = match sql::one(self.db(), backend, &sql, params.0).await? {
                Some(row) => row.try_get_by_index(0)?,
                None => None,
            };
            let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(text.as_deref().unwrap_or("[]"))
                .map_err(|e| StoreError::Corrupt(format!("the ticket list's rows: {e}")))?;
            return rows.iter().map(|cells| ticket_summary_json(cells)).collect();
        }
        // Planned with this filter's values every time: a generic plan (which
        // PostgreSQL may pick for a prepared statement after five runs) guesses
        // how selective a status or a role is, and a guess that picks the wrong
        // side of a branch's join reads every run of a large role for a status
        // no ticket has. This is also the plan `explain_ticket_list` shows.
        let tx = self.db().begin().await?;
        tx.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan").await?;
        let rows = sql::all(&tx, backend, &sql, params.0).await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(TicketSummary {
                    id: TicketId(r.try_get_by_index(0)?),
                    title: r.try_get_by_index(1)?,
                    ticket_type: r.try_get_by_index(2)?,
                    status: r.try_get_by_index(3)?,
                    created_at: r.try_get_by_index(4)?,
                    updated_at: r.try_get_by_index(5)?,
                    creator: r.try_get_by_index(6)?,
                })
            })
            .collect()
    }

    /// The query plan of the query [`Store::list_tickets`] runs for `filter`
    /// (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL), one line per
    /// step; for a search read in windows of ids, the first window's.
    pub async fn explain_ticket_list(&self, company: CompanyId, filter: &TicketFilter) -> Result<Vec<String>> {
        let plan = self.list_plan(company, filter).await?;
        let window = if plan.search.windowed() { Some(self.first_window(company, filter).await?) } else { None };
        let rows = page_size(filter.limit) as usize + 1;
        let (sql, params) = self.ticket_list_query(company, filter, &plan, window, rows);
        self.explain(&sql, params).await
    }

    /// A ticket with its definition, creator and instance.
    pub async fn ticket(&self, company: CompanyId, id: TicketId) -> Result<TicketView> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT t.id, t.title, t.ticket_type, d.key, v.version, t.definition_version_id, t.status, t.fields, \
             t.creator_id, u.display_name, t.created_at, t.updated_at, \
             (SELECT MIN(i.id) FROM instances i WHERE i.company_id = t.company_id AND i.ticket_id = t.id) \
             FROM tickets t JOIN definition_versions v ON v.id = t.definition_version_id \
             JOIN definitions d ON d.id = v.definition_id LEFT JOIN users u ON u.id = t.creator_id \
             WHERE t.company_id = $1 AND t.id = $2",
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket"))?;
        Ok(TicketView {
            id: TicketId(row.try_get_by_index(0)?),
            title: row.try_get_by_index(1)?,
            ticket_type: row.try_get_by_index(2)?,
            definition_key: row.try_get_by_index(3)?,
            version: row.try_get_by_index(4)?,
            version_id: VersionId(row.try_get_by_index(5)?),
            status: row.try_get_by_index(6)?,
            fields: row.try_get_by_index(7)?,
            creator: row.try_get_by_index::<Option<i64>>(8)?.map(UserId),
            creator_name: row.try_get_by_index(9)?,
            created_at: row.try_get_by_index(10)?,
            updated_at: row.try_get_by_index(11)?,
            instance: row.try_get_by_index::<Option<i64>>(12)?.map(InstanceId),
        })
    }

    /// Whether `scope` lets its user see the ticket (false also when it is
    /// missing or another company's): the check behind a ticket's page, its
    /// comments and its files.
    pub async fn ticket_visible(&self, company: CompanyId, id: TicketId, scope: &TicketScope) -> Result<bool> {
        let mut params = Params::default();
        let company_param = params.bind(int(company.0));
        let ticket = params.bind(int(id.0));
        let mut conditions = vec![format!("t.company_id = {company_param}"), format!("t.id = {ticket}")];
        if let TicketScope::Restricted { user, ticket_types, roles } = scope {
            conditions.push(visible_to(self.backend(), &mut params, &company_param, *user, ticket_types, roles));
        }
        let sql = format!("SELECT t.id FROM tickets t WHERE {}", conditions.join(" AND "));
        Ok(sql::one(self.db(), self.backend(), &sql, params.0).await?.is_some())
    }

    /// The list query of `filter`, for up to `rows` tickets (the page's
    /// `limit + 1`: one more than the page says whether another page follows),
    /// within `window` when the search is read in windows, and its values.
    ///
    /// All tickets: one walk down the index the filter picks, from `before`.
    /// Restricted, with a filter few tickets pass (`plan.narrow`): the same
    /// walk down that filter's index, each ticket checked for visibility.
    /// Otherwise restricted: one branch per way a ticket can be visible, each
    /// an ordered, limited range of an index (the ticket types, the creator,
    /// the runs assigned to the user, which carry their ticket's id, and the
    /// user's and each role's `ticket_access`), with every filter applied inside the branch;
    /// the union of at most `branches × (limit + 1)` ids is ordered and cut
    /// again. The cost depends on the page size and the number of branches,
    /// not on how many tickets the company has or how few of them the user may
    /// see — except for a filter many tickets pass but few of a large role's
    /// (the role's branch then walks most of its runs).
    fn ticket_list_query(
        &self,
        company: CompanyId,
        filter: &TicketFilter,
        plan: &ListPlan,
        window: Option<Window>,
        rows: usize,
    ) -> (String, Params) {
        let search = &plan.search;
        let mut params = Params::default();
        let company_param = params.bind(int(company.0));
        let before = window.map_or(filter.before.map(|b| b.0), |w| Some(w.end)).map(|b| params.bind(int(b)));
        let start = window.map(|w| params.bind(int(w.start)));
        let bounds = Bounds { before: before.as_deref(), start: start.as_deref() };
        let filters = self.filter_conditions(&mut params, &company_param, bounds, filter, search);
        let windowed = window.and_then(|w| search.windowed_search(&mut params, bounds, w.end - w.start));
        // The limit is written into the text (it is a number we chose): a bound
        // LIMIT leaves PostgreSQL's generic plan guessing how many rows are wanted.
        let columns = "t.id, t.title, t.ticket_type, t.status, t.created_at, t.updated_at, u.display_name";
        let sql = match &filter.scope {
            TicketScope::Restricted { user: viewer, ticket_types, roles } if plan.narrow.is_none() => {
                let user = params.bind(int(viewer.0));
                let branch =
                    Branch { company: &company_param, filters: &filters, windowed: windowed.as_ref(), bounds, rows };
                let mut branches = Vec::new();
                match &filter.ticket_type {
                    // Filtered to a type the scope allows: every ticket of it is
                    // visible, so the type's own branch is the whole answer.
                    Some(wanted) if ticket_types.contains(wanted) => {
                        branches.push(branch.tickets(&format!("t.ticket_type = {}", params.bind(text(wanted)))));
                    }
                    wanted => {
                        // Filtered to another type, no type branch can find anything.
                        if wanted.is_none() {
                            for ticket_type in distinct(ticket_types) {
                                let ticket_type = params.bind(text(ticket_type));
                                branches.push(branch.tickets(&format!("t.ticket_type = {ticket_type}")));
                            }
                        }
                        branches.push(branch.tickets(&format!("t.creator_id = {user}")));
                        for grantee in grantees(*viewer, roles) {
                            branches.push(branch.access(&params.bind(text(&grantee))));
                        }
                    }
                }
                let union: Vec<String> = branches
                    .iter()
                    .enumerate()
                    .map(|(n, branch)| format!("SELECT id FROM ({branch}) AS b{n}"))
                    .collect();
                // CROSS JOIN keeps the page's ids the outer loop on SQLite (without
                // statistics it would rather scan the company's tickets and probe them).
                format!(
                    "SELECT {columns} FROM ({} ORDER BY id DESC LIMIT {rows}) AS v \
                     CROSS JOIN tickets t LEFT JOIN users u ON u.id = t.creator_id \
                     WHERE t.id = v.id AND t.company_id = {company_param} ORDER BY t.id DESC LIMIT {rows}",
                    union.join(" UNION ")
                )
            }
            // All tickets, or a restricted list whose filter few tickets pass
            // (SQLite, see `ListPlan::narrow`): one walk down the index the
            // filter picks, from `before`, each ticket checked for visibility.
            scope => {
                let mut where_ = vec![format!("t.company_id = {company_param}")];
                where_.extend(filters);
                where_.extend(bounds.on("t.id"));
                if let TicketScope::Restricted { user, ticket_types, roles } = scope {
                    where_.push(visible_to(self.backend(), &mut params, &company_param, *user, ticket_types, roles));
                }
                if let Some(windowed) = &windowed {
                    where_.push(windowed.condition(&format!("FROM tickets t WHERE {}", where_.join(" AND "))));
                }
                let indexed = plan.narrow.map_or(String::new(), |narrow| format!(" INDEXED BY {}", narrow.index()));
                format!(
                    "SELECT {columns} FROM tickets t{indexed} LEFT JOIN users u ON u.id = t.creator_id \
                     WHERE {} ORDER BY t.id DESC LIMIT {rows}",
                    where_.join(" AND ")
                )
            }
        };
        (sql, params)
    }

    /// The filter's conditions on tickets `t`, except the scope and the id
    /// bounds (the caller adds those on the ids it walks; a subquery that
    /// walks ticket ids in order is bounded by them too).
    fn filter_conditions(
        &self,
        params: &mut Params,
        company_param: &str,
        bounds: Bounds,
        filter: &TicketFilter,
        search: &SearchPlan,
    ) -> Vec<String> {
        let backend = self.backend();
        let mut where_ = Vec::new();
        if let Some(ticket_type) = &filter.ticket_type {
            where_.push(format!("t.ticket_type = {}", params.bind(text(ticket_type))));
        }
        if let Some(status) = &filter.status {
            let status = params.bind(text(status));
            where_.push(match backend {
                // No index of the tickets holds their status (so changing it
                // is a HOT update, migration 12); their instances' does, in
                // ticket order, which a deep page enters at `before`.
                DbBackend::Postgres => format!(
                    "t.id IN (SELECT i.ticket_id FROM instances i WHERE i.company_id = {company_param} \
                     AND i.status = {status}{})",
                    bounds.on("i.ticket_id").iter().map(|bound| format!(" AND {bound}")).collect::<String>()
                ),
                _ => format!("t.status = {status}"),
            });
        }
        if let Some(assignee) = filter.assignee {
            let user = params.bind(int(assignee.0));
            where_.push(format!(
                "t.id IN (SELECT i.ticket_id FROM task_runs r JOIN instances i ON i.id = r.instance_id \
                 WHERE r.assignee_id = {user} AND {} AND r.company_id = {company_param} \
                 AND i.company_id = {company_param})",
                is_open(backend, "r.status")
            ));
        }
        if let Some(from) = filter.created_from {
            where_.push(format!("t.created_at >= {}", params.bind(int(from))));
        }
        if let Some(to) = filter.created_to {
            where_.push(format!("t.created_at < {}", params.bind(int(to))));
        }
        where_.extend(search.conditions(backend, params, company_param));
        where_
    }

    /// The plan of a query, one line per step.
    pub(crate) async fn explain(&self, query: &str, params: Params) -> Result<Vec<String>> {
        let backend = self.backend();
        match backend {
            DbBackend::Postgres => {
                let rows = sql::all(self.db(), backend, &format!("EXPLAIN {query}"), params.0).await?;
                rows.iter().map(|r| Ok(r.try_get_by_index::<String>(0)?)).collect()
            }
            _ => {
                let rows = sql::all(self.db(), backend, &format!("EXPLAIN QUERY PLAN {query}"), params.0).await?;
                // Rows are (id, parent, notused, detail); indent each step under its parent.
                let mut depth: Vec<(i64, usize)> = Vec::new();
                rows.iter()
                    .map(|r| {
                        let id: i64 = r.try_get_by_index(0)?;
                        let parent: i64 = r.try_get_by_index(1)?;
                        let detail: String = r.try_get_by_index(3)?;
                        let level = depth.iter().find(|(node, _)| *node == parent).map_or(0, |(_, d)| d + 1);
                        depth.push((id, level));
                        Ok(format!("{}{detail}", "  ".repeat(level)))
                    })
                    .collect()
            }
        }
    }
}

/// The condition that `status`, a task run's status column, is one still to
/// be worked: OPEN, IN_PROGRESS or PENDING. The partial indexes of open runs
/// (`task_runs_pool`, `task_runs_assignee`) hold this condition written the
/// same way, so that queries with it can read them.
///
/// PostgreSQL tests a list. SQLite compares three times: it tests a list of
/// more than two values through a temporary B-tree of its own, built anew at
/// every evaluation, and each run the committer updates evaluates the indexes'
/// condition four times (the old row and the new, against both indexes), each
/// new run twice. On SQLite that was about a third of the committer's
/// instructions per completion (BENCHMARKS.md, session 17).
pub(crate) fn is_open(backend: DbBackend, status: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("{status} IN ('OPEN', 'IN_PROGRESS', 'PENDING')"),
        _ => format!("({status} = 'OPEN' OR {status} = 'IN_PROGRESS' OR {status} = 'PENDING')"),
    }
}

/// How one list is read (see [`Store::list_plan`]).
#[derive(Debug)]
struct ListPlan {
    search: SearchPlan,
    /// SQLite, a restricted list: the filter few tickets pass, read through its
    /// index with each ticket checked for visibility (as a ticket's page checks
    /// it) instead of one branch per way of seeing tickets. A branch of a role's
    /// runs would read every run of a large role for a status no ticket has
    /// (SQLite plans without knowing how rare a value is; PostgreSQL plans each
    /// list query with its values, so it never needs this).
    narrow: Option<Narrow>,
}

/// SQLite: below this many tickets passing a restricted list's status or type
/// filter, the list reads them through the filter's index and checks each
/// (1–4 µs a ticket at a million tickets, so at most 5–20 ms). Above it, a
/// role's branch walks its runs until the page is full, which is slow only
/// when the filter's many tickets are rarely that role's.
const FEW_FILTERED: i64 = 5000;

/// A filter of a ticket column with an index `(company_id, <column>, id)`.
#[derive(Debug, Clone, Copy)]
enum Narrow {
    Status,
    TicketType,
}

impl Narrow {
    fn column(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::TicketType => "ticket_type",
        }
    }

    fn index(self) -> &'static str {
        match self {
            Self::Status => "tickets_company_status",
            Self::TicketType => "tickets_company_type",
        }
    }
}

/// One branch of a restricted list: the newest `rows` ids of one way of seeing
/// tickets that pass the filters, below `before`.
struct Branch<'a> {
    company: &'a str,
    /// The filter's conditions on tickets `t`.
    filters: &'a [String],
    /// SQLite, a common search read in windows: its condition on `t`.
    windowed: Option<&'a WindowedSearch>,
    bounds: Bounds<'a>,
    rows: usize,
}

impl Branch<'_> {
    /// Tickets `t` matching `condition`, read backwards along an index ending in
    /// `id`: `(company_id, ticket_type, id)` or `(company_id, creator_id, id)`.
    fn tickets(&self, condition: &str) -> String {
        let mut where_ = vec![format!("t.company_id = {}", self.company), condition.to_owned()];
        where_.extend(self.filters.iter().cloned());
        where_.extend(self.bounds.on("t.id"));
        if let Some(windowed) = self.windowed {
            where_.push(windowed.condition(&format!("FROM tickets t WHERE {}", where_.join(" AND "))));
        }
        format!("SELECT t.id FROM tickets t WHERE {} ORDER BY t.id DESC LIMIT {}", where_.join(" AND "), self.rows)
    }

    /// Tickets the `grantee` placeholder may see through `ticket_access`,
    /// read backwards along its key `(company_id, grantee, ticket_id)`.
    fn access(&self, grantee: &str) -> String {
        self.ticket_ids("ticket_access a", "a", &format!("a.grantee = {grantee}"))
    }

    /// The newest ticket ids of the rows `alias` of `from` matching
    /// `condition`; the tickets are joined only when a filter needs their columns.
    fn ticket_ids(&self, from: &str, alias: &str, condition: &str) -> String {
        let ticket = format!("{alias}.ticket_id");
        let mut where_ = vec![format!("{alias}.company_id = {}", self.company), condition.to_owned()];
        match self.bounds.on(&ticket) {
            bounds if bounds.is_empty() => where_.push(format!("{ticket} IS NOT NULL")),
            bounds => where_.extend(bounds),
        }
        let join = if self.filters.is_empty() && self.windowed.is_none() {
            String::new()
        } else {
            where_.push(format!("t.company_id = {}", self.company));
            where_.extend(self.filters.iter().cloned());
            format!(" JOIN tickets t ON t.id = {ticket}")
        };
        if let Some(windowed) = self.windowed {
            where_.push(windowed.condition(&format!("FROM {from}{join} WHERE {}", where_.join(" AND "))));
        }
        format!(
            "SELECT {ticket} AS id FROM {from}{join} WHERE {} ORDER BY {ticket} DESC LIMIT {}",
            where_.join(" AND "),
            self.rows
        )
    }
}

/// A range of ticket ids `[start, end)`, newest first: one step of a search
/// read in windows (see `search.rs`).
#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    end: i64,
}

/// The placeholders of the bounds on the ticket ids a list query reads: below
/// `before` (the page's start, or a window's end), and from a window's `start`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bounds<'a> {
    before: Option<&'a str>,
    start: Option<&'a str>,
}

impl Bounds<'_> {
    /// The bounds as conditions on the ticket id `column`.
    pub(crate) fn on(&self, column: &str) -> Vec<String> {
        let mut conditions: Vec<String> = self.before.iter().map(|before| format!("{column} < {before}")).collect();
        conditions.extend(self.start.map(|start| format!("{column} >= {start}")));
        conditions
    }
}

/// The condition that a restricted scope (`user`, the types of their roles'
/// `role_access`, their roles) sees ticket `t`: its type and creator, then a
/// seek per grantee in `ticket_access (company_id, grantee, ticket_id)`.
fn visible_to(
    backend: DbBackend,
    params: &mut Params,
    company_param: &str,
    user: UserId,
    ticket_types: &[String],
    roles: &[String],
) -> String {
    let types = params.bind(sql::texts(ticket_types));
    let grantees = params.bind(sql::texts(&grantees(user, roles)));
    let user = params.bind(int(user.0));
    format!(
        "(t.ticket_type IN ({}) OR t.creator_id = {user} \
         OR EXISTS (SELECT 1 FROM ticket_access a WHERE a.company_id = {company_param} AND a.grantee IN ({}) \
         AND a.ticket_id = t.id))",
        sql::text_list(backend, &types),
        sql::text_list(backend, &grantees),
    )
}

/// The `ticket_access` grantee of a role: tickets with a run eligible to it.
pub(crate) fn role_grantee(role: &str) -> String {
    format!("role:{role}")
}

/// The `ticket_access` grantee of a user: tickets with a run they completed.
pub(crate) fn user_grantee(user: i64) -> String {
    format!("user:{user}")
}

/// The grantees a restricted scope sees tickets through: the user, then
/// each of their roles once.
fn grantees(user: UserId, roles: &[String]) -> Vec<String> {
    let roles = distinct(roles).into_iter().map(|role| role_grantee(role));
    std::iter::once(user_grantee(user.0)).chain(roles).collect()
}

/// The values of a list once each, in a stable order.
fn distinct(values: &[String]) -> Vec<&String> {
    let mut values: Vec<&String> = values.iter().collect();
    values.sort();
    values.dedup();
    values
}

fn page_size(limit: u32) -> u32 {
    limit.clamp(1, TicketFilter::MAX_LIMIT)
}
