//! `ticketflower bench-web`: the web application under load on loopback.
//!
//! For each database: a fresh database with the demo company and a million
//! Document Edit tickets (2 % still open), the real server on a random port,
//! and a Rust load generator at concurrency 1, 16 and 64 for three requests:
//! creating a ticket (a form POST that starts its workflow), the editor's
//! inbox and the ticket list. It prints requests/s, p50 and p99, the raw
//! database transaction rate measured in the same run, and the query plans
//! of the inbox and list queries.

use super::http_load::{Connection, Request};
use serde::Serialize;
use std::time::{Duration, Instant};
use ticketflower_store::{Store, StoreOptions, TicketScope};
use ticketflower_web::{AppState, WebSettings, demo};

pub struct Args {
    pub seconds: f64,
    pub tickets: i64,
    pub sqlite_path: std::path::PathBuf,
    pub postgres: Option<String>,
    /// Which requests to measure: any of create, inbox, list.
    pub only: Vec<String>,
    pub json: bool,
}

impl Args {
    fn measures(&self, request: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|r| r == request)
    }
}

#[derive(Debug, Serialize)]
struct Figure {
    database: String,
    request: String,
    concurrency: usize,
    requests: usize,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct DatabaseReport {
    database: String,
    existing_tickets: i64,
    fill_seconds: f64,
    raw_transactions_per_second: f64,
    ticket_creation_to_raw_at_16: f64,
    figures: Vec<Figure>,
    list_plan: Vec<String>,
    inbox_plan: Vec<String>,
}

pub async fn run(args: &Args) -> anyhow::Result<std::process::ExitCode> {
    let mut targets = Vec::new();
    if let Some(parent) = args.sqlite_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.sqlite_path.display()));
    }
    targets.push(("sqlite".to_owned(), format!("sqlite://{}?mode=rwc", args.sqlite_path.display())));
    if let Some(url) = &args.postgres {
        let url = ticketflower_store::recreate_postgres_database(url, "ticketflower_bench_web").await?;
        targets.push(("postgres".to_owned(), url));
    }
    let mut reports = Vec::new();
    for (database, url) in targets {
        reports.push(run_database(&database, &url, args).await?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_database(database: &str, url: &str, args: &Args) -> anyhow::Result<DatabaseReport> {
    let store = Store::connect(StoreOptions::new(url)).await?;
    let logins = demo::seed(&store, demo::COMPANY).await?;
    let company = store.company_by_name(demo::COMPANY).await?.ok_or_else(|| anyhow::anyhow!("no demo company"))?;
    let author =
        logins.iter().find(|l| l.email.starts_with("author@")).cloned().ok_or_else(|| anyhow::anyhow!("no author"))?;
    let editor =
        logins.iter().find(|l| l.email.starts_with("editor@")).cloned().ok_or_else(|| anyhow::anyhow!("no editor"))?;
    let desk =
        logins.iter().find(|l| l.email.starts_with("desk@")).cloned().ok_or_else(|| anyhow::anyhow!("no desk"))?;
    let author_id = store.user_by_email(company, &author.email).await?;
    let template = store
        .create_ticket(
            company,
            ticketflower_store::NewTicket {
                definition: "document-edit".into(),
                ticket_type: "edit-request".into(),
                fields: serde_json::json!({"title": "Quarterly report", "submitted_doc": "Revenue grew in every region."}),
                creator: author_id,
            },
        )
        .await?;
    let started = Instant::now();
    let mut filled = 0;
    while filled < args.tickets {
        let chunk = (args.tickets - filled).min(100_000);
        store.bench_fill_tickets(company, template.ticket, chunk, 50).await?;
        filled += chunk;
    }
    store.settle_after_bulk_load().await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    if !args.json {
        println!("{database}: {filled} tickets in {fill_seconds:.0} s");
    }

    let files = tempfile_dir()?;
    let state = AppState::new(
        store.clone(),
        WebSettings {
            files_dir: files,
            secure_cookies: false,
            secret_key: ticketflower_store::SecretKey::generate()?,
            assistant: None,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let base = format!("http://{address}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ticketflower_web::serve(listener, state, async move {
        let _ = stopped.await;
    }));

    let (author_client, author_cookie) = logged_in(&base, &author.email, &author.password).await?;
    let (_, editor_cookie) = logged_in(&base, &editor.email, &editor.password).await?;
    let (_, desk_cookie) = logged_in(&base, &desk.email, &desk.password).await?;
    let token = csrf_token(&author_client, &base).await?;
    let duration = Duration::from_secs_f64(args.seconds);
    let create = Job {
        method: "POST",
        path: "/tickets/new/document-edit/edit-request",
        cookie: author_cookie,
        // The title comes last: each request appends its number to it.
        form: Some(serde_urlencoded::to_string([
            ("_csrf", token.as_str()),
            ("submitted_doc", "Some text."),
            ("title", "Load test ticket "),
        ])?),
        expect: 303,
    };
    let inbox = Job { method: "GET", path: "/inbox", cookie: editor_cookie, form: None, expect: 200 };
    let list = Job { method: "GET", path: "/tickets", cookie: desk_cookie, form: None, expect: 200 };
    let mut figures = Vec::new();
    for concurrency in [1usize, 16, 64] {
        let before = figures.len();
        for (key, name, job) in [
            ("create", "create ticket (POST)", &create),
            ("inbox", "inbox (GET /inbox)", &inbox),
            ("list", "ticket list (GET /tickets)", &list),
        ] {
            if args.measures(key) {
                let samples = load(&address, concurrency, duration, job).await?;
                figures.push(figure(database, name, concurrency, samples));
            }
        }
        if !args.json {
            for f in &figures[before..] {
                println!(
                    "{:<9} {:<28} c={:<3} {:>8.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
                    f.database, f.request, f.concurrency, f.requests_per_second, f.p50_ms, f.p99_ms
                );
            }
        }
    }
    let _ = stop.send(());
    let _ = server.await;

    let raw = store.raw_step_rate(16, Duration::from_secs_f64(args.seconds)).await?;
    let create_16 = figures
        .iter()
        .find(|f| f.request.starts_with("create") && f.concurrency == 16)
        .map(|f| f.requests_per_second)
        .unwrap_or_default();
    let list_filter = ticketflower_store::TicketFilter::new(TicketScope::All);
    let list_plan = store.explain_ticket_list(company, &list_filter).await?;
    let editor_id = store.user_by_email(company, &editor.email).await?.ok_or_else(|| anyhow::anyhow!("no editor"))?;
    let roles = vec!["editor".to_owned()];
    let worker = ticketflower_store::Worker { user: editor_id, email: &editor.email, roles: &roles };
    let inbox_plan = store.explain_inbox(company, &worker, 50).await?;
    if !args.json {
        println!(
            "{database}: raw INSERT+UPDATE transactions {raw:.0}/s ({}); ticket creation at c=16 is {:.2}× raw",
            if database == "sqlite" { "the committer's connection" } else { "16 workers" },
            create_16 / raw
        );
        println!("{database}: ticket list plan:\n  {}", list_plan.join("\n  "));
        println!("{database}: inbox plan:\n  {}", inbox_plan.join("\n  "));
    }
    Ok(DatabaseReport {
        database: database.to_owned(),
        existing_tickets: filled,
        fill_seconds,
        raw_transactions_per_second: raw,
        ticket_creation_to_raw_at_16: create_16 / raw,
        figures,
        list_plan,
        inbox_plan,
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ticketflower-bench-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A client logged in as `email`, and its session cookie (`Cookie` header value).
async fn logged_in(base: &str, email: &str, password: &str) -> anyhow::Result<(reqwest::Client, String)> {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client =
        reqwest::Client::builder().cookie_provider(jar.clone()).redirect(reqwest::redirect::Policy::none()).build()?;
    let response =
        client.post(format!("{base}/login")).form(&[("email", email), ("password", password)]).send().await?;
    anyhow::ensure!(response.status() == 303, "login of {email} answered {}", response.status());
    let cookie = reqwest::cookie::CookieStore::cookies(&*jar, &base.parse()?)
        .ok_or_else(|| anyhow::anyhow!("no session cookie after the login of {email}"))?;
    Ok((client, cookie.to_str()?.to_owned()))
}

async fn csrf_token(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let page = client.get(format!("{base}/account/password")).send().await?.text().await?;
    let marker = "name=\"_csrf\" value=\"";
    let start = page.find(marker).ok_or_else(|| anyhow::anyhow!("no csrf token"))? + marker.len();
    Ok(page[start..start + 64].to_owned())
}

/// One kind of request the load generator sends over and over.
struct Job {
    method: &'static str,
    path: &'static str,
    /// The session's `Cookie` header value.
    cookie: String,
    /// The form body, encoded; each request appends its own number (so every
    /// ticket created gets a title of its own).
    form: Option<String>,
    /// The status every answer must have.
    expect: u16,
}

/// Sends `job` from `concurrency` workers, each on a keep-alive connection of
/// its own, for `duration`; returns each request's latency (sorted), then the
/// elapsed time.
async fn load(address: &str, concurrency: usize, duration: Duration, job: &Job) -> anyhow::Result<Vec<Duration>> {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let mut connection = Connection::new(address);
        let (method, path, cookie, form, expect) =
            (job.method, job.path, job.cookie.clone(), job.form.clone(), job.expect);
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut body = String::new();
            let mut n = worker * 1_000_000;
            while started.elapsed() < duration {
                if let Some(form) = &form {
                    body.clear();
                    body.push_str(form);
                    body.push_str(&n.to_string());
                }
                let request =
                    Request { method, path, cookie: Some(&cookie), form: form.as_ref().map(|_| body.as_str()) };
                let sent = Instant::now();
                let status = connection.send(&request).await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status == expect, "{method} {path} answered {status}, not {expect}");
                n += 1;
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(latencies) = workers.join_next().await {
        all.extend(latencies??);
    }
    all.sort();
    // Requests per second over the real elapsed time, including the tail.
    all.push(started.elapsed());
    Ok(all)
}

fn figure(database: &str, request: &str, concurrency: usize, mut samples: Vec<Duration>) -> Figure {
    let elapsed = samples.pop().unwrap_or_default();
    let at = |q: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    Figure {
        database: database.to_owned(),
        request: request.to_owned(),
        concurrency,
        requests: samples.len(),
        requests_per_second: samples.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    }
}
