//! Group commit for engine events.
//!
//! Callers send a [`Command`] and wait for its outcome. One task drains every
//! command waiting (up to the batch size), takes the instances involved from
//! the cache or loads them, decides each command in order with the pure engine
//! and writes all resulting rows at once: on SQLite one bulk statement per table
//! in one transaction, on PostgreSQL one call of the group-commit function
//! ([`postgres`]). The write checks every instance's revision; a batch that lost
//! a race with another writer is decided again. Only after the commit are the
//! callers answered, so an acknowledged completion is durable; a refused
//! command (an engine error) writes nothing and does not disturb the others in
//! its batch.

use crate::memo::Memo;
use crate::row;
use crate::sql::{self, Columns, JsonText, Kind, Row, int, text};
use crate::ticket_list::{self, is_open};
use crate::{CompanyId, InstanceId, Result, RunId, RunIds, Store, StoreError, TicketId, UserId, VersionId, now_millis};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use ticketflower_core::definition::{AssignPolicy, Definition};
use ticketflower_core::engine::{
    self, Assignment, Decision, Effect, Eligible, EngineError, Event, Instance, InstanceStatus, NewInstance, RunSeq,
    TaskRun, TaskStatus, WriteSource,
};
use tokio::sync::{mpsc, oneshot};

mod postgres;
mod sqlite;
pub(crate) use postgres::{Own, ensure_function};
pub(crate) use sqlite::Writer as SqliteWriter;

/// An engine event for the store to decide and persist.
#[derive(Debug, Clone)]
pub enum Command {
    /// Create a ticket of `ticket_type` (of the active version of `definition`) and start its instance.
    Start { company: CompanyId, definition: String, ticket_type: String, fields: Value, creator: Option<UserId> },
    /// Complete a task run with an output.
    Complete { company: CompanyId, run: RunId, output: Value, actor: Option<UserId> },
    /// Any other engine event on an instance (admin actions, data edits, timeouts).
    Apply { company: CompanyId, instance: InstanceId, event: Event, actor: Option<UserId> },
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    pub ticket: Option<TicketId>,
    pub instance: InstanceId,
    pub status: InstanceStatus,
    /// Task keys activated, in order.
    pub activated: Vec<String>,
    /// The ids of the runs activated, in the same order.
    pub new_runs: Vec<RunId>,
    /// Whom each run activated was assigned to, in the same order (`None`
    /// for a run in its role's pool, an automated step, or nobody found).
    pub assignees: Vec<Option<UserId>>,
    /// Messages of the errors the event raised (also stored as ticket errors).
    pub faults: Vec<String>,
}

pub(crate) struct Request {
    command: Command,
    reply: oneshot::Sender<Result<CommandOutcome>>,
}

/// The sending end of the committers' [`Queue`]. Several committers write in
/// parallel on PostgreSQL (each on its own connection); SQLite's two take
/// turns writing on one (one decides while the other writes). Two
/// commands on one instance that land in batches written at the same time are
/// kept apart by the revision check: the later batch is decided again.
pub(crate) struct Handle {
    sender: mpsc::UnboundedSender<Request>,
    /// Commands sent and not yet taken back by their callers (shared with the [`Queue`]).
    outstanding: Arc<AtomicUsize>,
    closing: Arc<Closing>,
}

impl Handle {
    /// Stops the committers once their batches are written, so that the
    /// connections they keep go back to the pool (which waits for them when
    /// it closes). Commands sent afterwards are answered `Closed`.
    pub(crate) fn close(&self) {
        self.closing.closed.store(true, Ordering::Release);
        self.closing.told.notify_waiters();
    }
}

/// Set once the store closes; the committers waiting for commands are told.
#[derive(Default)]
struct Closing {
    closed: std::sync::atomic::AtomicBool,
    told: tokio::sync::Notify,
}

/// The receiving end, shared by the committers: the one holding the lock
/// waits for the next commands, the others are writing.
pub(crate) struct Queue {
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<Request>>,
    /// Batches being written right now.
    writing: AtomicUsize,
    /// Commands sent and not yet taken back by their callers: waiting, in a
    /// batch, or answered with the caller not yet resumed (about as many as
    /// there are callers, when each waits for its outcome before sending again).
    outstanding: Arc<AtomicUsize>,
    /// Told each time a committer has written its batch (to the one gathering, if any).
    written: tokio::sync::Notify,
    /// How many batches should be in flight under load (see [`share_floor`]).
    in_flight: usize,
    closing: Arc<Closing>,
}

/// A batch's fixed cost (a transaction, a log flush, a round trip: on
/// PostgreSQL about 380 µs of server CPU, against some 80 µs per command) is
/// spread thin below this many commands.
const FULL_BATCH: usize = 16;

/// The least a batch holds under load, given the commands outstanding
/// (waiting, in a batch, or answered with the caller not yet resumed — about
/// one per client): half of them, up to [`FULL_BATCH`], so that two batches
/// are in flight (one written while the next gathers); on PostgreSQL
/// (`in_flight` 3) a third of them once that is more, so that three are (one
/// being decided, one executed by the database, one waiting for its log
/// flush). SQLite's writes take turns on one connection, so there two are (one
/// decided while the other is written): half of them. A free committer with fewer
/// waiting gathers while other batches are written, so the callers do not
/// split into thinner batches. Measured on PostgreSQL (BENCHMARKS.md, session
/// 12): 16 clients did best with two batches of 8 (one batch of 16 left half
/// the machine idle), 32 with two of 16 (three of 11 cost a fifth more CPU per
/// completion), 64 with three of 21 (two of 32 left a third idle).
fn share_floor(outstanding: usize, in_flight: usize) -> usize {
    (outstanding / in_flight.max(2)).max((outstanding / 2).min(FULL_BATCH))
}

pub(crate) fn queue(in_flight: usize) -> (Handle, Arc<Queue>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let outstanding = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(Closing::default());
    let queue = Queue {
        receiver: tokio::sync::Mutex::new(receiver),
        writing: AtomicUsize::new(0),
        outstanding: outstanding.clone(),
        written: tokio::sync::Notify::new(),
        in_flight,
        closing: closing.clone(),
    };
    (Handle { sender, outstanding, closing }, Arc::new(queue))
}

/// A batch being written: counted while it lives, and the gathering committer
/// told when it ends (however it ends, so a lost batch cannot keep others waiting).
struct Writing<'a>(&'a Queue);

impl<'a> Writing<'a> {
    fn start(queue: &'a Queue) -> Self {
        queue.writing.fetch_add(1, Ordering::AcqRel);
        Self(queue)
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.writing.fetch_sub(1, Ordering::AcqRel);
        self.0.written.notify_waiters();
    }
}

/// A command counted as outstanding until its caller has its outcome (or gives up waiting).
struct Outstanding<'a>(&'a AtomicUsize);

impl<'a> Outstanding<'a> {
    fn count(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts one of `committers` committers on the queue.
pub(crate) fn spawn(store: Store, queue: Arc<Queue>, batch_size: usize, committers: usize, mut own: Own) {
    // The task holds a weak reference so dropping every Store closes the channel.
    let weak = Arc::downgrade(&store.inner);
    drop(store);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(batch_size);
        loop {
            // Registered before the check, so a close in between still ends the wait.
            let closing = queue.closing.told.notified();
            tokio::pin!(closing);
            closing.as_mut().enable();
            if queue.closing.closed.load(Ordering::Acquire) {
                break;
            }
            let writing = {
                let mut receiver = tokio::select! {
                    () = &mut closing => break,
                    receiver = queue.receiver.lock() => receiver,
                };
                let received = tokio::select! {
                    () = &mut closing => break,
                    received = receiver.recv_many(&mut batch, 1) => received,
                };
                if received == 0 {
                    break;
                }
                // Gather while other batches are written and fewer commands wait
                // than a batch should hold (those that arrive meanwhile join it,
                // such as the callers of a batch just written sending again).
                let mut floor = share_floor(queue.outstanding.load(Ordering::Acquire), queue.in_flight);
                while batch.len() < batch_size && batch.len() + receiver.len() < floor {
                    // Registered before the check, so a batch written in between still wakes it.
                    let written = queue.written.notified();
                    tokio::pin!(written);
                    written.as_mut().enable();
                    if queue.writing.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    tokio::select! {
                        () = &mut written => {}
                        received = receiver.recv_many(&mut batch, 1) => if received == 0 { break },
                    }
                    floor = share_floor(queue.outstanding.load(Ordering::Acquire), queue.in_flight);
                }
                // Then what waits: all of it when little does, otherwise a fair
                // share, so that under load the committers write batches of
                // about the same size side by side instead of one taking
                // everything while the others idle — but never thinner than
                // the floor.
                let waiting = receiver.len();
                let total = batch.len() + waiting;
                let wanted = if total < floor { total } else { total.div_ceil(committers).max(floor) };
                let more = wanted.min(batch_size).saturating_sub(batch.len());
                if more > 0 {
                    receiver.recv_many(&mut batch, more).await;
                }
                // Counted before the lock is released, so the next committer sees it.
                Writing::start(&queue)
            };
            let Some(inner) = weak.upgrade() else { break };
            let store = Store { inner };
            let requests = std::mem::take(&mut batch);
            store.commit_batch(requests, &mut own).await;
            drop(writing);
        }
    });
}

impl Store {
    /// Decides and persists one command; returns after it is committed.
    pub async fn execute(&self, command: Command) -> Result<CommandOutcome> {
        let (reply, answer) = oneshot::channel();
        let _outstanding = Outstanding::count(&self.inner.committer.outstanding);
        self.inner.committer.sender.send(Request { command, reply }).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn commit_batch(&self, requests: Vec<Request>, own: &mut Own) {
        let started = std::time::Instant::now();
        let mut attempt = 1;
        let outcome = loop {
            match self.try_batch(&requests, own).await {
                // Another committer or node changed one of the batch's instances
                // since it was read: decide the batch again on fresh state.
                Err(error) if is_conflict(&error) && attempt < ATTEMPTS => {
                    tracing::debug!(%error, attempt, "group commit conflict; deciding the batch again");
                    attempt += 1;
                }
                other => break other,
            }
        };
        tracing::debug!(size = requests.len(), attempt, micros = started.elapsed().as_micros() as u64, "group commit");
        match outcome {
            Ok(results) => {
                for (request, result) in requests.into_iter().zip(results) {
                    let _ = request.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, size = requests.len(), "group commit failed; every command in the batch is refused");
                let message = error.to_string();
                let conflict = is_conflict(&error);
                for request in requests {
                    let refusal = match &error {
                        StoreError::Conflict(reason) => StoreError::Conflict(reason.clone()),
                        _ if conflict => StoreError::Conflict(CHANGED_ELSEWHERE.into()),
                        _ => StoreError::Unavailable(message.clone()),
                    };
                    let _ = request.reply.send(Err(refusal));
                }
            }
        }
    }

    /// Decides and writes one batch. The reads are single statements outside
    /// any transaction (most batches read nothing: instances and runs come from
    /// the cache); the write checks each instance's revision and is one
    /// transaction: on PostgreSQL one call of the group-commit function (one
    /// round trip however many commands), on SQLite one blocking call on the
    /// committer's own connection ([`sqlite`]).
    async fn try_batch(&self, requests: &[Request], own: &mut Own) -> Result<Vec<Result<CommandOutcome>>> {
        let now = now_millis();
        // Dealt runs count as open until the batch ends, however it ends.
        let mut deals = Deals { store: self, dealt: Vec::new() };
        let mut decided = self.decide_batch(self.db(), requests, now, &mut deals).await?;
        let rows = std::mem::take(&mut decided.rows);
        let opened = rows.assigned_open_runs();
        let written = match &self.inner.sqlite {
            None => rows.write_postgres(self.db(), own, &decided.loaded, now).await,
            Some(writer) => rows.write_sqlite(self, writer, &decided.loaded, decided.first_ids, now).await,
        };
        let (created, closed) = match written {
            Err(error) if is_conflict(&error) => {
                // Another writer may have taken ids this node counts on (SQLite).
                self.cache()?.sqlite_ids_taken = true;
                return Err(error);
            }
            other => other?,
        };
        self.remember(decided.loaded.into_iter().chain(decided.started), &created);
        deals.commit(&opened, &closed)?;
        for run in created {
            if let Some(Ok(outcome)) = decided.results.get_mut(run.request) {
                outcome.new_runs.push(run.id);
                outcome.assignees.push(run.assignee);
            }
        }
        Ok(decided.results)
    }

    /// Reads what the batch needs (from the cache where it can), decides every
    /// command in order and collects the rows to write.
    async fn decide_batch(
        &self,
        db: &impl ConnectionTrait,
        requests: &[Request],
        now: i64,
        deals: &mut Deals<'_>,
    ) -> Result<Decided> {
        let backend = self.backend();
        // Every query below is limited to the companies of the batch's commands;
        // each row is then checked against its own command's company.
        let mut companies: Vec<i64> = requests
            .iter()
            .map(|r| match &r.command {
                Command::Start { company, .. } | Command::Complete { company, .. } | Command::Apply { company, .. } => {
                    company.0
                }
            })
            .collect();
        companies.sort_unstable();
        companies.dedup();
        let run_ids: Vec<i64> = requests
            .iter()
            .filter_map(|r| match &r.command {
                Command::Complete { run, .. } => Some(run.0),
                _ => None,
            })
            .collect();
        let runs_by_id = self.resolve_runs(db, &companies, &run_ids).await?;
        let mut instance_ids: Vec<i64> = requests
            .iter()
            .filter_map(|r| match &r.command {
                Command::Complete { run, .. } => runs_by_id.get(&run.0).map(|(_, instance, _)| instance.0),
                Command::Apply { instance, .. } => Some(instance.0),
                Command::Start { .. } => None,
            })
            .collect();
        instance_ids.sort_unstable();
        instance_ids.dedup();
        let mut loaded = self.load_instances(db, &companies, &instance_ids).await?;
        let starts = requests.iter().filter(|r| matches!(r.command, Command::Start { .. })).count();
        let mut ids = Ids::reserve(self, db, backend, starts).await?;
        let first_ids = ids.first();

        let mut rows = Rows { run_ids: self.run_ids(), ..Rows::default() };
        let mut started: Vec<(InstanceId, Loaded)> = Vec::new();
        let mut results = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            rows.request = index;
            let result = match &request.command {
                Command::Start { company, definition, ticket_type, fields, creator } => {
                    self.start_ticket(
                        db,
                        &mut rows,
                        &mut ids,
                        &mut started,
                        *company,
                        definition,
                        ticket_type,
                        fields,
                        *creator,
                        now,
                    )
                    .await
                }
                Command::Complete { company, run, output, actor } => match runs_by_id.get(&run.0) {
                    Some((owner, instance, seq)) if owner == company => {
                        let event = Event::Complete { seq: *seq, output: output.clone() };
                        self.decide_loaded(&mut loaded, &mut rows, *company, *instance, &event, *actor, now).await
                    }
                    _ => Err(StoreError::NotFound("task")),
                },
                Command::Apply { company, instance, event, actor } => {
                    self.decide_loaded(&mut loaded, &mut rows, *company, *instance, event, *actor, now).await
                }
            };
            // A database error leaves the transaction unusable (and may have written
            // part of this command): the whole batch is refused and rolled back.
            let result = match result {
                Err(error @ (StoreError::Database(_) | StoreError::Corrupt(_))) => return Err(error),
                other => other,
            };
            results.push(result);
        }
        rows.resolve_assignees(self, db, deals).await?;
        rows.grant_assignees(&mut loaded, &mut started);
        Ok(Decided { rows, loaded, started, results, first_ids })
    }

    /// Which company, instance and seq each run id is: from the cache, the rest in one query.
    async fn resolve_runs(
        &self,
        db: &impl ConnectionTrait,
        companies: &[i64],
        run_ids: &[i64],
    ) -> Result<HashMap<i64, (CompanyId, InstanceId, RunSeq)>> {
        let mut found = HashMap::with_capacity(run_ids.len());
        let mut missing = Vec::new();
        {
            let cache = self.cache()?;
            for id in run_ids {
                match cache.runs.get(id) {
                    Some(run) => {
                        found.insert(*id, *run);
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let backend = self.backend();
        let rows = sql::all(
            db,
            backend,
            &format!(
                "SELECT id, company_id, instance_id, seq FROM task_runs WHERE company_id IN ({}) AND id IN ({})",
                sql::id_list(backend, "$1"),
                sql::id_list(backend, "$2")
            ),
            vec![sql::ids(companies), sql::ids(&missing)],
        )
        .await?;
        let mut cache = self.cache()?;
        let mut aged = Vec::new();
        for row in rows {
            let seq: i64 = row.try_get_by_index(3)?;
            let run = (
                CompanyId(row.try_get_by_index(1)?),
                InstanceId(row.try_get_by_index(2)?),
                RunSeq::try_from(seq).unwrap_or(RunSeq::MAX),
            );
            let id: i64 = row.try_get_by_index(0)?;
            aged.extend(cache.runs.insert(id, run));
            found.insert(id, run);
        }
        drop(cache);
        drop(aged);
        Ok(found)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, Cache>> {
        self.inner.cache.lock().map_err(|_| StoreError::Corrupt("instance cache poisoned".into()))
    }

    /// The batch's instances with their runs: taken out of the cache (the batch
    /// owns them until it commits), the rest loaded. Nothing is locked: the write
    /// checks each instance's revision and refuses the batch if another
    /// committer or node wrote the instance since (then the batch is decided again).
    async fn load_instances(
        &self,
        db: &impl ConnectionTrait,
        companies: &[i64],
        ids: &[i64],
    ) -> Result<HashMap<InstanceId, Loaded>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let mut cache = self.cache()?;
            for id in ids {
                match cache.instances.remove(&InstanceId(*id)) {
                    Some(cached) => {
                        out.insert(InstanceId(*id), cached);
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let backend = self.backend();
        let ids = missing.as_slice();
        // The instance is read before its runs: a write in between gives runs newer
        // than the revision read, and the batch's revision check then refuses it.
        let instance_rows = sql::all(
            db,
            backend,
            &format!(
                "SELECT i.id, i.company_id, i.definition_version_id, i.status, i.data, i.ticket, i.meta, i.arrivals, i.initiator, \
                 i.revision, i.ticket_id, COALESCE(t.title, '') \
                 FROM instances i LEFT JOIN tickets t ON t.id = i.ticket_id \
                 WHERE i.company_id IN ({}) AND i.id IN ({}) ORDER BY i.id",
                sql::id_list(backend, "$1"),
                sql::id_list(backend, "$2")
            ),
            vec![sql::ids(companies), sql::ids(ids)],
        )
        .await?;
        let columns =
            "t.instance_id, t.seq, t.task_key, t.status, t.run, t.input, t.output, t.assignment, t.due_at, t.overdue";
        // Each instance's runs are a range of the key from its first run id on.
        let last = RunIds::RUNS_PER_INSTANCE - 1;
        let firsts: Vec<i64> = ids.iter().map(|id| self.run_ids().range(InstanceId(*id)).0).collect();
        let runs_sql = match backend {
            // LATERAL makes PostgreSQL look each range up in the key, whatever
            // its statistics say; with stale statistics after a burst of new
            // instances, an `IN` form was planned as a sequential scan.
            DbBackend::Postgres => format!(
                "SELECT {columns} FROM jsonb_array_elements_text($2::jsonb) AS f(value) \
                 CROSS JOIN LATERAL (SELECT * FROM task_runs \
                 WHERE id BETWEEN (f.value)::bigint AND (f.value)::bigint + {last}) AS t \
                 WHERE t.company_id IN ({}) ORDER BY 1, 2",
                sql::id_list(backend, "$1")
            ),
            _ => format!(
                "SELECT {columns} FROM json_each($2) AS f JOIN task_runs t ON t.id BETWEEN f.value AND f.value + {last} \
                 WHERE t.company_id IN ({}) ORDER BY 1, 2",
                sql::id_list(backend, "$1"),
            ),
        };
        let run_rows = sql::all(db, backend, &runs_sql, vec![sql::ids(companies), sql::ids(&firsts)]).await?;
        let mut runs_by_instance: HashMap<i64, Vec<&QueryResult>> = HashMap::new();
        for row in &run_rows {
            runs_by_instance.entry(row.try_get_by_index(0)?).or_default().push(row);
        }
        for row in &instance_rows {
            let id: i64 = row.try_get_by_index(0)?;
            let company = CompanyId(row.try_get_by_index(1)?);
            let version = VersionId(row.try_get_by_index(2)?);
            let definition = self.definition(company, version).await?;
            let status = parse_status(&row.try_get_by_index::<String>(3)?)?;
            let arrivals: BTreeMap<String, Vec<String>> = sql::json_at(row, 7)?;
            let mut instance = Instance {
                status,
                data: sql::json_at(row, 4)?,
                ticket: sql::json_at(row, 5)?,
                meta: sql::json_at(row, 6)?,
                initiator: row.try_get_by_index(8)?,
                runs: Vec::new(),
                arrivals: Vec::new(),
            };
            instance.set_arrivals_by_key(&definition, &arrivals);
            for run_row in runs_by_instance.get(&id).map(Vec::as_slice).unwrap_or_default() {
                instance.runs.push(decode_run(&definition, run_row)?);
            }
            let revision: i64 = row.try_get_by_index(9)?;
            let ticket: Option<i64> = row.try_get_by_index(10)?;
            let owner = RunOwner { ticket: ticket.map(TicketId), title: row.try_get_by_index(11)?, version };
            out.insert(
                InstanceId(id),
                Loaded {
                    company,
                    definition,
                    instance,
                    revision,
                    new_revision: revision,
                    owner,
                    granted: Vec::new(),
                    dirty: false,
                },
            );
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide_loaded(
        &self,
        loaded: &mut HashMap<InstanceId, Loaded>,
        rows: &mut Rows,
        company: CompanyId,
        instance_id: InstanceId,
        event: &Event,
        actor: Option<UserId>,
        now: i64,
    ) -> Result<CommandOutcome> {
        let entry = loaded
            .get_mut(&instance_id)
            .filter(|l| l.company == company)
            .ok_or(StoreError::NotFound("workflow instance"))?;
        let decision = engine::decide(&entry.definition, &entry.instance, event, now)?;
        RunIds::check(&decision)?;
        entry.new_revision += 1;
        entry.dirty = true;
        let status = decision.status.unwrap_or(entry.instance.status);
        let outcome = outcome(&entry.definition, entry.owner.ticket, instance_id, status, &decision);
        // Rows are recorded from the state before the decision (runs it updates
        // already exist there); then the decision's values move into the state.
        rows.record(
            company,
            instance_id,
            &entry.owner,
            &mut entry.granted,
            &entry.definition,
            &entry.instance,
            &decision,
            actor,
            entry.new_revision,
            AuditEvent::of(event),
            now,
        );
        entry.instance.apply_owned(decision);
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_ticket(
        &self,
        tx: &impl ConnectionTrait,
        rows: &mut Rows,
        ids: &mut Ids,
        started: &mut Vec<(InstanceId, Loaded)>,
        company: CompanyId,
        definition_key: &str,
        ticket_type: &str,
        fields: &Value,
        creator: Option<UserId>,
        now: i64,
    ) -> Result<CommandOutcome> {
        // Both answered from memory in steady state (the active version for
        // `ACTIVE_VERSION_TTL`, compiled definitions for good).
        let version = self.active_version(company, definition_key).await?;
        let definition = self.definition(company, version).await?;
        let ticket_def = definition.ticket_type(ticket_type).ok_or(StoreError::NotFound("ticket type"))?;
        ticket_def
            .fields
            .validate(fields)
            .map_err(|problems| StoreError::Engine(EngineError::InvalidTicket(problems)))?;
        let creator_email = match creator {
            Some(user) => self.email_of(tx, company, user).await?,
            None => None,
        };
        let title = ["title", "subject", "name"]
            .iter()
            .find_map(|k| fields.get(*k).and_then(Value::as_str))
            .map(|t| t.chars().take(200).collect::<String>())
            .unwrap_or_else(|| ticket_def.title.clone());
        let (ticket_id, instance_id) = ids.next()?;
        let meta = json!({"definition": definition.key, "version_id": version.0, "ticket_id": ticket_id.0});
        let new = NewInstance {
            ticket_type: Some(ticket_type),
            submitted: fields.clone(),
            ticket_id: json!(ticket_id.0),
            creator: creator_email,
            meta,
        };
        // The ticket was validated above, so a refusal here is a fault of ours.
        let (instance, decision) = engine::start(&definition, new, now)
            .map_err(|error| StoreError::Corrupt(format!("a validated ticket could not start: {error}")))?;
        // The ticket is written with the status its workflow reached at once.
        rows.new_tickets.insert(ticket_id.0, rows.tickets.len());
        rows.tickets.push(row! { TICKET_INSERT;
            "id": ticket_id.0, "company_id": company.0, "ticket_type": ticket_type, "definition_version_id": version.0,
            "title": title.as_str(), "fields": fields, "status": instance.status.as_str(),
            "creator_id": creator.map(|c| c.0), "created_at": now, "updated_at": now,
        });
        rows.instances.push(row! { INSTANCE_INSERT;
            "id": instance_id.0, "company_id": company.0, "ticket_id": ticket_id.0, "definition_version_id": version.0,
            "status": instance.status.as_str(), "data": &instance.data, "ticket": &instance.ticket,
            "meta": &instance.meta, "arrivals": json_text(&instance.arrivals_by_key(&definition)),
            "initiator": instance.initiator.as_deref(), "revision": 1_i64, "created_at": now, "updated_at": now,
        });
        let outcome = outcome(&definition, Some(ticket_id), instance_id, instance.status, &decision);
        let event =
            AuditEvent { kind: "ticket_created", detail: json!({"ticket_type": ticket_type, "version_id": version.0}) };
        let owner = RunOwner { ticket: Some(ticket_id), version, title };
        let mut granted = Vec::new();
        rows.record(
            company,
            instance_id,
            &owner,
            &mut granted,
            &definition,
            &instance,
            &decision,
            creator,
            1,
            event,
            now,
        );
        started.push((
            instance_id,
            Loaded { company, definition, instance, revision: 1, new_revision: 1, owner, granted, dirty: false },
        ));
        Ok(outcome)
    }
}

/// What the callers of a batch hear when another writer kept changing its instances.
const CHANGED_ELSEWHERE: &str = "another node changed one of these workflows at the same time; try again";

/// Most instances kept decided in memory between batches.
const CACHED_INSTANCES: usize = 100_000;
/// Most run ids remembered with their instance.
const CACHED_RUNS: usize = 400_000;
/// Times a batch is decided before a conflict is handed to its callers.
const ATTEMPTS: u32 = 4;

/// What the committers keep between batches.
pub(crate) struct Cache {
    /// Instances as last committed, with their revision. A batch takes the
    /// entries it works on out and puts them back after its commit.
    instances: Memo<InstanceId, Loaded>,
    /// The company, instance and seq of each run id: facts that never change,
    /// so an entry is never stale.
    runs: Memo<i64, (CompanyId, InstanceId, RunSeq)>,
    /// Each user's email (an account's email never changes).
    emails: Memo<(CompanyId, UserId), String>,
    /// The user with each email (only users found: one may be added later).
    users: Memo<(CompanyId, String), i64>,
    /// When each user last had a `round_robin` turn: first the id of their
    /// latest run (read once), then a mark past every other member's of the
    /// role each time a batch deals them a run. Kept here, not counted from
    /// the runs at each batch: that query walks the runs newest first until it
    /// meets one of the user's (59 ms at 40,000 runs on PostgreSQL); and
    /// committers deciding batches side by side share one rotation.
    turns: Memo<(CompanyId, i64), i64>,
    /// Each user's open assigned runs, for `least_loaded`: as counted at the
    /// instant kept with it, then moved by every batch this store commits
    /// (runs assigned, assigned runs closed); a claim or release through this
    /// store drops the entry. Counted again after [`LOADS_TTL`], so changes
    /// made by other nodes show within it. (Counted at each batch before, the
    /// query cost PostgreSQL a tenth of its completions in the benchmark.)
    loads: Memo<(CompanyId, i64), (std::time::Instant, i64)>,
    /// Runs dealt to each user by `least_loaded` in batches not yet
    /// committed (see [`Deals`]): counted with [`Cache::loads`], so that
    /// committers deciding batches side by side deal in turn too.
    dealt: HashMap<(CompanyId, i64), i64>,
    /// The members of each company role `round_robin` deals to, and when they
    /// were read: changes made through this store clear them at once, those
    /// of other nodes show within [`ROLE_MEMBERS_TTL`].
    role_members: HashMap<(CompanyId, String), RoleMembers>,
    /// (ticket, instance) ids taken from the sequences for coming batches, and
    /// when; PostgreSQL only. They are used within [`RESERVED_IDS_TTL`] or
    /// dropped, so tickets of two nodes stay in creation order within it.
    reserved: std::collections::VecDeque<(i64, i64)>,
    reserved_at: Option<std::time::Instant>,
    /// The next (ticket, instance) ids on SQLite, counted from the maxima read
    /// once; each write checks that nobody else took them.
    sqlite_next_ids: Option<(i64, i64)>,
    /// Set when a write found its ids taken: the maxima are read again, and
    /// counting goes on above both them and the ids this node's other
    /// committer holds.
    sqlite_ids_taken: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            instances: Memo::new(CACHED_INSTANCES),
            runs: Memo::new(CACHED_RUNS),
            emails: Memo::new(CACHED_PEOPLE),
            users: Memo::new(CACHED_PEOPLE),
            turns: Memo::new(CACHED_PEOPLE),
            loads: Memo::new(CACHED_PEOPLE),
            dealt: HashMap::new(),
            role_members: HashMap::new(),
            reserved: Default::default(),
            reserved_at: None,
            sqlite_next_ids: None,
            sqlite_ids_taken: false,
        }
    }
}

/// Ids a PostgreSQL committer takes from the sequences at once while tickets
/// keep coming.
const RESERVED_IDS: usize = 32;
/// How long reserved ids are kept for coming batches.
const RESERVED_IDS_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Most emails and users remembered.
const CACHED_PEOPLE: usize = 100_000;
/// A role's members (user ids), and when they were read.
type RoleMembers = (std::time::Instant, Arc<[i64]>);

/// Most roles whose members are remembered.
const CACHED_ROLES: usize = 10_000;
/// How long a role's members are dealt turns without reading them again.
const ROLE_MEMBERS_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a user's open runs are counted in memory before they are read again.
const LOADS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Store {
    /// A user's email, remembered once read.
    async fn email_of(&self, db: &impl ConnectionTrait, company: CompanyId, user: UserId) -> Result<Option<String>> {
        if let Some(email) = self.cache()?.emails.get(&(company, user)) {
            return Ok(Some(email.clone()));
        }
        let email = sql::one(
            db,
            self.backend(),
            "SELECT email FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?;
        if let Some(email) = &email {
            let aged = self.cache()?.emails.insert((company, user), email.clone());
            drop(aged);
        }
        Ok(email)
    }

    /// The user with an email (lower case), remembered once found.
    async fn user_with_email(&self, db: &impl ConnectionTrait, company: CompanyId, email: &str) -> Result<Option<i64>> {
        let key = (company, email.to_owned());
        if let Some(user) = self.cache()?.users.get(&key) {
            return Ok(Some(*user));
        }
        let found = sql::one(
            db,
            self.backend(),
            "SELECT id FROM users WHERE company_id = $1 AND email = $2",
            vec![int(company.0), text(email)],
        )
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?;
        if let Some(user) = found {
            let aged = self.cache()?.users.insert(key, user);
            drop(aged);
        }
        Ok(found)
    }
}

/// A batch decided and not yet written.
struct Decided {
    rows: Rows,
    loaded: HashMap<InstanceId, Loaded>,
    started: Vec<(InstanceId, Loaded)>,
    results: Vec<Result<CommandOutcome>>,
    /// The first (ticket, instance) ids reserved for the batch's new tickets.
    first_ids: Option<(i64, i64)>,
}

/// A run the batch inserted.
struct CreatedRun {
    /// Which command of the batch activated it.
    request: usize,
    id: RunId,
    company: CompanyId,
    instance: InstanceId,
    seq: RunSeq,
    assignee: Option<UserId>,
}

/// Whether a batch failed because another writer changed its instances first
/// (the revision check, or PostgreSQL's serialization failure and deadlock codes).
fn is_conflict(error: &StoreError) -> bool {
    match error {
        StoreError::Conflict(_) => true,
        StoreError::Database(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)))
        | StoreError::Database(sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))) => {
            let code = e.as_database_error().and_then(|d| d.code());
            matches!(code.as_deref(), Some("40001" | "40P01"))
        }
        _ => false,
    }
}

impl Store {
    /// Keeps committed instances for the next batch (final ones are dropped),
    /// and the new runs' instances.
    fn remember(&self, entries: impl Iterator<Item = (InstanceId, Loaded)>, created: &[CreatedRun]) {
        let Ok(mut cache) = self.inner.cache.lock() else { return };
        // Generations that aged out are dropped after the lock is let go.
        let mut aged_instances = Vec::new();
        let mut aged_runs = Vec::new();
        for (id, mut entry) in entries {
            if entry.instance.status.is_final() {
                continue;
            }
            entry.revision = entry.new_revision;
            entry.dirty = false;
            aged_instances.extend(cache.instances.insert(id, entry));
        }
        for run in created {
            aged_runs.extend(cache.runs.insert(run.id.0, (run.company, run.instance, run.seq)));
        }
        drop(cache);
    }
}

fn outcome(
    definition: &Definition,
    ticket: Option<TicketId>,
    instance_id: InstanceId,
    status: InstanceStatus,
    decision: &Decision,
) -> CommandOutcome {
    CommandOutcome {
        ticket,
        instance: instance_id,
        status,
        activated: decision.new_runs.iter().map(|r| definition.tasks[r.task].key.clone()).collect(),
        new_runs: Vec::new(),
        assignees: Vec::new(),
        faults: decision.faults.iter().map(|f| f.message.clone()).collect(),
    }
}

/// One field a write changed, as an audit event's `data_changes` hold it.
#[derive(serde::Serialize)]
struct FieldChange<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    old: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<&'a Value>,
}

/// A typed value's JSON text for a row (never fails for the engine's maps and
/// assignments; if it did, the cell would be left empty).
fn json_text(value: &impl serde::Serialize) -> Option<JsonText> {
    serde_json::to_string(value).ok().map(JsonText)
}

fn parse_status(text: &str) -> Result<InstanceStatus> {
    InstanceStatus::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown instance status {text}")))
}

fn decode_run(definition: &Definition, row: &QueryResult) -> Result<TaskRun> {
    let key: String = row.try_get_by_index(2)?;
    let task = definition.task_index(&key).ok_or_else(|| StoreError::Corrupt(format!("run of unknown task {key}")))?;
    let status: String = row.try_get_by_index(3)?;
    let assignment: Option<Value> = sql::json_opt_at(row, 7)?;
    Ok(TaskRun {
        seq: RunSeq::try_from(row.try_get_by_index::<i64>(1)?).unwrap_or(RunSeq::MAX),
        task,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task status {status}")))?,
        run: u32::try_from(row.try_get_by_index::<i64>(4)?).unwrap_or(u32::MAX),
        input: sql::json_at(row, 5)?,
        output: sql::json_opt_at(row, 6)?,
        assignment: assignment.and_then(|a| serde_json::from_value::<Assignment>(a).ok()),
        due_at: row.try_get_by_index(8)?,
        overdue: row.try_get_by_index::<i64>(9)? != 0,
    })
}

/// The command behind an audit event.
struct AuditEvent {
    kind: &'static str,
    /// An object; the state changes are added under `changes`.
    detail: Value,
}

impl AuditEvent {
    fn of(event: &Event) -> Self {
        let (kind, detail) = match event {
            Event::Start { .. } => ("instance_started", json!({})),
            Event::Complete { seq, .. } => ("task_completed", json!({"seq": seq})),
            Event::Fail { seq, message } => ("task_failed", json!({"seq": seq, "message": message})),
            Event::Timeout { seq } => ("task_timed_out", json!({"seq": seq})),
            Event::UpdateData { values } => {
                ("data_updated", json!({"fields": values.iter().map(|(path, _)| path.as_str()).collect::<Vec<_>>()}))
            }
            Event::Activate { task } => ("task_activated_by_hand", json!({"task": task})),
            Event::SetStatus { status } => ("status_set_by_hand", json!({"status": status.as_str()})),
            Event::Cancel => ("instance_cancelled", json!({})),
            Event::Hold => ("instance_held", json!({})),
            Event::Resume => ("instance_resumed", json!({})),
        };
        Self { kind, detail }
    }
}

/// An audit event's detail as written: the event's own fields, then the
/// state changes it caused. Serialized straight to text, as
/// `{…event, "changes": [{"change": "task_status", …}, …]}`.
#[derive(serde::Serialize)]
struct AuditDetail<'a> {
    /// An object: its fields come first.
    #[serde(flatten)]
    event: &'a Value,
    changes: &'a [Change<'a>],
}

/// One state change listed in an audit event (`change` names its kind).
#[derive(serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
enum Change<'a> {
    TaskStatus { seq: RunSeq, task: &'a str, status: &'a str },
    TaskActivated { seq: RunSeq, task: &'a str, run: u32, status: &'a str },
    ErrorRaised { kind: &'a str, message: &'a str },
    InstanceStatus { status: &'a str },
}

/// One loaded instance within a batch (and, between batches, in the cache).
pub(crate) struct Loaded {
    company: CompanyId,
    definition: Arc<Definition>,
    instance: Instance,
    revision: i64,
    new_revision: i64,
    owner: RunOwner,
    /// The grantees of [`ticket_access`](crate::ticket_list) rows this instance
    /// has written since it was loaded or started: each pair is sent once.
    granted: Vec<String>,
    dirty: bool,
}

/// What each run of an instance carries besides its own state, so that the
/// inbox reads a page of runs without joining their instances and tickets:
/// the ticket, its title and the definition version. None of them ever
/// changes for an instance.
pub(crate) struct RunOwner {
    ticket: Option<TicketId>,
    version: VersionId,
    title: String,
}

/// A new run waiting for its assignee to be resolved.
struct PendingRun {
    /// Which command of the batch activated it.
    request: usize,
    company: CompanyId,
    row: Row,
    assignment: Option<Assignment>,
}

/// Rows a batch writes, as JSON rows, so each table gets one bulk statement.
#[derive(Default)]
struct Rows {
    /// The store's (set where a batch starts; the default's base, 0, is
    /// only a new database's).
    run_ids: RunIds,
    /// The command being recorded.
    request: usize,
    /// Changes to existing runs, one row per run with its last state.
    run_updates: Vec<Row>,
    /// Where each run's row is in `run_updates`, by (instance, seq).
    updated: HashMap<(i64, i64), usize>,
    new_runs: Vec<PendingRun>,
    /// Where each new run is in `new_runs`, by (instance, seq).
    inserted: HashMap<(i64, i64), usize>,
    audit: Vec<Row>,
    errors: Vec<Row>,
    jobs: Vec<Row>,
    /// New `ticket_access` pairs (a pair already there is left as it is).
    access: Vec<Row>,
    /// New tickets and their instances, with ids taken from [`Ids`].
    tickets: Vec<Row>,
    /// Where each new ticket is in `tickets`, by id.
    new_tickets: HashMap<i64, usize>,
    instances: Vec<Row>,
    ticket_status: Vec<(CompanyId, TicketId, InstanceStatus)>,
}

/// Adds the `ticket_access` pair of `grantee` and `ticket` to a batch's rows
/// unless the instance has sent it already (`granted`, see [`Loaded`]).
fn grant(access: &mut Vec<Row>, granted: &mut Vec<String>, company: i64, ticket: i64, grantee: String) {
    if !granted.contains(&grantee) {
        access.push(row! { ACCESS_INSERT; "company_id": company, "grantee": grantee.as_str(), "ticket_id": ticket });
        granted.push(grantee);
    }
}

/// Ticket and instance ids reserved for the batch's new tickets, so that each
/// new ticket costs no round trip of its own: the rows are written in bulk.
struct Ids {
    reserved: std::vec::IntoIter<(i64, i64)>,
}

impl Ids {
    /// Reserves `count` (ticket, instance) id pairs: from the sequences on
    /// PostgreSQL; on SQLite, counted on above the maxima (checked at the write).
    async fn reserve(store: &Store, tx: &impl ConnectionTrait, backend: DbBackend, count: usize) -> Result<Self> {
        let mut reserved = Vec::with_capacity(count);
        if count > 0 {
            if backend == DbBackend::Postgres {
                // From the ids reserved earlier, topped up from the sequences:
                // with some to spare for the next batches while tickets keep
                // coming (ids taken within the last `RESERVED_IDS_TTL`), and
                // exactly the missing ones otherwise. Spare ids that age out
                // are lost to the sequence, so a quiet company's tickets were
                // numbered 1, 33, 65… while every ticket took spares.
                let busy = {
                    let mut cache = store.cache()?;
                    let busy = cache.reserved_at.is_some_and(|at| at.elapsed() < RESERVED_IDS_TTL);
                    if !busy {
                        cache.reserved.clear();
                    }
                    while reserved.len() < count
                        && let Some(ids) = cache.reserved.pop_front()
                    {
                        reserved.push(ids);
                    }
                    busy
                };
                let missing = count - reserved.len();
                if missing > 0 {
                    let spare = if busy { RESERVED_IDS } else { 0 };
                    let fetch = i64::try_from(missing.max(spare)).unwrap_or(i64::MAX);
                    let rows = sql::all(
                        tx,
                        backend,
                        // The sequences are looked up once, not for every id.
                        "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('tickets', 'id')::regclass AS tickets, \
                         pg_get_serial_sequence('instances', 'id')::regclass AS instances) \
                         SELECT nextval(s.tickets), nextval(s.instances) FROM s CROSS JOIN generate_series(1, $1)",
                        vec![int(fetch)],
                    )
                    .await?;
                    let mut fetched = Vec::with_capacity(rows.len());
                    for row in rows {
                        fetched.push((row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<i64>(1)?));
                    }
                    fetched.sort_unstable();
                    let spare = fetched.split_off(missing.min(fetched.len()));
                    reserved.extend(fetched);
                    let mut cache = store.cache()?;
                    cache.reserved = spare.into();
                    cache.reserved_at = Some(std::time::Instant::now());
                }
            } else {
                // Counted on from the maxima, read once; the write checks that
                // nobody else inserted meanwhile (SQLite would pick `max + 1` itself).
                let known = {
                    let cache = store.cache()?;
                    cache.sqlite_next_ids.filter(|_| !cache.sqlite_ids_taken)
                };
                if known.is_none() {
                    let row = sql::one(
                        tx,
                        backend,
                        "SELECT (SELECT COALESCE(MAX(id), 0) FROM tickets), (SELECT COALESCE(MAX(id), 0) FROM instances)",
                        vec![],
                    )
                    .await?
                    .ok_or(StoreError::Corrupt("no maximum ids".into()))?;
                    let maxima = (row.try_get_by_index::<i64>(0)? + 1, row.try_get_by_index::<i64>(1)? + 1);
                    // Above the ids handed out meanwhile or still held by a batch.
                    let mut cache = store.cache()?;
                    let next = cache.sqlite_next_ids.map_or(maxima, |(t, i)| (t.max(maxima.0), i.max(maxima.1)));
                    cache.sqlite_next_ids = Some(next);
                    cache.sqlite_ids_taken = false;
                }
                // Taken and moved on under one lock: committers deciding side
                // by side take distinct ids.
                let mut cache = store.cache()?;
                let (ticket, instance) = cache.sqlite_next_ids.ok_or(StoreError::Corrupt("no next ids".into()))?;
                let count = i64::try_from(count).unwrap_or(i64::MAX);
                cache.sqlite_next_ids = Some((ticket + count, instance + count));
                drop(cache);
                reserved.extend((0..count).map(|n| (ticket + n, instance + n)));
            }
        }
        Ok(Self { reserved: reserved.into_iter() })
    }

    /// The first pair reserved, if any.
    fn first(&self) -> Option<(i64, i64)> {
        self.reserved.as_slice().first().copied()
    }

    fn next(&mut self) -> Result<(TicketId, InstanceId)> {
        let (ticket, instance) = self.reserved.next().ok_or(StoreError::Corrupt("no reserved ids left".into()))?;
        Ok((TicketId(ticket), InstanceId(instance)))
    }
}

const TICKET_INSERT: Columns = &[
    ("id", Kind::Int),
    ("company_id", Kind::Int),
    ("ticket_type", Kind::Text),
    ("definition_version_id", Kind::Int),
    ("title", Kind::Text),
    ("fields", Kind::Jsonb),
    ("status", Kind::Text),
    ("creator_id", Kind::Int),
    ("created_at", Kind::Int),
    ("updated_at", Kind::Int),
];
const INSTANCE_INSERT: Columns = &[
    ("id", Kind::Int),
    ("company_id", Kind::Int),
    ("ticket_id", Kind::Int),
    ("definition_version_id", Kind::Int),
    ("status", Kind::Text),
    ("data", Kind::Json),
    ("ticket", Kind::Json),
    ("meta", Kind::Json),
    ("arrivals", Kind::Json),
    ("initiator", Kind::Text),
    ("revision", Kind::Int),
    ("created_at", Kind::Int),
    ("updated_at", Kind::Int),
];

const INSTANCE_UPDATE: Columns = &[
    ("id", Kind::Int),
    ("status", Kind::Text),
    ("data", Kind::Json),
    ("arrivals", Kind::Json),
    ("revision", Kind::Int),
    ("old_revision", Kind::Int),
    ("updated_at", Kind::Int),
];
/// The SET list of an instance update, written once for both databases:
/// `new(column)` is how the statement names the row's new value of a column.
fn instance_update_set(new: impl Fn(&str) -> String) -> String {
    format!(
        "status = {}, data = {}, arrivals = {}, revision = {}, updated_at = {}",
        new("status"),
        new("data"),
        new("arrivals"),
        new("revision"),
        new("updated_at")
    )
}

/// The SET list of a run update, written once for both databases: an output
/// or a completer is kept when the update has none. `current` prefixes the
/// run's own columns (a table alias and a dot, or nothing).
fn run_update_set(new: impl Fn(&str) -> String, current: &str) -> String {
    format!(
        "status = {}, output = COALESCE({}, {current}output), overdue = {}, \
         completed_by = COALESCE({}, {current}completed_by), updated_at = {}",
        new("status"),
        new("output"),
        new("overdue"),
        new("completed_by"),
        new("updated_at")
    )
}

/// What a run update returns: the company and assignee of an assigned run it
/// closed, NULLs for any other (the engine never updates a closed run, so a
/// closed status here is one this update set). `current` prefixes the run's
/// own columns.
fn closed_assignee(backend: DbBackend, current: &str) -> String {
    let open = is_open(backend, &format!("{current}status"));
    let when_closed = |column: &str| format!("CASE WHEN {open} THEN NULL ELSE {current}{column} END AS {column}");
    format!("{}, {}", when_closed("company_id"), when_closed("assignee_id"))
}

const RUN_UPDATE: Columns = &[
    ("id", Kind::Int),
    ("status", Kind::Text),
    ("output", Kind::Json),
    ("overdue", Kind::Int),
    ("completed_by", Kind::Int),
    ("updated_at", Kind::Int),
];
const RUN_INSERT: Columns = &[
    ("id", Kind::Int),
    ("company_id", Kind::Int),
    ("instance_id", Kind::Int),
    ("ticket_id", Kind::Int),
    ("definition_version_id", Kind::Int),
    ("ticket_title", Kind::Text),
    ("seq", Kind::Int),
    ("task_key", Kind::Text),
    ("status", Kind::Text),
    ("run", Kind::Int),
    ("input", Kind::Json),
    ("output", Kind::Json),
    ("assignment", Kind::Json),
    ("eligible_role", Kind::Text),
    ("assignee_id", Kind::Int),
    ("due_at", Kind::Int),
    ("overdue", Kind::Int),
    ("completed_by", Kind::Int),
    ("created_at", Kind::Int),
    ("updated_at", Kind::Int),
];
const AUDIT_INSERT: Columns = &[
    ("company_id", Kind::Int),
    ("instance_id", Kind::Int),
    ("ticket_id", Kind::Int),
    ("kind", Kind::Text),
    ("detail", Kind::Json),
    ("actor_id", Kind::Int),
    ("created_at", Kind::Int),
    ("data_changes", Kind::Json),
    ("data_revision", Kind::Int),
    ("data_source", Kind::Text),
    ("data_run_seq", Kind::Int),
];
const ERROR_INSERT: Columns = &[
    ("company_id", Kind::Int),
    ("ticket_id", Kind::Int),
    ("instance_id", Kind::Int),
    ("kind", Kind::Text),
    ("message", Kind::Text),
    ("details", Kind::Json),
    ("run_seq", Kind::Int),
    ("status", Kind::Text),
    ("created_at", Kind::Int),
    ("updated_at", Kind::Int),
];
const ACCESS_INSERT: Columns = &[("company_id", Kind::Int), ("grantee", Kind::Text), ("ticket_id", Kind::Int)];
/// How both databases insert `ticket_access` pairs: a pair that is there
/// already (another node or an earlier load of the instance wrote it) stays.
const KEEP_EXISTING: &str = " ON CONFLICT DO NOTHING";
const JOB_INSERT: Columns = &[
    ("company_id", Kind::Int),
    ("kind", Kind::Text),
    ("payload", Kind::Json),
    ("run_at", Kind::Int),
    ("attempts", Kind::Int),
    ("created_at", Kind::Int),
];

impl Rows {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        company: CompanyId,
        instance_id: InstanceId,
        owner: &RunOwner,
        granted: &mut Vec<String>,
        definition: &Definition,
        instance: &Instance,
        decision: &Decision,
        actor: Option<UserId>,
        revision: i64,
        event: AuditEvent,
        now: i64,
    ) {
        let (c, i, t, a) = (company.0, instance_id.0, owner.ticket.map(|t| t.0), actor.map(|a| a.0));
        // One audit event per command, listing every state change it caused.
        let mut changes = Vec::with_capacity(decision.updates.len() + decision.new_runs.len() + 1);
        for update in &decision.updates {
            let task = instance.run(update.seq).map(|r| definition.tasks[r.task].key.as_str()).unwrap_or_default();
            changes.push(Change::TaskStatus { seq: update.seq, task, status: update.status.as_str() });
        }
        for run in &decision.new_runs {
            let task = definition.tasks[run.task].key.as_str();
            changes.push(Change::TaskActivated { seq: run.seq, task, run: run.run, status: run.status.as_str() });
        }
        for fault in &decision.faults {
            changes.push(Change::ErrorRaised { kind: fault.kind.as_str(), message: &fault.message });
        }
        if let Some(status) = decision.status {
            changes.push(Change::InstanceStatus { status: status.as_str() });
            if let Some(ticket) = owner.ticket {
                // A ticket created in this batch is inserted with its last status.
                match self.new_tickets.get(&ticket.0) {
                    Some(&at) => self.tickets[at].set("status", status.as_str()),
                    None => self.ticket_status.push((company, ticket, status)),
                }
            }
        }
        let detail = json_text(&AuditDetail { event: &event.detail, changes: &changes });
        // The event's data write, if it made one: every field it changed, from
        // its event's one source (the ticket, a task's output or an edit).
        let data = decision.writes.first().map(|first| {
            debug_assert!(decision.writes.iter().all(|w| w.source == first.source), "one source per event");
            let (source, seq) = match first.source {
                WriteSource::Ticket => ("ticket", None),
                WriteSource::Task(seq) => ("task", Some(i64::from(seq))),
                WriteSource::External => ("external", None),
            };
            let changes: Vec<FieldChange<'_>> = decision
                .writes
                .iter()
                .map(|w| FieldChange {
                    path: w.write.path.as_str(),
                    old: w.write.old.as_ref(),
                    new: w.write.new.as_ref(),
                })
                .collect();
            (json_text(&changes), source, seq)
        });
        let mut audit = row! { AUDIT_INSERT;
            "company_id": c, "instance_id": i, "ticket_id": t, "kind": event.kind, "detail": detail, "actor_id": a, "created_at": now,
        };
        if let Some((changes, source, seq)) = data {
            audit.set("data_changes", changes);
            audit.set("data_revision", revision);
            audit.set("data_source", source);
            audit.set("data_run_seq", seq);
        }
        self.audit.push(audit);
        for update in &decision.updates {
            let completed_by = if update.status == TaskStatus::Completed { a } else { None };
            // Each run is written once per batch, as the batch leaves it: a run
            // activated earlier in the batch in its insert, another in one update.
            let key = (i, i64::from(update.seq));
            let row = match self.inserted.get(&key) {
                Some(&at) => &mut self.new_runs[at].row,
                None => {
                    let at = *self.updated.entry(key).or_insert_with(|| {
                        let id = self.run_ids.id(instance_id, key.1).0;
                        self.run_updates.push(row! { RUN_UPDATE; "id": id });
                        self.run_updates.len() - 1
                    });
                    &mut self.run_updates[at]
                }
            };
            row.set("status", update.status.as_str());
            row.set("overdue", i64::from(update.overdue));
            row.set("updated_at", now);
            if let Some(output) = &update.output {
                row.set("output", output);
            }
            if let Some(by) = completed_by {
                row.set("completed_by", by);
            }
        }
        for run in &decision.new_runs {
            let eligible_role = match &run.assignment {
                Some(Assignment { eligible: Eligible::Role(role), .. }) => Some(role.as_str()),
                _ => None,
            };
            self.inserted.insert((i, i64::from(run.seq)), self.new_runs.len());
            self.new_runs.push(PendingRun {
                request: self.request,
                company,
                row: row! { RUN_INSERT;
                    "id": self.run_ids.id(instance_id, i64::from(run.seq)).0, "company_id": c, "instance_id": i, "ticket_id": t, "definition_version_id": owner.version.0,
                    "ticket_title": owner.title.as_str(), "seq": i64::from(run.seq), "task_key": definition.tasks[run.task].key.as_str(),
                    "status": run.status.as_str(), "run": i64::from(run.run), "input": &run.input, "output": run.output.as_ref(),
                    "assignment": run.assignment.as_ref().map(json_text), "eligible_role": eligible_role,
                    "due_at": run.due_at, "overdue": i64::from(run.overdue),
                    "created_at": now, "updated_at": now,
                },
                assignment: run.assignment.clone(),
            });
        }
        // Who may see the ticket from now on: its runs' roles, its runs'
        // completers (and assignees, see `grant_assignees`).
        if let Some(ticket) = t {
            let roles = decision.new_runs.iter().filter_map(|run| match &run.assignment {
                Some(Assignment { eligible: Eligible::Role(role), .. }) => Some(ticket_list::role_grantee(role)),
                _ => None,
            });
            let completed = decision.updates.iter().any(|update| update.status == TaskStatus::Completed);
            let completer = a.filter(|_| completed).map(ticket_list::user_grantee);
            for grantee in roles.chain(completer) {
                grant(&mut self.access, granted, c, ticket, grantee);
            }
        }
        for fault in &decision.faults {
            self.errors.push(row! { ERROR_INSERT;
                "company_id": c, "ticket_id": t, "instance_id": i, "kind": fault.kind.as_str(), "message": fault.message.as_str(),
                "details": &fault.details, "run_seq": fault.seq.map(i64::from), "status": "NEW", "created_at": now, "updated_at": now,
            });
        }
        // Automated steps are queued for the workers in this same transaction.
        // (Notifications for Assigned/Ended effects arrive with the notification work.)
        for effect in &decision.effects {
            if let Effect::Automate { seq } = effect {
                let payload = json!({"instance": i, "seq": seq});
                self.jobs.push(row! { JOB_INSERT; "company_id": c, "kind": "automate", "payload": payload, "run_at": now, "attempts": 0i64, "created_at": now });
            }
        }
    }

    /// Picks assignees for `round_robin` and `least_loaded` role tasks and for single named users.
    ///
    /// A role's members are taken once per batch, each with the count that
    /// orders them (open runs, or when they last had a turn; both kept in the
    /// store's memory, see [`Cache`]), and the batch's runs of that role are
    /// dealt out in memory, the count moving with each: the rows of this batch
    /// are not written yet, so a query per run would find the same person for
    /// each of them.
    async fn resolve_assignees(
        &mut self,
        store: &Store,
        tx: &impl ConnectionTrait,
        deals: &mut Deals<'_>,
    ) -> Result<()> {
        // Emails of nobody in the company, asked once per batch.
        let mut not_users: std::collections::HashSet<(CompanyId, String)> = std::collections::HashSet::new();
        // Each role's members by policy, with their counts as read.
        let mut members: HashMap<(CompanyId, String, bool), Vec<(i64, i64)>> = HashMap::new();
        for pending in &mut self.new_runs {
            let assignee = match &pending.assignment {
                Some(Assignment { eligible: Eligible::Users(users), .. }) if users.len() == 1 => {
                    let key = (pending.company, users[0].to_lowercase());
                    if not_users.contains(&key) {
                        None
                    } else {
                        let found = store.user_with_email(tx, key.0, &key.1).await?;
                        if found.is_none() {
                            not_users.insert(key);
                        }
                        found
                    }
                }
                Some(Assignment { eligible: Eligible::Role(role), policy }) if *policy != AssignPolicy::Pool => {
                    let least_loaded = *policy == AssignPolicy::LeastLoaded;
                    let key = (pending.company, role.clone(), least_loaded);
                    let members = match members.entry(key) {
                        std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                        std::collections::hash_map::Entry::Vacant(entry) => {
                            let found = if least_loaded {
                                store.role_loads(tx, pending.company, role).await?
                            } else {
                                store.role_turns(tx, pending.company, role).await?
                            };
                            entry.insert(found)
                        }
                    };
                    if least_loaded {
                        deals.next_least_loaded(pending.company, members)?
                    } else {
                        store.next_turn(pending.company, members)?
                    }
                }
                _ => None,
            };
            if let Some(assignee) = assignee {
                pending.row.set("assignee_id", assignee);
            }
        }
        Ok(())
    }

    /// Who may see the ticket from now on, as [`Rows::record`] notes it: the
    /// assignee of each new run (known only once [`Rows::resolve_assignees`]
    /// has dealt the runs). An assignee usually completes the run, and the
    /// pair is then there already when [`Rows::record`] notes the completer.
    fn grant_assignees(&mut self, loaded: &mut HashMap<InstanceId, Loaded>, started: &mut [(InstanceId, Loaded)]) {
        for pending in &self.new_runs {
            let (Some(instance), Some(ticket), Some(assignee)) =
                (pending.row.int("instance_id"), pending.row.int("ticket_id"), pending.row.int("assignee_id"))
            else {
                continue;
            };
            let instance = InstanceId(instance);
            let entry = match loaded.get_mut(&instance) {
                Some(entry) => entry,
                None => match started.iter_mut().find(|(id, _)| *id == instance) {
                    Some((_, entry)) => entry,
                    None => continue,
                },
            };
            grant(&mut self.access, &mut entry.granted, pending.company.0, ticket, ticket_list::user_grantee(assignee));
        }
    }

    /// `(company, assignee)` of each open run the batch inserts with an assignee.
    fn assigned_open_runs(&self) -> Vec<(i64, i64)> {
        let open = |status: &str| TaskStatus::parse(status).is_some_and(TaskStatus::is_open);
        self.new_runs
            .iter()
            .filter(|p| p.row.text("status").is_some_and(open))
            .filter_map(|p| Some((p.company.0, p.row.int("assignee_id")?)))
            .collect()
    }

    /// The instances the batch changed, as update rows with the revision each was read at.
    fn dirty_instances(loaded: &HashMap<InstanceId, Loaded>, now: i64) -> Vec<Row> {
        let mut dirty: Vec<(&InstanceId, &Loaded)> = loaded.iter().filter(|(_, l)| l.dirty).collect();
        // In id order: the order PostgreSQL locks them in, the same for every writer.
        dirty.sort_unstable_by_key(|(id, _)| id.0);
        dirty
            .into_iter()
            .map(|(id, entry)| {
                let arrivals = json_text(&entry.instance.arrivals_by_key(&entry.definition));
                row! { INSTANCE_UPDATE;
                    "id": id.0, "status": entry.instance.status.as_str(), "data": &entry.instance.data, "arrivals": arrivals,
                    "revision": entry.new_revision, "old_revision": entry.revision, "updated_at": now,
                }
            })
            .collect()
    }

    /// Each ticket's last status in the batch.
    fn last_ticket_status(&mut self) -> Vec<(CompanyId, TicketId, InstanceStatus)> {
        let mut last: Vec<(CompanyId, TicketId, InstanceStatus)> = Vec::new();
        for (company, ticket, status) in self.ticket_status.drain(..) {
            match last.iter_mut().find(|(_, t, _)| *t == ticket) {
                Some(slot) => slot.2 = status,
                None => last.push((company, ticket, status)),
            }
        }
        last
    }

    /// The batch's new runs with the command each belongs to, within a
    /// command in activation order.
    fn created_runs(&self) -> Result<Vec<CreatedRun>> {
        let mut created = Vec::with_capacity(self.new_runs.len());
        for pending in &self.new_runs {
            let cell = |name: &str| {
                pending.row.int(name).ok_or_else(|| StoreError::Corrupt(format!("a new run's row has no {name}")))
            };
            let seq = cell("seq")?;
            created.push(CreatedRun {
                request: pending.request,
                id: RunId(cell("id")?),
                company: pending.company,
                instance: InstanceId(cell("instance_id")?),
                seq: RunSeq::try_from(seq).map_err(|_| StoreError::Corrupt(format!("run seq {seq} out of range")))?,
                assignee: pending.row.int("assignee_id").map(UserId),
            });
        }
        created.sort_unstable_by_key(|run| (run.request, run.seq));
        Ok(created)
    }

    /// Writes every row on PostgreSQL with one call of the group-commit function
    /// (one statement, so one transaction); returns the runs it inserted and
    /// the `(company, assignee)` of each assigned run it closed.
    async fn write_postgres(
        mut self,
        db: &sea_orm::DatabaseConnection,
        own: &mut Own,
        loaded: &HashMap<InstanceId, Loaded>,
        now: i64,
    ) -> Result<(Vec<CreatedRun>, Vec<(i64, i64)>)> {
        let created = self.created_runs()?;
        let ticket_status: Vec<Row> = self
            .last_ticket_status()
            .into_iter()
            .map(|(company, ticket, status)| {
                row! { postgres::TICKET_STATUS; "company_id": company.0, "id": ticket.0, "status": status.as_str(), "updated_at": now }
            })
            .collect();
        let new_runs: Vec<Row> = self.new_runs.into_iter().map(|p| p.row).collect();
        let batch = postgres::Batch {
            tickets: &self.tickets,
            instances: &self.instances,
            instance_updates: &Self::dirty_instances(loaded, now),
            run_updates: &self.run_updates,
            new_runs: &new_runs,
            audit: &self.audit,
            errors: &self.errors,
            jobs: &self.jobs,
            access: &self.access,
            ticket_status: &ticket_status,
        };
        let closed = batch.write(db, own).await?;
        Ok((created, closed))
    }

    /// Writes every row on SQLite in one transaction on the committer's own
    /// connection; returns what [`Rows::write_postgres`] does.
    async fn write_sqlite(
        mut self,
        store: &Store,
        writer: &SqliteWriter,
        loaded: &HashMap<InstanceId, Loaded>,
        first_ids: Option<(i64, i64)>,
        now: i64,
    ) -> Result<(Vec<CreatedRun>, Vec<(i64, i64)>)> {
        let created = self.created_runs()?;
        let batch = sqlite::Batch {
            first_ids,
            instance_updates: Self::dirty_instances(loaded, now),
            ticket_status: self
                .last_ticket_status()
                .into_iter()
                .map(|(company, ticket, status)| (company.0, ticket.0, status.as_str(), now))
                .collect(),
            tickets: self.tickets,
            instances: self.instances,
            run_updates: self.run_updates,
            new_runs: self.new_runs.into_iter().map(|p| p.row).collect(),
            audit: self.audit,
            errors: self.errors,
            jobs: self.jobs,
            access: self.access,
        };
        let closed = store.with_sqlite_writer(writer, move |writer| writer.write(batch)).await?;
        Ok((created, closed))
    }
}

/// The runs a batch has dealt by `least_loaded`, counted as open (in
/// [`Cache::dealt`]) until the batch ends: committed (then its runs are
/// counted in [`Cache::loads`]), refused or decided again.
struct Deals<'a> {
    store: &'a Store,
    dealt: Vec<(CompanyId, i64)>,
}

impl Deals<'_> {
    /// Who of a role's `members` (each with their open runs as read) gets the
    /// next `least_loaded` run: the fewest open runs as this node knows them
    /// now (the count kept, and runs dealt by batches still in flight), the
    /// lowest id among equals. Taken under the cache's lock, so committers
    /// deciding batches side by side deal in turn.
    fn next_least_loaded(&mut self, company: CompanyId, members: &[(i64, i64)]) -> Result<Option<i64>> {
        let mut cache = self.store.cache()?;
        let open = |cache: &Cache, user: i64, read: i64| {
            let kept = cache.loads.get(&(company, user)).map_or(read, |(_, count)| *count);
            kept + cache.dealt.get(&(company, user)).copied().unwrap_or_default()
        };
        let next = members.iter().map(|&(user, read)| (open(&cache, user, read), user)).min().map(|(_, user)| user);
        if let Some(user) = next {
            *cache.dealt.entry((company, user)).or_default() += 1;
            self.dealt.push((company, user));
        }
        Ok(next)
    }

    /// The batch is committed: its runs count as open in [`Cache::loads`]
    /// from now on, moved there in the same instant they stop counting as
    /// dealt (see [`move_loads`]).
    fn commit(mut self, opened: &[(i64, i64)], closed: &[(i64, i64)]) -> Result<()> {
        let mut cache = self.store.cache()?;
        self.undeal(&mut cache);
        move_loads(&mut cache, opened, closed);
        Ok(())
    }

    fn undeal(&mut self, cache: &mut Cache) {
        for key in self.dealt.drain(..) {
            if let Some(count) = cache.dealt.get_mut(&key) {
                *count -= 1;
                if *count <= 0 {
                    cache.dealt.remove(&key);
                }
            }
        }
    }
}

impl Drop for Deals<'_> {
    fn drop(&mut self) {
        if self.dealt.is_empty() {
            return;
        }
        if let Ok(mut cache) = self.store.inner.cache.lock() {
            self.undeal(&mut cache);
        }
    }
}

/// Moves the open runs counted for `least_loaded` by a committed batch:
/// one more for each assignee of a run it `opened`, one fewer for each of
/// a run it `closed` (both `(company, user)`). Users not counted are left
/// to be read when needed.
fn move_loads(cache: &mut Cache, opened: &[(i64, i64)], closed: &[(i64, i64)]) {
    let moves = opened.iter().map(|user| (user, 1)).chain(closed.iter().map(|user| (user, -1)));
    for (&(company, user), by) in moves {
        if let Some((_, count)) = cache.loads.get_mut(&(CompanyId(company), user)) {
            *count = (*count + by).max(0);
        }
    }
}

/// The users of company `$1` who hold role `$2` (as `u`, the role as `r`).
const ROLE_MEMBERS: &str = "FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id \
     WHERE r.company_id = $1 AND r.key = $2";

impl Store {
    /// Forgets the company's role members read for `round_robin` (after a
    /// user's roles change).
    pub(crate) fn forget_role_members(&self, company: CompanyId) -> Result<()> {
        self.cache()?.role_members.retain(|(owner, _), _| *owner != company);
        Ok(())
    }

    /// Whose `round_robin` turn it is among a role's `members`: whoever had
    /// one longest ago (the lowest id among equals), who then goes last. Taken
    /// under the cache's lock, so committers deciding batches side by side
    /// take turns from one rotation.
    fn next_turn(&self, company: CompanyId, members: &[(i64, i64)]) -> Result<Option<i64>> {
        let mut cache = self.cache()?;
        let turn = |cache: &Cache, user: i64, read: i64| cache.turns.get(&(company, user)).copied().unwrap_or(read);
        let latest = members.iter().map(|&(user, read)| turn(&cache, user, read)).max().unwrap_or_default();
        let next = members.iter().map(|&(user, read)| (turn(&cache, user, read), user)).min().map(|(_, user)| user);
        if let Some(user) = next {
            let aged = cache.turns.insert((company, user), latest + 1);
            drop(aged);
        }
        Ok(next)
    }

    /// Forgets a user's open runs counted for `least_loaded` (after a claim or
    /// a release, which change them outside the committers).
    pub(crate) fn forget_load(&self, company: CompanyId, user: UserId) -> Result<()> {
        self.cache()?.loads.remove(&(company, user.0));
        Ok(())
    }

    /// The members of a company role, each with their open runs (for
    /// `least_loaded`; see `Cache::loads`): those not counted within
    /// [`LOADS_TTL`] are counted in one query.
    async fn role_loads(&self, db: &impl ConnectionTrait, company: CompanyId, role: &str) -> Result<Vec<(i64, i64)>> {
        let users = self.role_member_ids(db, company, role).await?;
        let mut members = Vec::with_capacity(users.len());
        let mut uncounted = Vec::new();
        {
            let cache = self.cache()?;
            for &user in users.iter() {
                match cache.loads.get(&(company, user)) {
                    Some((at, count)) if at.elapsed() < LOADS_TTL => members.push((user, *count)),
                    _ => uncounted.push(user),
                }
            }
        }
        if uncounted.is_empty() {
            return Ok(members);
        }
        let backend = self.backend();
        let at = std::time::Instant::now();
        let rows = sql::all(
            db,
            backend,
            &format!(
                "SELECT assignee_id, COUNT(*) FROM task_runs WHERE company_id = $1 AND assignee_id IN ({}) \
                 AND {} GROUP BY assignee_id",
                sql::id_list(backend, "$2"),
                is_open(backend, "status")
            ),
            vec![int(company.0), sql::ids(&uncounted)],
        )
        .await?;
        let mut counted: HashMap<i64, i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            counted.insert(row.try_get_by_index(0)?, row.try_get_by_index(1)?);
        }
        let mut aged = Vec::new();
        {
            let mut cache = self.cache()?;
            for user in uncounted {
                let count = counted.get(&user).copied().unwrap_or_default();
                aged.extend(cache.loads.insert((company, user), (at, count)));
                members.push((user, count));
            }
        }
        drop(aged);
        Ok(members)
    }

    /// The user ids of a company role's members, read again after
    /// [`ROLE_MEMBERS_TTL`] (see `Cache::role_members`).
    async fn role_member_ids(&self, db: &impl ConnectionTrait, company: CompanyId, role: &str) -> Result<Arc<[i64]>> {
        let key = (company, role.to_owned());
        let cached = self.cache()?.role_members.get(&key).filter(|(at, _)| at.elapsed() < ROLE_MEMBERS_TTL).cloned();
        let users = match cached {
            Some((_, users)) => users,
            None => {
                let rows = sql::all(
                    db,
                    self.backend(),
                    &format!("SELECT u.id {ROLE_MEMBERS}"),
                    vec![int(company.0), text(role)],
                )
                .await?;
                let users: Arc<[i64]> = rows.iter().map(|row| row.try_get_by_index(0)).collect::<Result<_, _>>()?;
                let mut cache = self.cache()?;
                if cache.role_members.len() >= CACHED_ROLES {
                    cache.role_members.clear();
                }
                cache.role_members.insert(key, (std::time::Instant::now(), users.clone()));
                users
            }
        };
        Ok(users)
    }

    /// The members of a company role, each with when they last had a
    /// `round_robin` turn (see `Cache::turns`; a member not seen before
    /// starts from the id of their latest open run, 0 for none: read in
    /// `task_runs_assignee`, whose runs are the open ones).
    async fn role_turns(&self, db: &impl ConnectionTrait, company: CompanyId, role: &str) -> Result<Vec<(i64, i64)>> {
        let backend = self.backend();
        let users = self.role_member_ids(db, company, role).await?;
        let known: Vec<(i64, Option<i64>)> = {
            let cache = self.cache()?;
            users.iter().map(|&user| (user, cache.turns.get(&(company, user)).copied())).collect()
        };
        let mut members = Vec::with_capacity(known.len());
        for (user, known) in known {
            let turn = match known {
                Some(turn) => turn,
                None => {
                    let latest = sql::one(
                        db,
                        backend,
                        &format!(
                            "SELECT COALESCE(MAX(id), 0) FROM task_runs WHERE company_id = $1 AND assignee_id = $2 AND {}",
                            is_open(backend, "status")
                        ),
                        vec![int(company.0), int(user)],
                    )
                    .await?
                    .map(|r| r.try_get_by_index::<i64>(0))
                    .transpose()?
                    .unwrap_or_default();
                    let aged = self.cache()?.turns.insert((company, user), latest);
                    drop(aged);
                    latest
                }
            };
            members.push((user, turn));
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::share_floor;

    #[test]
    fn batches_are_halves_up_to_sixteen_then_thirds() {
        // (commands outstanding, the least a batch holds)
        let table =
            [(0, 0), (1, 0), (2, 1), (8, 4), (16, 8), (32, 16), (40, 16), (48, 16), (64, 21), (96, 32), (256, 85)];
        for (outstanding, floor) in table {
            assert_eq!(share_floor(outstanding, 3), floor, "{outstanding} outstanding");
        }
    }

    #[test]
    fn with_two_batches_in_flight_batches_are_halves() {
        let table = [(0, 0), (1, 0), (2, 1), (16, 8), (32, 16), (64, 32), (96, 48)];
        for (outstanding, floor) in table {
            assert_eq!(share_floor(outstanding, 2), floor, "{outstanding} outstanding");
        }
    }
}
