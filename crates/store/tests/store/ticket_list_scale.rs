//! The ticket list at a million tickets, per scope (ignored: run by hand, in release).
//!
//! ```sh
//! TICKETFLOWER_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test --release -p ticketflower-store --test store ticket_list_scale -- --ignored --nocapture
//! ```
//!
//! SQLite fills a file in the temporary directory; PostgreSQL a database of its
//! own (`ticketflower_list_scale`, next to the test database, never the test
//! database itself). Both are removed at the end unless
//! `TICKETFLOWER_BENCH_KEEP=1`; with `TICKETFLOWER_BENCH_REUSE=1` a kept
//! database is measured again without refilling (its migrations run at connect,
//! and their time is printed). `TICKETFLOWER_BENCH_TICKETS` sets the size
//! (default 1,000,000).
// (lints: allowed by the test binary root, tests/store.rs)

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use ticketflower_store::{
    CompanyId, NewTicket, NewUser, Store, StoreOptions, TicketFilter, TicketId, TicketScope, UserId,
};

const COMPANY: &str = "List Scale";
const DATABASE: &str = "ticketflower_list_scale";
/// Chunks of the fill; the sparse users' tickets are created between them.
const CHUNKS: i64 = 10;

const AUDIT_FLOW: &str = r#"
format: ticketflower/v1
key: audit-flow
title: Audit flow
roles: [auditor]
fields: {type: object, properties: {}}
tickets:
  - key: audit
    title: Audit
    fields: {type: object, properties: {title: {type: string}}}
tasks:
  - {key: check, title: Check, type: form, depends_on: [], assign: {role: auditor}, output_schema: {type: object, properties: {}}}
transitions:
  - {from: check, status: COMPLETED}
"#;

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn tickets_wanted() -> i64 {
    std::env::var("TICKETFLOWER_BENCH_TICKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let prefix = base.rsplit_once('/').map(|(prefix, _)| prefix).unwrap_or(base);
    format!("{prefix}/{name}{query}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fills a million tickets per database; run by hand in release"]
async fn ticket_list_at_a_million_tickets() {
    let reuse = env_flag("TICKETFLOWER_BENCH_REUSE");
    let keep = env_flag("TICKETFLOWER_BENCH_KEEP");
    let sqlite_path = std::env::temp_dir().join("ticketflower-list-scale.db");
    if !reuse {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
        }
    }
    let mut targets = vec![("sqlite", format!("sqlite://{}?mode=rwc", sqlite_path.display()))];
    let postgres = std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty());
    if let Some(url) = &postgres {
        let bench_url = if reuse {
            with_database(url, DATABASE)
        } else {
            ticketflower_store::recreate_postgres_database(url, DATABASE).await.unwrap()
        };
        targets.push(("postgres", bench_url));
    }
    for (database, url) in &targets {
        measure(database, url).await;
    }
    if !keep {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", sqlite_path.display()));
        }
        if let Some(url) = &postgres {
            let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
            sea_orm::ConnectionTrait::execute_unprepared(
                &db,
                &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
            )
            .await
            .unwrap();
            db.close().await.unwrap();
        }
    }
}

/// The people of the benchmark company and what they may see.
struct People {
    company: CompanyId,
    editor: UserId,
    author: UserId,
    sam: UserId,
    rita: UserId,
    olga: UserId,
}

async fn user(store: &Store, company: CompanyId, name: &str, roles: &[&str]) -> UserId {
    let email = format!("{name}@list-scale.example");
    if let Some(id) = store.user_by_email(company, &email).await.unwrap() {
        return id;
    }
    store
        .add_user(
            company,
            NewUser {
                email,
                display_name: name.into(),
                password_hash: "x".into(),
                permissions: vec![],
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            },
        )
        .await
        .unwrap()
}

async fn people(store: &Store, company: CompanyId) -> People {
    People {
        company,
        editor: user(store, company, "editor", &["editor"]).await,
        author: user(store, company, "author", &["author"]).await,
        sam: user(store, company, "sam", &[]).await,
        rita: user(store, company, "rita", &["auditor"]).await,
        olga: user(store, company, "olga", &[]).await,
    }
}

fn edit_request(title: &str, creator: UserId) -> NewTicket {
    NewTicket {
        definition: "document-edit".into(),
        ticket_type: "edit-request".into(),
        fields: json!({"title": title, "submitted_doc": "Revenue grew in every region."}),
        creator: Some(creator),
    }
}

/// A fresh company: `tickets` copies of the author's ticket (each with an open or
/// completed run eligible to `editor`), three tickets of Sam's (oldest, middle,
/// newest) and two audit tickets (a run eligible to `auditor`) per chunk.
async fn fill(store: &Store, tickets: i64) -> People {
    let company = store.create_company(COMPANY).await.unwrap();
    let p = people(store, company).await;
    for yaml in [super::DOCUMENT_EDIT, AUDIT_FLOW] {
        let document: Value = serde_norway::from_str(yaml).unwrap();
        let imported = store.import_definition(company, &document, None).await.unwrap();
        store.activate_version(company, &imported.key, imported.version).await.unwrap();
    }
    let template = store.create_ticket(company, edit_request("Quarterly report", p.author)).await.unwrap();
    let started = Instant::now();
    let chunk = tickets / CHUNKS;
    for n in 0..CHUNKS {
        if n == 0 || n == CHUNKS / 2 {
            store.create_ticket(company, edit_request(&format!("Sam's request {n}"), p.sam)).await.unwrap();
        }
        for k in 0..2 {
            let audit = NewTicket {
                definition: "audit-flow".into(),
                ticket_type: "audit".into(),
                fields: json!({"title": format!("Audit {n}.{k}")}),
                creator: None,
            };
            store.create_ticket(company, audit).await.unwrap();
        }
        store.bench_fill_tickets(company, template.ticket, chunk, 50).await.unwrap();
    }
    store.create_ticket(company, edit_request("Sam's last request", p.sam)).await.unwrap();
    println!("  filled {tickets} tickets in {:.0} s", started.elapsed().as_secs_f64());
    let started = Instant::now();
    store.settle_after_bulk_load().await.unwrap();
    println!("  settled (vacuum, search index, statistics) in {:.1} s", started.elapsed().as_secs_f64());
    p
}

fn restricted(user: UserId, types: &[&str], roles: &[&str]) -> TicketFilter {
    TicketFilter::new(TicketScope::Restricted {
        user,
        ticket_types: types.iter().map(|t| (*t).to_owned()).collect(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    })
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// Median milliseconds of `runs` list calls (after one warm-up), with the ids of the page.
async fn time_list(store: &Store, company: CompanyId, filter: &TicketFilter, runs: usize) -> (f64, Vec<TicketId>) {
    let page = store.list_tickets(company, filter).await.unwrap();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let again = store.list_tickets(company, filter).await.unwrap();
        samples.push(started.elapsed());
        assert_eq!(again, page);
    }
    (median(samples), page.tickets.iter().map(|t| t.id).collect())
}

/// Every ticket the filter selects, page by page.
async fn everything(store: &Store, company: CompanyId, filter: TicketFilter) -> Vec<TicketId> {
    let mut filter = TicketFilter { limit: TicketFilter::MAX_LIMIT, ..filter };
    let mut ids = Vec::new();
    loop {
        let page = store.list_tickets(company, &filter).await.unwrap();
        ids.extend(page.tickets.iter().map(|t| t.id));
        match page.next_before {
            Some(before) => filter.before = Some(before),
            None => return ids,
        }
    }
}

async fn measure(database: &str, url: &str) {
    println!("== {database}");
    let started = Instant::now();
    let store = Store::connect(StoreOptions::new(url)).await.unwrap();
    println!("  connect (with migrations) {:.1} s", started.elapsed().as_secs_f64());
    let p = match store.company_by_name(COMPANY).await.unwrap() {
        Some(company) => people(&store, company).await,
        None => fill(&store, tickets_wanted()).await,
    };
    let c = p.company;
    // Where the deep pages start: the middle of the ids, and the middle of each sparse user's tickets.
    let newest = store.list_tickets(c, &TicketFilter::new(TicketScope::All)).await.unwrap().tickets[0].id;
    let count = store.count_rows(c, "tickets").await.unwrap();
    let middle = TicketId(newest.0 - count / 2);
    println!("  {count} tickets, newest id {}, deep pages before id {}", newest.0, middle.0);
    let sam_all = everything(&store, c, restricted(p.sam, &[], &[])).await;
    let rita_all = everything(&store, c, restricted(p.rita, &[], &["auditor"])).await;
    assert_eq!(sam_all.len(), 3, "Sam sees his three tickets");
    assert_eq!(rita_all.len(), 2 * CHUNKS as usize, "Rita sees the audit tickets");
    let (sam_middle, rita_middle) = (sam_all[1], rita_all[rita_all.len() / 2]);

    let scenarios: Vec<(&str, TicketFilter)> = vec![
        ("all (ticket admin)", TicketFilter::new(TicketScope::All)),
        ("all, deep page", TicketFilter { before: Some(middle), ..TicketFilter::new(TicketScope::All) }),
        (
            "all + status IN_PROGRESS",
            TicketFilter { status: Some("IN_PROGRESS".into()), ..TicketFilter::new(TicketScope::All) },
        ),
        (
            "all + status COMPLETED",
            TicketFilter { status: Some("COMPLETED".into()), ..TicketFilter::new(TicketScope::All) },
        ),
        ("all + status NEW (none)", TicketFilter { status: Some("NEW".into()), ..TicketFilter::new(TicketScope::All) }),
        (
            "all + status COMPLETED, deep page",
            TicketFilter {
                status: Some("COMPLETED".into()),
                before: Some(middle),
                ..TicketFilter::new(TicketScope::All)
            },
        ),
        ("editor: role editor (sees ~all)", restricted(p.editor, &[], &["editor"])),
        ("editor, deep page", TicketFilter { before: Some(middle), ..restricted(p.editor, &[], &["editor"]) }),
        ("author: type edit-request + own (~all)", restricted(p.author, &["edit-request"], &["author"])),
        (
            "author, deep page",
            TicketFilter { before: Some(middle), ..restricted(p.author, &["edit-request"], &["author"]) },
        ),
        ("sam: own 3 tickets", restricted(p.sam, &[], &[])),
        ("sam, deep page", TicketFilter { before: Some(sam_middle), ..restricted(p.sam, &[], &[]) }),
        ("rita: role auditor (20 tickets)", restricted(p.rita, &[], &["auditor"])),
        ("rita, deep page", TicketFilter { before: Some(rita_middle), ..restricted(p.rita, &[], &["auditor"]) }),
        ("olga: sees nothing", restricted(p.olga, &[], &[])),
        (
            "editor + status IN_PROGRESS",
            TicketFilter { status: Some("IN_PROGRESS".into()), ..restricted(p.editor, &[], &["editor"]) },
        ),
        (
            "editor + status NEW (none)",
            TicketFilter { status: Some("NEW".into()), ..restricted(p.editor, &[], &["editor"]) },
        ),
        (
            "rita + type audit",
            TicketFilter { ticket_type: Some("audit".into()), ..restricted(p.rita, &[], &["auditor"]) },
        ),
        ("sam + assignee editor", TicketFilter { assignee: Some(p.editor), ..restricted(p.sam, &[], &[]) }),
        (
            "editor + status COMPLETED",
            TicketFilter { status: Some("COMPLETED".into()), ..restricted(p.editor, &[], &["editor"]) },
        ),
        (
            "rita + status COMPLETED (none)",
            TicketFilter { status: Some("COMPLETED".into()), ..restricted(p.rita, &[], &["auditor"]) },
        ),
        (
            "rita + status IN_PROGRESS",
            TicketFilter { status: Some("IN_PROGRESS".into()), ..restricted(p.rita, &[], &["auditor"]) },
        ),
        ("sam + status COMPLETED", TicketFilter { status: Some("COMPLETED".into()), ..restricted(p.sam, &[], &[]) }),
        (
            "olga + status IN_PROGRESS (none of hers)",
            TicketFilter { status: Some("IN_PROGRESS".into()), ..restricted(p.olga, &[], &[]) },
        ),
        (
            "olga + type audit (none of hers)",
            TicketFilter { ticket_type: Some("audit".into()), ..restricted(p.olga, &[], &[]) },
        ),
        ("all + search audit", TicketFilter { search: Some("audit".into()), ..TicketFilter::new(TicketScope::All) }),
        (
            "editor + search audit",
            TicketFilter { search: Some("audit".into()), ..restricted(p.editor, &[], &["editor"]) },
        ),
        ("rita + search audit", TicketFilter { search: Some("audit".into()), ..restricted(p.rita, &[], &["auditor"]) }),
        ("sam + search request", TicketFilter { search: Some("request".into()), ..restricted(p.sam, &[], &[]) }),
        (
            "all + search revenue (every ticket)",
            TicketFilter { search: Some("revenue".into()), ..TicketFilter::new(TicketScope::All) },
        ),
        (
            "sam + search revenue (every ticket)",
            TicketFilter { search: Some("revenue".into()), ..restricted(p.sam, &[], &[]) },
        ),
        (
            "all + search revenue, deep page",
            TicketFilter {
                search: Some("revenue".into()),
                before: Some(middle),
                ..TicketFilter::new(TicketScope::All)
            },
        ),
        (
            "rita + search revenue (none of hers)",
            TicketFilter { search: Some("revenue".into()), ..restricted(p.rita, &[], &["auditor"]) },
        ),
        (
            "editor + search revenue",
            TicketFilter { search: Some("revenue".into()), ..restricted(p.editor, &[], &["editor"]) },
        ),
        (
            "author + search revenue",
            TicketFilter { search: Some("revenue".into()), ..restricted(p.author, &["edit-request"], &["author"]) },
        ),
        (
            "all + status COMPLETED + search revenue",
            TicketFilter {
                status: Some("COMPLETED".into()),
                search: Some("revenue".into()),
                ..TicketFilter::new(TicketScope::All)
            },
        ),
        (
            "all + search \"revenue sam's\" (3 tickets)",
            TicketFilter { search: Some("revenue sam's".into()), ..TicketFilter::new(TicketScope::All) },
        ),
        (
            "all + search nowhere (no ticket)",
            TicketFilter { search: Some("nowhere".into()), ..TicketFilter::new(TicketScope::All) },
        ),
    ];
    let runs = 9;
    for (name, filter) in &scenarios {
        let (ms, ids) = time_list(&store, c, filter, runs).await;
        println!("  {name:<42} {ms:>9.2} ms  ({} tickets)", ids.len());
    }
    // A ticket's page checks visibility once: Sam and one of the million he may not see.
    let hidden = middle;
    for (name, scope, id) in [
        ("ticket_visible: sam, hidden ticket", restricted(p.sam, &[], &[]).scope, hidden),
        ("ticket_visible: sam, own ticket", restricted(p.sam, &[], &[]).scope, sam_middle),
        ("ticket_visible: editor, by role", restricted(p.editor, &[], &["editor"]).scope, hidden),
    ] {
        let mut samples = Vec::new();
        let mut visible = false;
        for _ in 0..=runs {
            let started = Instant::now();
            visible = store.ticket_visible(c, id, &scope).await.unwrap();
            samples.push(started.elapsed());
        }
        println!("  {name:<42} {:>9.2} ms  (visible: {visible})", median(samples));
    }
    if env_flag("TICKETFLOWER_BENCH_PLANS") {
        for (name, filter) in &scenarios {
            let plan = store.explain_ticket_list(c, filter).await.unwrap();
            println!("  plan of {name}:\n    {}", plan.join("\n    "));
        }
    }
}
