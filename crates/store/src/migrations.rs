//! Schema migrations, run at start. Each migration is written once; the few
//! type names that differ (identity columns, JSON) are filled in per backend.
//! Times are milliseconds since the Unix epoch in BIGINT columns.

use crate::sql;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

/// Tables in creation order (dependencies first).
pub const TABLES: &[&str] = &[
    "companies",
    "users",
    "user_permissions",
    "roles",
    "user_roles",
    "definitions",
    "definition_versions",
    "tickets",
    "instances",
    "task_runs",
    "ticket_access",
    "field_history",
    "audit_events",
    "ticket_errors",
    "files",
    "jobs",
    "sessions",
    "comments",
    "company_secrets",
    "conversations",
    "conversation_messages",
];

const MIGRATIONS: &[(i64, &str)] = &[
    (1, INITIAL),
    (2, SESSIONS),
    (3, DESK),
    (4, TICKET_VISIBILITY),
    (5, INBOX_POOL),
    (6, SECRETS),
    (7, CONVERSATIONS),
    (8, LEANER_WRITES),
    (9, ENGINE_TABLES_WITHOUT_FOREIGN_KEYS),
    (10, OPEN_ASSIGNED_RUNS),
    (11, ONE_INDEX_PER_LOG_ROW),
    (12, TICKET_STATUS_OFF_THE_TICKETS_INDEXES),
    (13, TICKET_WORDS_STORED),
    (14, RUN_OWNER_COLUMNS),
    (15, SEARCH_INDEX_OPTIMIZED),
    (16, SEARCH_MERGES_BY_EIGHT),
    (17, NO_LISTS_IN_PER_ROW_CONDITIONS),
    (18, ENGINE_JSON_KEPT_AS_WRITTEN),
    (19, TICKET_ACCESS),
    (20, ONE_HISTORY_ROW_PER_WRITE),
    (21, DATA_CHANGES_IN_AUDIT_EVENTS),
    (22, ROOM_FOR_A_RUNS_UPDATE),
    (23, ENGINE_JSON_AS_TEXT),
    (24, FEWER_ENTRIES_PER_STEP),
    (25, POOL_OF_ASSIGNABLE_RUNS),
    (26, RUN_IDS_FROM_INSTANCE_AND_SEQ),
    (27, ASSIGNEES_IN_TICKET_ACCESS),
];

// Foreign keys guard the structural tables. The append-only tables written by
// every engine step (task runs, field history, audit events, ticket errors,
// jobs) carry plain id columns instead: they are only written by the committer,
// in the same transaction as the rows they point to, and a per-row foreign-key
// check (a locking read of the parent row on PostgreSQL) would cost more than
// the insert itself.
const INITIAL: &str = r#"
CREATE TABLE companies (
    id {id},
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX users_company ON users (company_id);
CREATE TABLE user_permissions (
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);
CREATE TABLE roles (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    key TEXT NOT NULL,
    title TEXT NOT NULL,
    UNIQUE (company_id, key)
);
CREATE TABLE user_roles (
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    role_id BIGINT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles (role_id);
CREATE TABLE definitions (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    key TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (company_id, key)
);
CREATE TABLE definition_versions (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    definition_id BIGINT NOT NULL REFERENCES definitions(id),
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    -- The document as written, as JSON text: key order is kept (jsonb would reorder it).
    document TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    UNIQUE (definition_id, version)
);
CREATE TABLE tickets (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    ticket_type TEXT NOT NULL,
    definition_version_id BIGINT NOT NULL REFERENCES definition_versions(id),
    title TEXT NOT NULL,
    fields {json} NOT NULL,
    status TEXT NOT NULL,
    creator_id BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_company_created ON tickets (company_id, created_at);
CREATE TABLE instances (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    ticket_id BIGINT REFERENCES tickets(id),
    definition_version_id BIGINT NOT NULL REFERENCES definition_versions(id),
    status TEXT NOT NULL,
    data {json} NOT NULL,
    ticket {json} NOT NULL,
    meta {json} NOT NULL,
    arrivals {json} NOT NULL,
    initiator TEXT,
    revision BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX instances_company_ticket ON instances (company_id, ticket_id);
CREATE TABLE task_runs (
    id {id},
    company_id BIGINT NOT NULL,
    instance_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    task_key TEXT NOT NULL,
    status TEXT NOT NULL,
    run BIGINT NOT NULL,
    input {json} NOT NULL,
    output {json},
    assignment {json},
    eligible_role TEXT,
    assignee_id BIGINT,
    due_at BIGINT,
    overdue BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_by BIGINT,
    UNIQUE (instance_id, seq)
);
CREATE INDEX task_runs_inbox ON task_runs (company_id, status, eligible_role, due_at);
CREATE INDEX task_runs_assignee ON task_runs (assignee_id, status);
CREATE TABLE field_history (
    id {id},
    company_id BIGINT NOT NULL,
    instance_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    old_value {json},
    new_value {json},
    revision BIGINT NOT NULL,
    source TEXT NOT NULL,
    run_seq BIGINT,
    actor_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX field_history_instance ON field_history (instance_id, path);
CREATE TABLE audit_events (
    id {id},
    company_id BIGINT NOT NULL,
    instance_id BIGINT,
    ticket_id BIGINT,
    kind TEXT NOT NULL,
    detail {json} NOT NULL,
    actor_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_events_instance ON audit_events (instance_id);
CREATE TABLE ticket_errors (
    id {id},
    company_id BIGINT NOT NULL,
    ticket_id BIGINT,
    instance_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    details {json} NOT NULL,
    run_seq BIGINT,
    status TEXT NOT NULL,
    resolution TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX ticket_errors_company_status ON ticket_errors (company_id, status);
CREATE TABLE files (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    ticket_id BIGINT REFERENCES tickets(id),
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    storage_path TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL
);
CREATE TABLE jobs (
    id {id},
    company_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload {json} NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    locked_until BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at);
"#;

// Server-side login sessions. The cookie holds a random token; the table keeps
// only its SHA-256, so a leaked table cannot be replayed as cookies.
const SESSIONS: &str = r#"
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at)
"#;

// The ticket desk (SPEC §7): the ticket conversation, attachments on comments,
// and the indexes the ticket list, search and inbox need at a million tickets.
// Full-text search is the one part written per backend ({search}).
const DESK: &str = r#"
CREATE TABLE comments (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    author_id BIGINT REFERENCES users(id),
    -- The author's name when written (kept for authors without an account).
    author_name TEXT NOT NULL,
    body TEXT NOT NULL,
    visibility TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX comments_ticket ON comments (company_id, ticket_id, id);
ALTER TABLE files ADD COLUMN comment_id BIGINT REFERENCES comments(id);
CREATE INDEX files_ticket ON files (company_id, ticket_id);
CREATE INDEX files_comment ON files (comment_id);
CREATE INDEX tickets_company_id ON tickets (company_id, id);
CREATE INDEX tickets_company_status ON tickets (company_id, status, id);
CREATE INDEX tickets_company_type ON tickets (company_id, ticket_type, id);
CREATE INDEX ticket_errors_company_id ON ticket_errors (company_id, id);
{search}
"#;

// SQLite: contentless FTS5 tables (the text stays in tickets and comments)
// kept in step by row triggers, so every insert path (the committer's
// included) is indexed. A ticket's fields are indexed by their string and
// number values, not their keys. Existing rows are indexed once here.
const SEARCH_SQLITE: &str = r#"
CREATE VIRTUAL TABLE ticket_search USING fts5(title, fields, content='', contentless_delete=1);
CREATE VIRTUAL TABLE comment_search USING fts5(body, content='', contentless_delete=1);
CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_search (rowid, title, fields) VALUES (new.id, new.title,
        (SELECT group_concat(value, ' ') FROM json_tree(new.fields) WHERE type IN ('text', 'integer', 'real')));
END;
CREATE TRIGGER tickets_search_update AFTER UPDATE OF title, fields ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = old.id;
    INSERT INTO ticket_search (rowid, title, fields) VALUES (new.id, new.title,
        (SELECT group_concat(value, ' ') FROM json_tree(new.fields) WHERE type IN ('text', 'integer', 'real')));
END;
CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = old.id;
END;
CREATE TRIGGER comments_search_insert AFTER INSERT ON comments BEGIN
    INSERT INTO comment_search (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER comments_search_update AFTER UPDATE OF body ON comments BEGIN
    DELETE FROM comment_search WHERE rowid = old.id;
    INSERT INTO comment_search (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER comments_search_delete AFTER DELETE ON comments BEGIN
    DELETE FROM comment_search WHERE rowid = old.id;
END;
INSERT INTO ticket_search (rowid, title, fields) SELECT id, title,
    (SELECT group_concat(value, ' ') FROM json_tree(tickets.fields) WHERE type IN ('text', 'integer', 'real')) FROM tickets
"#;

// PostgreSQL: GIN indexes on the same tsvector expressions the search
// queries use (see ticket_list.rs), so nothing extra is written per row.
const SEARCH_POSTGRES: &str = r#"
CREATE INDEX tickets_search ON tickets USING GIN ((to_tsvector('simple', title) || jsonb_to_tsvector('simple', fields, '["string", "numeric"]')));
CREATE INDEX comments_search ON comments USING GIN (to_tsvector('simple', body))
"#;

// The restricted ticket list (see `ticket_list.rs`): each way a user may see
// a ticket is read as an ordered range of ticket ids. Tickets by type already
// have `tickets_company_type`; tickets by creator get an index here. A run
// keeps its ticket's id (written with the run, never changed; filled in here
// for existing runs), so the runs assigned to a user, completed by a user or
// eligible to a role are ranges ordered by ticket id too. (Through the
// instance they are not: instance ids do not follow ticket ids when
// committers insert concurrently, so the newest tickets of a role would mean
// sorting all of its runs' tickets.) Each of those indexes holds only the runs
// that have the value.
const TICKET_VISIBILITY: &str = r#"
ALTER TABLE task_runs ADD COLUMN ticket_id BIGINT;
UPDATE task_runs SET ticket_id = i.ticket_id FROM instances i WHERE i.id = task_runs.instance_id;
CREATE INDEX tickets_company_creator ON tickets (company_id, creator_id, id);
CREATE INDEX task_runs_assignee_ticket ON task_runs (company_id, assignee_id, ticket_id) WHERE assignee_id IS NOT NULL;
CREATE INDEX task_runs_completer_ticket ON task_runs (company_id, completed_by, ticket_id) WHERE completed_by IS NOT NULL;
CREATE INDEX task_runs_role_ticket ON task_runs (company_id, eligible_role, ticket_id) WHERE eligible_role IS NOT NULL
"#;

// The unclaimed side of the inbox: open, unassigned runs per role in due
// order (no due time last), so a page is an ordered index range however many
// runs wait (see `Store::inbox`). The expression and the predicate are written
// exactly as the inbox query writes them.
const INBOX_POOL: &str = r#"
CREATE INDEX task_runs_pool ON task_runs
    (company_id, eligible_role, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NULL AND status IN ('OPEN', 'IN_PROGRESS', 'PENDING')
"#;

// Company secrets, sealed with the deployment's key (see `secrets.rs`).
const SECRETS: &str = r#"
CREATE TABLE company_secrets (
    company_id BIGINT NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    nonce TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (company_id, name)
)
"#;

// The assistant's conversations, one per user and company, and their
// messages (person, model, tool results) with the tokens each used.
const CONVERSATIONS: &str = r#"
CREATE TABLE conversations (
    id {id},
    company_id BIGINT NOT NULL REFERENCES companies(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_user ON conversations (company_id, user_id, updated_at);
CREATE TABLE conversation_messages (
    id {id},
    company_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL REFERENCES conversations(id),
    role TEXT NOT NULL,
    content {json} NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversation_messages_conversation ON conversation_messages (conversation_id, id)
"#;

// Every engine step writes a task run and its instance, so each index on them
// costs every step. `task_runs_inbox` served the first inbox; the inbox now reads
// `task_runs_pool` and `task_runs_assignee`, and nothing reads it. On PostgreSQL,
// room left in each page of `instances` lets an update stay on its page (a HOT
// update, which writes no index entries): the instance row changes at every step.
const LEANER_WRITES: &str = r#"
DROP INDEX task_runs_inbox;
{postgres_only:ALTER TABLE instances SET (fillfactor = 80)}
"#;

// Tickets and instances are written by the committer only, like the
// append-only tables, with the company, version and creator it has just read
// and checked; on PostgreSQL each of their foreign keys cost a locking read of
// the parent row per new ticket (an after-trigger query: about a seventh of
// the server's time per ticket start). SQLite keeps them (it cannot drop a
// constraint without rebuilding the table, and its checks are cheap lookups).
const ENGINE_TABLES_WITHOUT_FOREIGN_KEYS: &str = r#"
{postgres_only:ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_company_id_fkey};
{postgres_only:ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_definition_version_id_fkey};
{postgres_only:ALTER TABLE tickets DROP CONSTRAINT IF EXISTS tickets_creator_id_fkey};
{postgres_only:ALTER TABLE instances DROP CONSTRAINT IF EXISTS instances_company_id_fkey};
{postgres_only:ALTER TABLE instances DROP CONSTRAINT IF EXISTS instances_ticket_id_fkey};
{postgres_only:ALTER TABLE instances DROP CONSTRAINT IF EXISTS instances_definition_version_id_fkey}
"#;

// `task_runs_assignee (assignee_id, status)` held every run, the unassigned
// ones under NULL (a role's pool, automated steps: most runs of most
// workflows), and every run again when completed (a completion changes the
// run's status, so it is a new row version with new index entries). Each
// query that reads it asks for one assignee's open runs, so it now holds just
// those, in the inbox's order like `task_runs_pool`: a step writes no entry
// for an unassigned run and none for a completed one, and "my tasks" is an
// ordered range however many runs a user has completed. (Round-robin
// assignment, which asks for a user's latest run of any status, reads
// `task_runs_assignee_ticket`.)
const OPEN_ASSIGNED_RUNS: &str = r#"
DROP INDEX task_runs_assignee;
CREATE INDEX task_runs_assignee ON task_runs
    (company_id, assignee_id, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NOT NULL AND status IN ('OPEN', 'IN_PROGRESS', 'PENDING')
"#;

// Every engine step appends field history and audit rows, and on PostgreSQL
// each held two index entries: the primary key on `id` and the instance index
// that every read goes through (an instance's entries in order; nothing reads
// one entry by `id` alone). Each now has one: field history's key is
// `(instance_id, id)`; audit events (whose instance may be empty, so no key
// can include it) keep their ids unique by the identity sequence alone and are
// read through `(instance_id, id)`. SQLite's `id` is the row id, which costs no
// index, so there the instance indexes just take the reads' order.
const ONE_INDEX_PER_LOG_ROW: &str = r#"
DROP INDEX field_history_instance;
DROP INDEX audit_events_instance;
{postgres_only:ALTER TABLE field_history DROP CONSTRAINT field_history_pkey};
{postgres_only:ALTER TABLE field_history ADD PRIMARY KEY (instance_id, id)};
{postgres_only:ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey};
{sqlite_only:CREATE INDEX field_history_instance ON field_history (instance_id, id)};
CREATE INDEX audit_events_instance ON audit_events (instance_id, id)
"#;

// A ticket's status changes as its workflow moves (at the least once, when it
// ends). On PostgreSQL an update that changes an indexed column writes a new
// entry in every index of the table — for a ticket six B-trees and the
// full-text GIN entry, whose words are computed again — while an update that
// changes no indexed column and finds room on its page (a HOT update) writes
// none. `tickets_company_status` was the only index holding the status, so it
// goes, and the table keeps a fifth of each new page free for the new
// versions. A ticket's status is always its instance's (the committer writes
// both together), so the list's status filter reads the instances instead:
// their status changes far less often than their data, and an index of three
// columns is cheap to update. (Measured in pairs: PostgreSQL's CPU per
// Document Edit completion 7–16 % lower, BENCHMARKS.md session 9.) SQLite
// rewrites only the indexes holding a column an update sets, so it keeps the
// index on the tickets.
const TICKET_STATUS_OFF_THE_TICKETS_INDEXES: &str = r#"
{postgres_only:DROP INDEX tickets_company_status};
{postgres_only:ALTER TABLE tickets SET (fillfactor = 80)};
{postgres_only:CREATE INDEX instances_company_status ON instances (company_id, status, ticket_id)}
"#;

// A search for a word many tickets have walks the list newest first and
// checks the tickets it passes (see `ticket_list/search.rs`).
//
// On PostgreSQL the check was the indexed expression, worked out again per
// ticket (a few µs: the fields' JSON and their words); a stored column holds
// the result now, and the GIN index moves onto it. It is generated, so every
// insert path fills it, and an update that sets neither title nor fields (the
// committer's status change) does not compute it again and stays HOT.
//
// On SQLite a ticket's comments join its FTS5 row (one index answers "has
// this ticket, or a comment on it, these words", and an id range of a word's
// matches is read in order), so the row is written again, from the view
// `ticket_search_rows`, when a comment is added, changed or removed.
const TICKET_WORDS_STORED: &str = r#"
{postgres_only:DROP INDEX tickets_search};
{postgres_only:ALTER TABLE tickets ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', title) || jsonb_to_tsvector('simple', fields, '["string", "numeric"]')) STORED};
{postgres_only:CREATE INDEX tickets_search ON tickets USING GIN (search)};
{sqlite_only:DROP TRIGGER tickets_search_insert};
{sqlite_only:DROP TRIGGER tickets_search_update};
{sqlite_only:DROP TRIGGER tickets_search_delete};
{sqlite_only:DROP TRIGGER comments_search_insert};
{sqlite_only:DROP TRIGGER comments_search_update};
{sqlite_only:DROP TRIGGER comments_search_delete};
{sqlite_only:DROP TABLE ticket_search};
{sqlite_only:DROP TABLE comment_search};
{sqlite_only:CREATE VIEW ticket_search_rows AS SELECT t.id, t.title,
    (SELECT group_concat(value, ' ') FROM json_tree(t.fields) WHERE type IN ('text', 'integer', 'real')) AS fields,
    (SELECT group_concat(c.body, ' ') FROM comments c WHERE c.company_id = t.company_id AND c.ticket_id = t.id) AS comments
    FROM tickets t};
{sqlite_only:CREATE VIRTUAL TABLE ticket_search USING fts5(title, fields, comments, content='', contentless_delete=1)};
{sqlite_only:CREATE TRIGGER tickets_search_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows WHERE id = new.id;
END};
{sqlite_only:CREATE TRIGGER tickets_search_update AFTER UPDATE OF title, fields ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = old.id;
    INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows WHERE id = new.id;
END};
{sqlite_only:CREATE TRIGGER tickets_search_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM ticket_search WHERE rowid = old.id;
END};
{sqlite_only:CREATE TRIGGER comments_search_insert AFTER INSERT ON comments BEGIN
    DELETE FROM ticket_search WHERE rowid = new.ticket_id;
    INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows WHERE id = new.ticket_id;
END};
{sqlite_only:CREATE TRIGGER comments_search_update AFTER UPDATE OF body ON comments BEGIN
    DELETE FROM ticket_search WHERE rowid = new.ticket_id;
    INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows WHERE id = new.ticket_id;
END};
{sqlite_only:CREATE TRIGGER comments_search_delete AFTER DELETE ON comments BEGIN
    DELETE FROM ticket_search WHERE rowid = old.ticket_id;
    INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows WHERE id = old.ticket_id;
END};
{sqlite_only:INSERT INTO ticket_search (rowid, title, fields, comments) SELECT * FROM ticket_search_rows}
"#;

// The inbox shows each open run with its ticket's title and the task's title
// (from the definition version): both are now kept on the run, written with it
// and never changed (a ticket's title and an instance's version are fixed), so
// a page of the inbox reads its runs from the pool index and joins nothing
// per row. (Joined through the instance and the ticket, each row cost two more
// index lookups: most of the page's buffer reads on PostgreSQL at a
// million tickets; BENCHMARKS.md, session 12.)
const RUN_OWNER_COLUMNS: &str = r#"
ALTER TABLE task_runs ADD COLUMN definition_version_id BIGINT;
ALTER TABLE task_runs ADD COLUMN ticket_title TEXT;
UPDATE task_runs SET definition_version_id = o.definition_version_id, ticket_title = o.title
    FROM (SELECT i.id, i.definition_version_id, COALESCE(t.title, '') AS title
          FROM instances i LEFT JOIN tickets t ON t.id = i.ticket_id) o
    WHERE o.id = task_runs.instance_id
"#;

// SQLite's FTS5 index is a log of segments that later commits merge, a
// little at each commit. Filled in bulk (migration 13 built it for every
// existing ticket in one statement), it is left with large segments half
// merged, and every commit after pays to merge them on: at a million tickets
// one group commit in a hundred took 30–190 ms, and ticket creation at c=16 had
// a p99 of 133 ms (BENCHMARKS.md, web, session 13). Merged into one segment
// once, the commits merge only what they wrote since. A bulk load does the
// same (`Store::settle_after_bulk_load`).
const SEARCH_INDEX_OPTIMIZED: &str = r#"
{sqlite_only:INSERT INTO ticket_search (ticket_search) VALUES ('optimize')}
"#;

// Each commit adds a segment to SQLite's FTS5 index. Every 64 pages written,
// FTS5 merges some of a level whose segments number `automerge` (4 by
// default) into one segment of the next level; a level of `crisismerge` (16)
// segments is merged at once, inside whichever commit finds it so. At a
// million tickets, creating tickets at c=64, the writer spent about a quarter
// of its time in the index's flush (two thirds of that merging), and one
// commit in a few hundred took 20–370 ms. Merging eight segments at a time
// writes each entry fewer times over. In four alternating pairs the commits
// over 20 ms fell from 12–25 to 5–8 per run, and creation's p99 at c=64 from
// 48–65 ms to 17–26 ms; searches at a million tickets took as long as before
// (BENCHMARKS.md, web, session 14). PostgreSQL's GIN index has no such
// setting.
const SEARCH_MERGES_BY_EIGHT: &str = r#"
{sqlite_only:INSERT INTO ticket_search (ticket_search, rank) VALUES ('automerge', 8)}
"#;

// SQLite tests `status IN ('OPEN', 'IN_PROGRESS', 'PENDING')` through a
// temporary B-tree built at every evaluation, and the committer evaluated the
// two open-run indexes' conditions six times per completion (old and new row
// of the run it closes, the run it opens): about a third of its instructions
// (BENCHMARKS.md, session 17). The indexes now hold three comparisons, written
// as `ticket_list::is_open` writes them for SQLite so the queries still match
// them. The view a ticket's search row is built from (at every new ticket)
// picks its words' JSON types the same way. PostgreSQL tests a list cheaply
// and keeps its indexes.
const NO_LISTS_IN_PER_ROW_CONDITIONS: &str = r#"
{sqlite_only:DROP VIEW ticket_search_rows};
{sqlite_only:CREATE VIEW ticket_search_rows AS SELECT t.id, t.title,
    (SELECT group_concat(value, ' ') FROM json_tree(t.fields) WHERE type = 'text' OR type = 'integer' OR type = 'real') AS fields,
    (SELECT group_concat(c.body, ' ') FROM comments c WHERE c.company_id = t.company_id AND c.ticket_id = t.id) AS comments
    FROM tickets t};
{sqlite_only:DROP INDEX task_runs_pool};
{sqlite_only:CREATE INDEX task_runs_pool ON task_runs
    (company_id, eligible_role, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NULL AND (status = 'OPEN' OR status = 'IN_PROGRESS' OR status = 'PENDING')};
{sqlite_only:DROP INDEX task_runs_assignee};
{sqlite_only:CREATE INDEX task_runs_assignee ON task_runs
    (company_id, assignee_id, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NOT NULL AND (status = 'OPEN' OR status = 'IN_PROGRESS' OR status = 'PENDING')}
"#;

// PostgreSQL parses a `jsonb` value into its binary form (keys sorted, each
// value converted) on every write: for the engine's columns, about a tenth of
// the server's CPU per completion, spent on values nothing ever looks into —
// a step rewrites its instance's data and writes a run's input and output,
// history values and an audit detail, and each is only read back whole.
// `json` checks the text and keeps it (BENCHMARKS.md, session 18). A ticket's
// fields stay `jsonb`: its search words are computed from them. SQLite keeps
// every JSON value as text already.
const ENGINE_JSON_KEPT_AS_WRITTEN: &str = r#"
{postgres_only:ALTER TABLE instances ALTER COLUMN data TYPE json, ALTER COLUMN ticket TYPE json,
    ALTER COLUMN meta TYPE json, ALTER COLUMN arrivals TYPE json};
{postgres_only:ALTER TABLE task_runs ALTER COLUMN input TYPE json, ALTER COLUMN output TYPE json,
    ALTER COLUMN assignment TYPE json};
{postgres_only:ALTER TABLE field_history ALTER COLUMN old_value TYPE json, ALTER COLUMN new_value TYPE json};
{postgres_only:ALTER TABLE audit_events ALTER COLUMN detail TYPE json};
{postgres_only:ALTER TABLE ticket_errors ALTER COLUMN details TYPE json};
{postgres_only:ALTER TABLE jobs ALTER COLUMN payload TYPE json}
"#;

// Who may see a ticket because of its runs, besides the runs assigned to
// them now: the roles any of its runs was eligible to and the users who
// completed one. Both only ever grow, so each pair is one row, written once
// (the committer sends a pair the first time an instance it holds gives it,
// and `ON CONFLICT DO NOTHING` / `INSERT OR IGNORE` drops a repeat). They were
// read through two partial indexes of `task_runs`, `(company_id,
// eligible_role, ticket_id)` and `(company_id, completed_by, ticket_id)`; a
// run is written twice (activated, completed), and each write of a run with a
// role or a completer put an entry in one or both: on PostgreSQL 7 % of the
// group commit's instructions (BENCHMARKS.md, session 21). The list
// reads this table's key the same way, a grantee's tickets newest first.
const TICKET_ACCESS: &str = r#"
CREATE TABLE ticket_access (
    company_id BIGINT NOT NULL,
    grantee TEXT NOT NULL,
    ticket_id BIGINT NOT NULL,
    PRIMARY KEY (company_id, grantee, ticket_id)
){sqlite_only: WITHOUT ROWID};
INSERT INTO ticket_access (company_id, grantee, ticket_id)
    SELECT DISTINCT company_id, 'role:' || eligible_role, ticket_id FROM task_runs
    WHERE eligible_role IS NOT NULL AND ticket_id IS NOT NULL;
INSERT INTO ticket_access (company_id, grantee, ticket_id)
    SELECT DISTINCT company_id, 'user:' || completed_by, ticket_id FROM task_runs
    WHERE completed_by IS NOT NULL AND ticket_id IS NOT NULL;
DROP INDEX task_runs_role_ticket;
DROP INDEX task_runs_completer_ticket
"#;

// A write to an instance's data (a ticket's start, a task's output, an edit)
// is one `field_history` row holding every field it changed in `changes`
// (`[{"path", "old", "new"}]`, `old`/`new` left out for a field absent
// before/after), with `path` empty. Before, each changed field was a row of
// its own (path, old_value, new_value): about two rows per completion, each
// with its key entry. Those rows stay as they are and are read alongside
// (`Store::field_history`); either way a history entry is named by its row's
// id and its field's path.
const ONE_HISTORY_ROW_PER_WRITE: &str = r#"
{postgres_only:ALTER TABLE field_history ADD COLUMN changes json};
{sqlite_only:ALTER TABLE field_history ADD COLUMN changes TEXT}
"#;

// A command that writes workflow data (a ticket's start, a task's output, an
// edit) writes its history in its own audit event: `data_changes` holds the
// fields it changed as `field_history.changes` did, with the instance's
// `data_revision` after the write, its `data_source` and, for a task's
// output, `data_run_seq`. An engine command was two log rows, the event and
// its history row, each with its index entry; it is one. (One event writes
// data from one source: the ticket's, a task's or an edit's.) The rows
// `field_history` holds stay and are read alongside (`Store::field_history`);
// nothing writes new ones.
const DATA_CHANGES_IN_AUDIT_EVENTS: &str = r#"
{postgres_only:ALTER TABLE audit_events ADD COLUMN data_changes json};
{sqlite_only:ALTER TABLE audit_events ADD COLUMN data_changes TEXT};
ALTER TABLE audit_events ADD COLUMN data_revision BIGINT;
ALTER TABLE audit_events ADD COLUMN data_source TEXT;
ALTER TABLE audit_events ADD COLUMN data_run_seq BIGINT
"#;

// A run is written twice: inserted when activated and updated when it ends,
// usually moments later. Its status is in the open-run indexes' conditions,
// so on PostgreSQL the update is a new row version with new index entries.
// With pages filled to the brim by the inserts, that version mostly went to
// another page: a lock record on the old one, none of the unchanged bytes
// shared in the log record, a second page touched. With room left in each
// page more of them stay on their page (a batch that ends many runs of one
// page at once can still fill it): the write-ahead log of a benchmark run
// shrank by 7 % (755 → 700 MB in three pairs; BENCHMARKS.md, session 24) for
// a table about 30 % larger. SQLite has no such setting.
const ROOM_FOR_A_RUNS_UPDATE: &str = r#"
{postgres_only:ALTER TABLE task_runs SET (fillfactor = 70)}
"#;

// The engine's JSON columns hold text on PostgreSQL too, as on SQLite. Only
// the store writes them, always JSON it has just serialized, and reads them
// back whole (`sql::json_at`); as `json`, PostgreSQL checked the syntax of
// every value of every batch when it received it (`json_recv`): about 6 % of
// the server's instructions for the group commit (BENCHMARKS.md, session 25).
// The one query that looks into a value, the inbox's test of a run's eligible
// users, casts it. A ticket's fields stay `jsonb`.
const ENGINE_JSON_AS_TEXT: &str = r#"
{postgres_only:ALTER TABLE instances ALTER COLUMN data TYPE text, ALTER COLUMN ticket TYPE text,
    ALTER COLUMN meta TYPE text, ALTER COLUMN arrivals TYPE text};
{postgres_only:ALTER TABLE task_runs ALTER COLUMN input TYPE text, ALTER COLUMN output TYPE text,
    ALTER COLUMN assignment TYPE text};
{postgres_only:ALTER TABLE field_history ALTER COLUMN old_value TYPE text, ALTER COLUMN new_value TYPE text,
    ALTER COLUMN changes TYPE text};
{postgres_only:ALTER TABLE audit_events ALTER COLUMN detail TYPE text, ALTER COLUMN data_changes TYPE text};
{postgres_only:ALTER TABLE ticket_errors ALTER COLUMN details TYPE text};
{postgres_only:ALTER TABLE jobs ALTER COLUMN payload TYPE text}
"#;

// Two sources of index entries a step wrote for nothing (PostgreSQL; counted
// with `pg_waldump` in BENCHMARKS.md, session 25):
// - An instance's row changes at every step and outgrew the room `fillfactor
//   = 80` left in its page: of the order-fulfilment benchmark's instance
//   updates, a third went to another page, each a new entry in all three of
//   the table's indexes. Half of each page is now left free.
// - A job (an automated step to run) was two entries, its `id` key and
//   `jobs_due (run_at)`. Jobs are to be taken in due order, and the pair
//   names one, so `(run_at, id)` is the key and the only index. (Nothing
//   reads jobs yet: the committer writes them for the automated steps'
//   worker to come.) SQLite's `id` is the row id, which costs no index;
//   there `jobs_due` stays.
const FEWER_ENTRIES_PER_STEP: &str = r#"
{postgres_only:ALTER TABLE instances SET (fillfactor = 50)};
{postgres_only:ALTER TABLE jobs DROP CONSTRAINT jobs_pkey};
{postgres_only:ALTER TABLE jobs ADD PRIMARY KEY (run_at, id)};
{postgres_only:DROP INDEX jobs_due}
"#;

// The unclaimed side of the inbox lists a run through its role or the users
// its assignment names, so a run without an assignment (an automated step,
// a task nobody is assigned to) is in nobody's inbox. `task_runs_pool` held
// those too: an entry at each activation of an automated step (in the
// order-fulfilment benchmark half the pool's entries). It now holds only runs
// with an assignment, and the inbox's queries say so, as the index does.
const POOL_OF_ASSIGNABLE_RUNS: &str = r#"
DROP INDEX task_runs_pool;
{postgres_only:CREATE INDEX task_runs_pool ON task_runs
    (company_id, eligible_role, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NULL AND assignment IS NOT NULL AND status IN ('OPEN', 'IN_PROGRESS', 'PENDING')};
{sqlite_only:CREATE INDEX task_runs_pool ON task_runs
    (company_id, eligible_role, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NULL AND assignment IS NOT NULL AND (status = 'OPEN' OR status = 'IN_PROGRESS' OR status = 'PENDING')}
"#;

// A run's id is computed from its instance and its place there: `((instance
// id + base) << 20) + seq` (`crate::RunIds`), so `task_runs` needs one unique
// index, its key, instead of two (the key and `(instance_id, seq)`). Both were
// written at each activation and again at each completion, which is a new row
// version (the status is in the open-run indexes' conditions): on PostgreSQL
// the two unique indexes were the largest items of a benchmark run's log
// (BENCHMARKS.md, sessions 25 and 26). An instance's runs are the key's range
// `[(id + base) << 20, ((id + base) << 20) + 2^20)`.
//
// Runs written before keep their place but are renumbered; `base` puts every
// new id above every old one, so an old id (in a link someone kept) is never
// another run's, and `task_run_aliases` leads it to the run's new id. On a
// new database `base` is 0.
//
// On SQLite a table is stored in the order of its row id. With the run's id
// as its row id, a run activated on an older instance went between that
// instance's runs, into a full page, which split: a completion's batch
// touched a page per run instead of the table's last one, and Document Edit
// slowed by a third (BENCHMARKS.md, session 26). There the row id stays a
// counter, rows are stored in the order they were written, and the id has a
// unique index of its own: what `(instance_id, seq)` was.
const RUN_IDS_FROM_INSTANCE_AND_SEQ: &str = r#"
CREATE TABLE task_run_ids (base BIGINT NOT NULL);
INSERT INTO task_run_ids (base) SELECT COALESCE((MAX(id) >> 20) + 1, 0) FROM task_runs;
CREATE TABLE task_run_aliases (
    company_id BIGINT NOT NULL,
    old_id BIGINT NOT NULL,
    run_id BIGINT NOT NULL,
    PRIMARY KEY (company_id, old_id)
);
INSERT INTO task_run_aliases (company_id, old_id, run_id)
    SELECT company_id, id, ((instance_id + (SELECT base FROM task_run_ids)) << 20) + seq FROM task_runs;
{postgres_only:UPDATE task_runs SET id = ((instance_id + (SELECT base FROM task_run_ids)) << 20) + seq};
{postgres_only:ALTER TABLE task_runs DROP CONSTRAINT task_runs_instance_id_seq_key};
{postgres_only:ALTER TABLE task_runs ALTER COLUMN id DROP IDENTITY};
{sqlite_only:CREATE TABLE task_runs_renumbered (
    id INTEGER NOT NULL,
    company_id BIGINT NOT NULL,
    instance_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    task_key TEXT NOT NULL,
    status TEXT NOT NULL,
    run BIGINT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    assignment TEXT,
    eligible_role TEXT,
    assignee_id BIGINT,
    due_at BIGINT,
    overdue BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_by BIGINT,
    ticket_id BIGINT,
    definition_version_id BIGINT,
    ticket_title TEXT
)};
{sqlite_only:INSERT INTO task_runs_renumbered (id, company_id, instance_id, seq, task_key, status, run, input, output,
    assignment, eligible_role, assignee_id, due_at, overdue, created_at, updated_at, completed_by, ticket_id,
    definition_version_id, ticket_title)
    SELECT ((instance_id + (SELECT base FROM task_run_ids)) << 20) + seq, company_id, instance_id, seq, task_key,
    status, run, input, output, assignment, eligible_role, assignee_id, due_at, overdue, created_at, updated_at,
    completed_by, ticket_id, definition_version_id, ticket_title FROM task_runs ORDER BY rowid};
{sqlite_only:DROP TABLE task_runs};
{sqlite_only:ALTER TABLE task_runs_renumbered RENAME TO task_runs};
{sqlite_only:CREATE UNIQUE INDEX task_runs_id ON task_runs (id)};
{sqlite_only:CREATE INDEX task_runs_assignee_ticket ON task_runs (company_id, assignee_id, ticket_id)
    WHERE assignee_id IS NOT NULL};
{sqlite_only:CREATE INDEX task_runs_assignee ON task_runs
    (company_id, assignee_id, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NOT NULL AND (status = 'OPEN' OR status = 'IN_PROGRESS' OR status = 'PENDING')};
{sqlite_only:CREATE INDEX task_runs_pool ON task_runs
    (company_id, eligible_role, (CASE WHEN overdue <> 0 THEN 0 ELSE COALESCE(due_at, 9223372036854775807) END), id)
    WHERE assignee_id IS NULL AND assignment IS NOT NULL AND (status = 'OPEN' OR status = 'IN_PROGRESS' OR status = 'PENDING')}
"#;

// A user sees the tickets of the runs they were assigned (dealt or claimed)
// through `ticket_access` pairs, as they see those of the runs they completed
// (migration 19): the committer writes the pair when it deals the run, a claim
// when it takes one. It was `task_runs_assignee_ticket (company_id,
// assignee_id, ticket_id)`, an entry at each activation of an assigned run and
// another at its completion, a new row version: 6 % of the group commit's
// server instructions (BENCHMARKS.md, session 26). An assignee usually
// completes the run, and then the pair is there already. A user who was given
// a run and gave it back still sees its ticket, as one who completed a run does.
const ASSIGNEES_IN_TICKET_ACCESS: &str = r#"
INSERT INTO ticket_access (company_id, grantee, ticket_id)
    SELECT DISTINCT company_id, 'user:' || assignee_id, ticket_id FROM task_runs
    WHERE assignee_id IS NOT NULL AND ticket_id IS NOT NULL
    ON CONFLICT DO NOTHING;
DROP INDEX task_runs_assignee_ticket
"#;

fn render(template: &str, backend: DbBackend) -> String {
    let (id, json, search) = match backend {
        DbBackend::Postgres => ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "JSONB", SEARCH_POSTGRES),
        _ => ("INTEGER PRIMARY KEY", "TEXT", SEARCH_SQLITE),
    };
    let mut sql = template.replace("{id}", id).replace("{json}", json).replace("{search}", search);
    // `{postgres_only:…}` and `{sqlite_only:…}` hold a statement only one backend runs.
    for (marker, runs) in
        [("{postgres_only:", backend == DbBackend::Postgres), ("{sqlite_only:", backend != DbBackend::Postgres)]
    {
        while let Some(start) = sql.find(marker) {
            let Some(length) = sql[start..].find('}') else { break };
            let statement = sql[start + marker.len()..start + length].to_owned();
            sql.replace_range(start..=start + length, if runs { &statement } else { "" });
        }
    }
    sql
}

/// Splits a migration into statements at `;`, keeping a trigger's
/// `BEGIN … END` body (whose statements end in `;` too) in one piece.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in sql.split(';') {
        current.push_str(piece);
        let statement = current.trim();
        let in_trigger = statement.to_ascii_uppercase().starts_with("CREATE TRIGGER")
            && !statement.to_ascii_uppercase().ends_with("END");
        if in_trigger {
            current.push(';');
            continue;
        }
        if !statement.is_empty() {
            out.push(statement.to_owned());
        }
        current.clear();
    }
    out
}

/// Applies every migration not yet applied, all in one transaction (both
/// databases have transactional DDL). On PostgreSQL a transaction-scoped
/// advisory lock keeps nodes that start together from migrating twice.
pub async fn run(db: &DatabaseConnection, backend: DbBackend) -> Result<(), DbErr> {
    let tx = db.begin().await?;
    if backend == DbBackend::Postgres {
        sql::exec(&tx, backend, "SELECT pg_advisory_xact_lock(7245301)", vec![]).await?;
    }
    sql::exec(
        &tx,
        backend,
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        vec![],
    )
    .await?;
    let mut migrated = false;
    for (version, template) in MIGRATIONS {
        let applied = sql::one(
            &tx,
            backend,
            "SELECT version FROM schema_migrations WHERE version = $1",
            vec![sql::int(*version)],
        )
        .await?;
        if applied.is_some() {
            continue;
        }
        for statement in statements(&render(template, backend)) {
            tx.execute_unprepared(&statement).await?;
        }
        sql::exec(
            &tx,
            backend,
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            vec![sql::int(*version), sql::int(crate::now_millis())],
        )
        .await?;
        migrated = true;
    }
    if migrated {
        refresh_statistics(&tx, backend).await?;
    }
    if backend == DbBackend::Postgres {
        crate::committer::ensure_function(&tx).await?;
    }
    tx.commit().await
}

/// After a migration, the planner's statistics cover its new indexes and
/// columns: until then PostgreSQL plans them with default guesses (until
/// autovacuum's next analyze), and a SQLite database that keeps statistics
/// (someone ran `ANALYZE`) weighs measured old indexes against guessed new ones
/// (and, for one, sorted a million tickets rather than read `tickets_company_id`).
/// A SQLite database without statistics is left without them.
async fn refresh_statistics(tx: &impl ConnectionTrait, backend: DbBackend) -> Result<(), DbErr> {
    let keeps_statistics = match backend {
        DbBackend::Postgres => true,
        _ => {
            sql::one(tx, backend, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'", vec![])
                .await?
                .is_some()
        }
    };
    if keeps_statistics {
        analyze(tx, backend).await?;
    }
    Ok(())
}

/// Merges SQLite's full-text index into one segment, as migration 15 does
/// (the same statement); nothing on PostgreSQL, where VACUUM merges the GIN
/// index's pending entries.
pub(crate) async fn optimize_search_index(db: &impl ConnectionTrait, backend: DbBackend) -> Result<(), DbErr> {
    for statement in statements(&render(SEARCH_INDEX_OPTIMIZED, backend)) {
        db.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// Refreshes the planner's statistics. On SQLite only the per-index row
/// counts (`sqlite_stat1`) are kept: the bundled SQLite is built with STAT4,
/// and with STAT4 samples present every statement whose parameters touch an
/// indexed column is prepared anew at each execution (binding a parameter
/// expires it) — a third of the CPU of an inbox request in a profile.
pub(crate) async fn analyze(db: &impl ConnectionTrait, backend: DbBackend) -> Result<(), DbErr> {
    match backend {
        DbBackend::Postgres => {
            db.execute_unprepared("ANALYZE").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
            let stat4 = sql::one(
                db,
                backend,
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat4'",
                vec![],
            )
            .await?;
            if stat4.is_some() {
                db.execute_unprepared("DELETE FROM sqlite_stat4").await?;
                // Reloads the statistics into this connection's schema.
                db.execute_unprepared("ANALYZE sqlite_schema").await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::run;
    use crate::sql;
    use crate::{Store, StoreOptions};
    use sea_orm::DbBackend;

    /// A migrated SQLite store in a directory of its own (kept while the test runs).
    async fn fresh_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(StoreOptions::new(&url)).await.expect("a store");
        (dir, store)
    }

    /// The one integer `query` answers.
    async fn count(store: &Store, query: &str, params: Vec<sea_orm::Value>) -> i64 {
        let row = sql::one(store.db(), DbBackend::Sqlite, query, params).await.expect(query).expect("a row");
        row.try_get_by_index(0).expect("an integer")
    }

    /// The segments of SQLite's full-text index for tickets.
    async fn search_segments(store: &Store) -> i64 {
        count(store, "SELECT count(DISTINCT segid) FROM ticket_search_idx", vec![]).await
    }

    async fn search_hits(store: &Store, word: &str) -> i64 {
        count(store, "SELECT count(*) FROM ticket_search WHERE ticket_search MATCH $1", vec![sql::text(word)]).await
    }

    /// Each statement outside a transaction writes a segment of its own.
    async fn index_in_separate_commits(store: &Store, words: &[&str]) {
        for (id, word) in (1_i64..).zip(words) {
            sql::exec(
                store.db(),
                DbBackend::Sqlite,
                "INSERT INTO ticket_search (rowid, title, fields, comments) VALUES ($1, $2, '', '')",
                vec![sql::int(id), sql::text(*word)],
            )
            .await
            .expect("an index entry");
        }
    }

    #[tokio::test]
    async fn migration_15_merges_the_search_index_into_one_segment_that_still_answers() {
        let (_dir, store) = fresh_store().await;
        index_in_separate_commits(&store, &["invoice", "refund", "invoice", "shipping", "refund", "invoice"]).await;
        assert!(search_segments(&store).await > 1, "every commit wrote a segment");
        // As on a database migrated from version 14.
        sql::exec(store.db(), DbBackend::Sqlite, "DELETE FROM schema_migrations WHERE version = 15", vec![])
            .await
            .expect("forgotten");
        run(store.db(), DbBackend::Sqlite).await.expect("migrated");
        assert_eq!(search_segments(&store).await, 1);
        assert_eq!((search_hits(&store, "invoice").await, search_hits(&store, "refund").await), (3, 2));
    }

    /// A database from before migration 19 keeps who may see its tickets:
    /// every role a run was eligible to and every user who completed one,
    /// each pair once, and the two indexes that answered it are gone.
    #[tokio::test]
    async fn migration_19_keeps_who_may_see_tickets_through_their_runs() {
        let (_dir, store) = fresh_store().await;
        let db = store.db();
        let exec = |statement: &'static str| async move {
            sql::exec(db, DbBackend::Sqlite, statement, vec![]).await.expect(statement);
        };
        // As on a database migrated to version 18.
        exec("DROP TABLE ticket_access").await;
        exec("DELETE FROM schema_migrations WHERE version = 19").await;
        exec("CREATE INDEX task_runs_role_ticket ON task_runs (company_id, eligible_role, ticket_id) WHERE eligible_role IS NOT NULL").await;
        exec("CREATE INDEX task_runs_completer_ticket ON task_runs (company_id, completed_by, ticket_id) WHERE completed_by IS NOT NULL").await;
        // Ticket 10: two runs for editors, one completed by user 5; ticket 11:
        // a run of nobody's role completed by user 5; a run of no ticket.
        exec(
            "INSERT INTO task_runs (id, company_id, instance_id, ticket_id, seq, task_key, status, run, input, overdue, \
             created_at, updated_at, eligible_role, completed_by) VALUES \
             (1, 1, 100, 10, 1, 'edit', 'COMPLETED', 1, '{}', 0, 0, 0, 'editor', 5), \
             (2, 1, 100, 10, 2, 'edit', 'OPEN', 2, '{}', 0, 0, 0, 'editor', NULL), \
             (3, 1, 101, 11, 1, 'check', 'COMPLETED', 1, '{}', 0, 0, 0, NULL, 5), \
             (4, 1, 102, NULL, 1, 'check', 'OPEN', 1, '{}', 0, 0, 0, 'editor', NULL)",
        )
        .await;
        run(store.db(), DbBackend::Sqlite).await.expect("migrated");
        let rows = sql::all(
            store.db(),
            DbBackend::Sqlite,
            "SELECT company_id, grantee, ticket_id FROM ticket_access ORDER BY ticket_id, grantee",
            vec![],
        )
        .await
        .expect("the pairs");
        let pairs: Vec<(i64, String, i64)> = rows
            .iter()
            .map(|r| {
                let cell = |n| r.try_get_by_index::<i64>(n).expect("an integer");
                (cell(0), r.try_get_by_index(1).expect("a grantee"), cell(2))
            })
            .collect();
        let expected =
            [(1, "role:editor", 10), (1, "user:5", 10), (1, "user:5", 11)].map(|(c, g, t)| (c, g.to_owned(), t));
        assert_eq!(pairs, expected);
        let left =
            "SELECT count(*) FROM sqlite_master WHERE name IN ('task_runs_role_ticket', 'task_runs_completer_ticket')";
        assert_eq!(count(&store, left, vec![]).await, 0);
    }

    #[tokio::test]
    async fn the_search_index_merges_eight_segments_at_a_time() {
        let (_dir, store) = fresh_store().await;
        // FTS5 keeps its settings in the index's own config table; a setting
        // never made is not there (and the default, 4, applies).
        let automerge = "SELECT COALESCE((SELECT v FROM ticket_search_config WHERE k = 'automerge'), 4)";
        assert_eq!(count(&store, automerge, vec![]).await, 8);
        index_in_separate_commits(&store, &["alpha", "beta", "alpha"]).await;
        assert_eq!(search_hits(&store, "alpha").await, 2);
    }

    #[tokio::test]
    async fn settling_after_a_bulk_load_merges_the_search_index() {
        let (_dir, store) = fresh_store().await;
        index_in_separate_commits(&store, &["alpha", "beta", "gamma", "alpha"]).await;
        assert!(search_segments(&store).await > 1);
        store.settle_after_bulk_load().await.expect("settled");
        assert_eq!(search_segments(&store).await, 1);
        assert_eq!(search_hits(&store, "alpha").await, 2);
    }
}
