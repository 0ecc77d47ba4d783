//! TicketFlower's storage: one [`Store`] over SQLite (the embedded default) and
//! PostgreSQL (production and scale-out).
//!
//! Every query is written once, as portable SQL with `$n` placeholders, and
//! runs through sea-orm's runtime-selected connection (see README.md in this
//! crate for the choice). Rows stay private to this crate; callers get typed
//! ids and views. Every query on company data takes the [`CompanyId`] first.
//!
//! Engine events (ticket start, task completion, admin actions) go through the
//! [`committer`]: it gathers the events that arrive together, decides each with
//! `ticketflower_core::engine`, writes all of their effects in one transaction
//! and acknowledges them only after the commit (group commit).

mod audit;
mod bench;
mod comments;
mod committer;
mod conversations;
mod definitions;
mod error_queue;
mod files;
mod history;
mod inbox;
mod memo;
mod migrations;
pub mod passwords;
mod people;
mod roles;
mod secrets;
mod sessions;
mod sql;
mod ticket_list;
mod tickets;
mod timeline;
mod views;

pub use bench::{FilledTickets, recreate_postgres_database};
pub use comments::{CommentView, NewComment, Visibility};
pub use committer::{Command, CommandOutcome};
pub use conversations::{ConversationId, ConversationSummary, NewMessage, StoredMessage};
pub use definitions::{ACTIVE_VERSION_TTL, DefinitionStatus, ImportedVersion, VersionSummary};
pub use error_queue::{ErrorFilter, ErrorItem, ErrorStatus};
pub use files::{FileMeta, NewFile};
pub use inbox::{Inbox, InboxItem, RunDetail, Worker};
pub use people::{NewUser, Permission, UserSummary};
pub use roles::RoleView;
pub use secrets::{SecretInfo, SecretKey, is_secret_name};
pub use sessions::{LoginCandidate, SessionUser};
pub use ticket_list::{TicketFilter, TicketPage, TicketScope, TicketSummary, TicketView};
pub use tickets::{NewTicket, TicketCreated};
pub use timeline::AuditEntry;
pub use views::{HistoryEntry, HistoryId, InstanceView, RunView, TicketErrorView};

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use ticketflower_core::Problem;
use ticketflower_core::definition::Definition;
use ticketflower_core::engine::EngineError;

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }
    )+};
}

id_type!(
    /// A tenant.
    CompanyId,
    UserId,
    RoleId,
    DefinitionId,
    /// One version of a definition (the snapshot an instance runs).
    VersionId,
    TicketId,
    InstanceId,
    /// One task run (a task instance).
    RunId,
    TicketErrorId,
    /// An uploaded file's metadata.
    FileId,
    /// One comment of a ticket's conversation.
    CommentId,
);

/// What went wrong in the store, as the web layer and CLI need to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Missing, or belonging to another company (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller may not do this (not eligible for a task, for example).
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Input that breaks a rule; every problem listed.
    #[error("invalid input")]
    Invalid(Vec<Problem>),
    /// The engine refused the event; nothing changed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A unique name is taken, or a version is stale.
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// A stored document could not be read back (corruption or a bug).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A batch could not be committed (database down, disk full…); nothing of it was saved.
    #[error("the change could not be saved, nothing was changed; try again: {0}")]
    Unavailable(String),
    #[error("the store is shutting down")]
    Closed,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Committers on SQLite: one decides a batch (reading through the pool) while
/// the other writes its own on the writer's connection. With one, the writer
/// waited for each batch to be decided, and the process used less than one of
/// the two cores. Each gathers half the commands outstanding, so batches stay
/// as large as one committer's were (with a third of them each, as on
/// PostgreSQL, two committers lost in sessions 14 and 17). In six alternating
/// pairs the examples got through 17 % more on average (9,593 → 11,211
/// completions/s; 11 of 18 comparisons won on a noisy host), though each
/// completion costs more CPU (BENCHMARKS.md, session 19). A third would only
/// wait for the writer.
pub const SQLITE_COMMITTERS: usize = 2;

/// How long a pooled connection may have been idle before it is pinged when
/// taken from the pool (HikariCP's default bypass window). A ping on every
/// checkout cost each group commit a round trip of its own.
pub(crate) const STALE_AFTER: Duration = Duration::from_millis(500);

/// Connection settings.
#[derive(Clone)]
pub struct StoreOptions {
    pub url: String,
    pub max_connections: u32,
    /// Most events one group commit takes.
    pub batch_size: usize,
    /// Group committers deciding and writing batches side by side. On SQLite
    /// at most [`SQLITE_COMMITTERS`]: its writes take turns on one connection.
    /// On PostgreSQL the default is one per batch in flight (three): a fourth
    /// got through less than three in each of six pairs at 64 and 256 clients
    /// (BENCHMARKS.md, session 25).
    pub committers: usize,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("StoreOptions")
            .field("url", &redact(&self.url))
            .field("batch_size", &self.batch_size)
            .field("committers", &self.committers)
            .finish()
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 16, batch_size: 512, committers: 3 }
    }
}

/// Whether `url` names PostgreSQL on this machine (localhost, 127.0.0.1, ::1 or
/// a Unix socket) and leaves `sslmode` unset (sqlx's default is `prefer`).
fn postgres_on_loopback_without_sslmode(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
        return false;
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query.split('&').any(|pair| pair.split('=').next() == Some("sslmode")) {
        return false;
    }
    let authority = address.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let socket = query.split('&').any(|pair| pair.starts_with("host=/"));
    matches!(host, "localhost" | "127.0.0.1" | "::1") || (host.is_empty() && socket) || host.starts_with("%2F")
}

/// The database behind TicketFlower.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    backend: DbBackend,
    /// SQLite has one writer; write transactions queue here instead of failing with SQLITE_BUSY.
    sqlite_writer: Option<tokio::sync::Mutex<()>>,
    /// The committer's own connection to the SQLite file (None on PostgreSQL).
    sqlite: Option<committer::SqliteWriter>,
    /// Compiled definition snapshots by version, with the company that owns each.
    definitions: RwLock<HashMap<VersionId, (CompanyId, Arc<Definition>)>>,
    committer: committer::Handle,
    /// What the committers keep between batches: instances as last written, and
    /// which instance each run belongs to.
    cache: std::sync::Mutex<committer::Cache>,
    /// Active version by (company, definition key), with when it was read.
    active_versions: std::sync::Mutex<HashMap<(CompanyId, String), (VersionId, std::time::Instant)>>,
    run_ids: RunIds,
}

/// How a run's id is made from its instance's id and its `seq` there
/// (migration 26): `((instance + base) << 20) + seq`. An instance's runs are
/// one range of the key, so `task_runs` needs no second unique index, and the
/// committer knows a run's id before writing it. `base` is 0 on a database
/// created with this scheme; on an older one it puts every new id above the
/// ids runs had before.
/// The default, base 0, is a new database's; the store's own is `Store::run_ids`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunIds {
    base: i64,
}

impl RunIds {
    const SEQ_BITS: u32 = 20;
    /// The most runs an instance holds, whose seqs are `0..RUNS_PER_INSTANCE`.
    pub(crate) const RUNS_PER_INSTANCE: i64 = 1 << Self::SEQ_BITS;

    async fn read(db: &impl ConnectionTrait, backend: DbBackend) -> Result<Self> {
        let row = sql::one(db, backend, "SELECT base FROM task_run_ids", vec![])
            .await?
            .ok_or_else(|| StoreError::Corrupt("task_run_ids holds no base".into()))?;
        Ok(RunIds { base: row.try_get_by_index(0)? })
    }

    /// The id of run `seq` of `instance`.
    pub(crate) fn id(self, instance: InstanceId, seq: i64) -> RunId {
        RunId(((instance.0 + self.base) << Self::SEQ_BITS) + seq)
    }

    /// [`RunIds::id`] as SQL, of the columns or expressions `instance` and `seq`.
    pub(crate) fn sql(self, instance: &str, seq: &str) -> String {
        format!("((({instance}) + {}) << {}) + ({seq})", self.base, Self::SEQ_BITS)
    }

    /// The first and the last id `instance`'s runs can have.
    pub(crate) fn range(self, instance: InstanceId) -> (i64, i64) {
        let first = self.id(instance, 0).0;
        (first, first + Self::RUNS_PER_INSTANCE - 1)
    }

    /// Refuses a decision that would give an instance more runs than its ids have room for.
    pub(crate) fn check(decision: &ticketflower_core::engine::Decision) -> Result<()> {
        if decision.new_runs.iter().any(|run| i64::from(run.seq) >= Self::RUNS_PER_INSTANCE) {
            return Err(StoreError::Conflict(format!(
                "a workflow instance holds at most {} task runs, and this one is full",
                Self::RUNS_PER_INSTANCE
            )));
        }
        Ok(())
    }
}

impl Store {
    /// Connects, creating the SQLite file if needed, and runs migrations.
    pub async fn connect(options: StoreOptions) -> Result<Self> {
        let mut connect = ConnectOptions::new(options.url.clone());
        connect
            .max_connections(options.max_connections)
            .sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(10))
            // A connection in use is not pinged each time it is taken from the
            // pool (a round trip before every statement); one idle for a
            // while is, as the server or a proxy may have dropped it since.
            .test_before_acquire_if_idle_for(STALE_AFTER);
        connect.map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
        if postgres_on_loopback_without_sslmode(&options.url) {
            // TLS to a server on this machine protects nothing and, through sqlx,
            // halves what the committers get through (measured in BENCHMARKS.md);
            // an explicit `sslmode` in the URL is kept as given.
            connect.map_sqlx_postgres_opts(|opts| opts.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable));
        }
        let db = Database::connect(connect).await?;
        let backend = db.get_database_backend();
        migrations::run(&db, backend).await?;
        let run_ids = RunIds::read(&db, backend).await?;
        let sqlite = match backend {
            DbBackend::Sqlite => Some(committer::SqliteWriter::open(&sqlite_file(&options.url)?)?),
            _ => None,
        };
        // Under load a batch is decided while another is written (and on
        // PostgreSQL a third waits for its log flush): the committers share
        // the commands out so that this many batches are in flight.
        let (committers, in_flight) = match backend {
            DbBackend::Postgres => (options.committers.max(1), 3),
            _ => (options.committers.clamp(1, SQLITE_COMMITTERS), 2),
        };
        let (handle, queue) = committer::queue(in_flight);
        let store = Store {
            inner: Arc::new(Inner {
                db,
                backend,
                sqlite_writer: (backend == DbBackend::Sqlite).then(|| tokio::sync::Mutex::new(())),
                sqlite,
                definitions: RwLock::new(HashMap::new()),
                committer: handle,
                cache: std::sync::Mutex::new(committer::Cache::default()),
                active_versions: std::sync::Mutex::new(HashMap::new()),
                run_ids,
            }),
        };
        // PostgreSQL committers keep a connection each while the pool has
        // as many again for the reads they and everyone else make.
        let keep = backend == DbBackend::Postgres
            && usize::try_from(options.max_connections).unwrap_or(usize::MAX) >= 2 * committers;
        for _ in 0..committers {
            let own = if keep { committer::Own::Kept(None) } else { committer::Own::Pooled };
            committer::spawn(store.clone(), queue.clone(), options.batch_size.max(1), committers, own);
        }
        Ok(store)
    }

    pub fn backend(&self) -> DbBackend {
        self.inner.backend
    }

    pub(crate) fn run_ids(&self) -> RunIds {
        self.inner.run_ids
    }

    /// Stops the committers and closes the connection pool, waiting for the
    /// connections in use (a server's last step). On SQLite the committer's
    /// own connection closes when the last handle of this store is dropped;
    /// being then the last connection, it folds the write-ahead log back into
    /// the database file.
    pub async fn close(&self) -> Result<()> {
        self.inner.committer.close();
        self.inner.db.clone().close().await?;
        Ok(())
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// Begins a write transaction (on SQLite, after taking the single-writer lock).
    pub(crate) async fn write(&self) -> Result<WriteTx<'_>> {
        let guard = match &self.inner.sqlite_writer {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        // IMMEDIATE takes SQLite's write lock at BEGIN, so another process writing
        // meanwhile makes us wait (busy_timeout) instead of failing the commit.
        let options = sea_orm::TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        };
        let tx = sea_orm::TransactionTrait::begin_with_options(&self.inner.db, options).await?;
        Ok(WriteTx { tx, _guard: guard })
    }
}

impl Store {
    /// Runs `work` on the SQLite committer's connection on a blocking thread,
    /// holding the store's SQLite write lock (so it queues behind this
    /// process's other write transactions instead of SQLite's busy handler).
    pub(crate) async fn with_sqlite_writer<T: Send + 'static>(
        &self,
        writer: &committer::SqliteWriter,
        work: impl FnOnce(&committer::SqliteWriter) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _guard = match &self.inner.sqlite_writer {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let writer = writer.clone();
        tokio::task::spawn_blocking(move || work(&writer))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the SQLite writer stopped: {e}")))?
    }
}

/// The database file of a SQLite URL. The committer writes on a connection of
/// its own, so the database must be a file both can open.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf> {
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Unavailable(
            "an in-memory SQLite database is not supported; give a file, e.g. sqlite://data/ticketflower.db".into(),
        ));
    }
    let options =
        SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Database(DbErr::Custom(e.to_string())))?;
    Ok(options.get_filename().to_path_buf())
}

/// A write transaction; on SQLite it holds the writer lock until commit or drop.
pub(crate) struct WriteTx<'a> {
    pub tx: sea_orm::DatabaseTransaction,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The default database: a SQLite file under `./data/`.
pub fn default_database_url() -> String {
    "sqlite://data/ticketflower.db?mode=rwc".to_owned()
}

#[cfg(test)]
mod tests {
    use super::postgres_on_loopback_without_sslmode as loopback;

    #[test]
    fn tls_is_left_out_only_for_postgres_on_this_machine_without_an_sslmode() {
        assert!(loopback("postgres://postgres@127.0.0.1:5432/test"));
        assert!(loopback("postgresql://u:p@localhost/db?application_name=x"));
        assert!(loopback("postgres://u@[::1]:5432/db"));
        assert!(loopback("postgres://u@%2Fvar%2Frun%2Fpostgresql/db"));
        assert!(loopback("postgres:///db?host=/var/run/postgresql"));
        assert!(!loopback("postgres://postgres@127.0.0.1:5432/test?sslmode=require"));
        assert!(!loopback("postgres://u@db.example.com/db"));
        assert!(!loopback("postgres://u@10.0.0.5:5432/db"));
        assert!(!loopback("sqlite://data/ticketflower.db?mode=rwc"));
    }

    #[test]
    fn run_ids_are_ranges_of_their_instances_above_the_base_and_a_full_instance_takes_no_more_runs() {
        use super::{InstanceId, RunId, RunIds, StoreError};
        use ticketflower_core::engine::{Decision, TaskRun, TaskStatus};
        let new = RunIds { base: 0 };
        assert_eq!(new.id(InstanceId(1), 0), RunId(1 << 20));
        assert_eq!(new.id(InstanceId(1), 5), RunId((1 << 20) + 5));
        assert_eq!(new.range(InstanceId(2)), (2 << 20, (3 << 20) - 1));
        // An older database's base puts the ids of instance 1 above 3 · 2^20.
        let older = RunIds { base: 3 };
        assert_eq!(older.id(InstanceId(1), 0), RunId(4 << 20));
        let (first, last) = older.range(InstanceId(1));
        assert!(first > (3 << 20) - 1 && last < older.id(InstanceId(2), 0).0);
        assert_eq!(older.sql("i.id", "r.seq"), "(((i.id) + 3) << 20) + (r.seq)");

        let run = |seq: u32| TaskRun {
            seq,
            task: 0,
            status: TaskStatus::Open,
            run: 1,
            input: serde_json::json!({}),
            output: None,
            assignment: None,
            due_at: None,
            overdue: false,
        };
        let decision = |seq| Decision { new_runs: vec![run(seq)], ..Decision::default() };
        assert!(RunIds::check(&decision((1 << 20) - 1)).is_ok());
        let refused = RunIds::check(&decision(1 << 20));
        assert!(
            matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("at most 1048576 task runs")),
            "{refused:?}"
        );
    }
}
