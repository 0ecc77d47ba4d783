//! The `ticketflower` binary: command line, settings and start-up.

mod commands;
mod settings;

// The engine allocates many small JSON values; mimalloc serves them several
// times faster than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// TicketFlower: tickets and workflows for small businesses.
///
/// Workflows are YAML or JSON documents (format: ticketflower/v1). Validate
/// and simulate them locally; import and export them to the database that
/// DATABASE_URL names (default: a SQLite file under ./data/).
#[derive(Debug, Parser)]
#[command(name = "ticketflower", version, about, long_about, max_term_width = 100)]
struct Cli {
    /// Without a command, `serve` runs with its defaults.
    #[command(subcommand)]
    command: Command,
}

/// The command line, with `serve` when it names no command: parsed like any
/// other, so the environment's settings (`TICKETFLOWER_BIND`, …) apply to it.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut arguments: Vec<_> = std::env::args_os().collect();
    if arguments.len() == 1 {
        arguments.push("serve".into());
    }
    arguments
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web application (the default without a command).
    ///
    /// On the first start with an empty database it creates a demo company
    /// with one user per permission and role and the example workflows
    /// activated, and prints the demo logins once.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080", env = "TICKETFLOWER_BIND")]
        bind: std::net::SocketAddr,
        /// Folder for uploaded files (a `files` folder is made inside).
        #[arg(long, default_value = "data", env = "TICKETFLOWER_DATA_DIR")]
        data_dir: PathBuf,
        /// Mark session cookies Secure (when served over https, e.g. behind a proxy).
        #[arg(long, env = "TICKETFLOWER_SECURE_COOKIES")]
        secure_cookies: bool,
    },
    /// Check workflow definition files and list every problem.
    ///
    /// Prints `FILE: valid` (and any warnings) for a valid file, or one line per
    /// problem, `FILE: /json/pointer: message`. Exits 1 when any file has errors.
    Validate {
        /// Definition files (.yaml, .yml or .json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a workflow on sample data without side effects.
    ///
    /// Tasks complete in activation order with the outputs from OUTPUTS (task key
    /// → list of outputs, used in turn; an approval takes {decision, comment}).
    /// http, http_async and ai tasks without a scripted output get a sample
    /// generated from their output_schema. Runs until nothing can progress.
    Simulate {
        /// The definition file.
        file: PathBuf,
        /// Ticket type key (default: the first ticket type).
        #[arg(long)]
        ticket: Option<String>,
        /// JSON file with the ticket's data.
        #[arg(long)]
        data: PathBuf,
        /// JSON file mapping task key → list of outputs.
        #[arg(long)]
        outputs: Option<PathBuf>,
        /// Print one JSON object: {status, path, data, errors, open}.
        #[arg(long)]
        json: bool,
    },
    /// Store a definition file as a new DRAFT version in the database.
    ///
    /// Creates the company if it does not exist, and a new version when the
    /// definition's key already exists.
    Import {
        file: PathBuf,
        /// The company's name.
        #[arg(long)]
        company: String,
        /// Activate the new version right away (archiving the active one).
        #[arg(long)]
        activate: bool,
    },
    /// Manage companies (tenants).
    #[command(subcommand)]
    Company(CompanyCommand),
    /// Manage a company's users.
    #[command(subcommand)]
    User(UserCommand),
    /// Print a stored definition (YAML by default).
    Export {
        /// The definition's key.
        key: String,
        #[arg(long)]
        company: String,
        /// Version number (default: the latest).
        #[arg(long)]
        version: Option<i64>,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Measure the web application under load (ticket creation, inbox, ticket list).
    ///
    /// Fills a fresh database with the demo company and TICKETS Document Edit
    /// tickets (2 % open), starts the server on a random loopback port and
    /// drives it at concurrency 1, 16 and 64; prints requests/s, p50 and p99,
    /// the raw database transaction rate and the query plans.
    BenchWeb {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Existing tickets to create before measuring.
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
        /// The SQLite file to benchmark on (replaced).
        #[arg(long, default_value = "data/bench/web.db")]
        sqlite_path: PathBuf,
        /// Also benchmark PostgreSQL; a database `ticketflower_bench_web` is (re)created on that server.
        #[arg(long, env = "TICKETFLOWER_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Measure only these requests (create, inbox, list); repeat or separate with commas.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Measure engine throughput: in memory, and persisted on SQLite (and PostgreSQL).
    ///
    /// In memory, each example runs to COMPLETED over and over on one core. Persisted,
    /// Document Edit tickets are created and worked (edit → answer → edit) by
    /// concurrent clients, each completion acknowledged after its commit; then the
    /// other examples are run to COMPLETED the same way (tickets created and their
    /// open runs completed with the examples' scripted outputs). The raw rate of
    /// one INSERT + one UPDATE per transaction on the same database is measured
    /// in the same run and the ratios printed.
    Bench {
        /// Seconds per in-memory example and for the raw baseline.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// The SQLite file to benchmark on (replaced).
        #[arg(long, default_value = "data/bench/bench.db")]
        sqlite_path: PathBuf,
        /// Also benchmark this PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/test
        #[arg(long, env = "TICKETFLOWER_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Document Edit instances to create and complete per database.
        #[arg(long, default_value_t = 4000)]
        instances: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Only the in-memory figures (the same as `--only memory`).
        #[arg(long)]
        memory_only: bool,
        /// Only these parts: memory, sqlite, postgres, examples (comma-separated;
        /// `examples` runs the other examples persisted after Document Edit, on
        /// the databases named or on both).
        #[arg(long, value_delimiter = ',', value_parser = ["memory", "sqlite", "postgres", "examples"])]
        only: Vec<String>,
        /// Of the other examples, persisted, only these (comma-separated; all
        /// three when not given): to profile or compare one workflow's shape.
        #[arg(long, value_delimiter = ',',
              value_parser = clap::builder::PossibleValuesParser::new(commands::bench::other_examples()))]
        example: Vec<String>,
        /// Group committers deciding and writing batches side by side (on SQLite at most two).
        #[arg(long, default_value_t = ticketflower_store::StoreOptions::new("").committers)]
        committers: usize,
        /// Most events one group commit takes.
        #[arg(long, default_value_t = ticketflower_store::StoreOptions::new("").batch_size)]
        batch_size: usize,
        /// A file with the PostgreSQL server's total CPU time, to print the
        /// server's and this process's CPU per instance and per completion: a
        /// cgroup's `cpuacct.usage` (v1) or `cpu.stat` (v2) holding the server's
        /// processes. (SQLite's CPU is this process's own.)
        #[arg(long, value_name = "FILE")]
        server_cpu: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Measure the AI assistant on plain-language requests with the configured model.
    ///
    /// Each case in CASES_DIR is a Markdown file: YAML front matter with the checks
    /// any correct workflow must pass, then the request as an owner would write it
    /// (see examples/assistant-eval/README.md). For each case the assistant gets the
    /// request in a fresh conversation; plans are approved and questions left to it,
    /// for at most --max-turns turns. Reports per case and in total: a valid workflow
    /// within the turns (yes/no), checks passed, turns, model calls, repairs, tokens
    /// and seconds. The provider comes from TICKETFLOWER_LLM_PROVIDER, _MODEL,
    /// _API_KEY and _BASE_URL. Exits 0 when every case passed, 1 when any failed,
    /// 2 when no provider is configured or a case file is bad.
    AssistantEval {
        /// Folder of case files (*.md; README.md is skipped).
        cases_dir: PathBuf,
        /// Print one JSON object: {provider, model, cases, total}.
        #[arg(long)]
        json: bool,
        /// Turns (the owner's messages) per case before it counts as failed.
        #[arg(long, default_value_t = ticketflower_assistant::eval::DEFAULT_MAX_TURNS,
              value_parser = clap::value_parser!(u32).range(1..=50))]
        max_turns: u32,
    },
}

#[derive(Debug, Subcommand)]
enum CompanyCommand {
    /// Create a company.
    Create {
        /// The company's name (unique).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input.
    ///
    /// Example: `echo 'a long passphrase' | ticketflower user add --company Acme --email ann@acme.test
    /// --password-stdin --permission workflow_creator --role editor`
    Add {
        #[arg(long)]
        company: String,
        #[arg(long)]
        email: String,
        /// Display name (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (the only way to give one).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// company_admin, workflow_creator or ticket_admin; repeat for several.
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Company role key (created if new); repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// List a company's users with their permissions and roles.
    List {
        #[arg(long)]
        company: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(arguments());
    // One TLS crypto provider (ring) for every HTTPS client of the process;
    // an error only means it was installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ticketflower=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = settings::Settings::from_env();
    let result = match cli.command {
        Command::Serve { bind, data_dir, secure_cookies } => {
            let args = commands::serve::Args { bind, data_dir, secure_cookies };
            runtime().and_then(|rt| rt.block_on(commands::serve::run(&settings, args)))
        }
        Command::Validate { files } => commands::validate::run(&files),
        Command::Simulate { file, ticket, data, outputs, json } => {
            commands::simulate::run(&commands::simulate::Args { file, ticket, data, outputs, json })
        }
        Command::Import { file, company, activate } => {
            runtime().and_then(|rt| rt.block_on(commands::definitions::import(&settings, &file, &company, activate)))
        }
        Command::Bench {
            seconds,
            sqlite_path,
            postgres,
            instances,
            concurrency,
            memory_only,
            only,
            example,
            committers,
            batch_size,
            server_cpu,
            json,
        } => {
            let only = if memory_only { vec!["memory".to_owned()] } else { only };
            let part = |name: &str| only.is_empty() || only.iter().any(|p| p == name);
            // `examples` alone runs on every database.
            let no_database_named = !only.iter().any(|p| p == "sqlite" || p == "postgres");
            let database = |name: &str| part(name) || (no_database_named && part("examples"));
            let args = commands::bench::Args {
                seconds,
                sqlite_path: database("sqlite").then_some(sqlite_path),
                postgres: postgres.filter(|_| database("postgres")),
                instances,
                concurrency: concurrency.max(1),
                memory: part("memory"),
                examples: part("examples"),
                example_names: example,
                committers: committers.max(1),
                batch_size: batch_size.max(1),
                server_cpu,
                json,
            };
            runtime().and_then(|rt| rt.block_on(commands::bench::run(&args)))
        }
        Command::BenchWeb { seconds, tickets, sqlite_path, postgres, only, json } => {
            let args = commands::bench_web::Args { seconds, tickets, sqlite_path, postgres, only, json };
            runtime().and_then(|rt| rt.block_on(commands::bench_web::run(&args)))
        }
        Command::AssistantEval { cases_dir, json, max_turns } => {
            let args = commands::assistant_eval::Args { cases_dir, json, max_turns };
            runtime().and_then(|rt| rt.block_on(commands::assistant_eval::run(&args)))
        }
        Command::Company(CompanyCommand::Create { name }) => {
            runtime().and_then(|rt| rt.block_on(commands::people::create_company(&settings, &name)))
        }
        Command::User(UserCommand::Add { company, email, name, password_stdin: _, permissions, roles }) => {
            let args = commands::people::AddUser { company, email, name, permissions, roles };
            runtime().and_then(|rt| rt.block_on(commands::people::add_user(&settings, args)))
        }
        Command::User(UserCommand::List { company, json }) => {
            runtime().and_then(|rt| rt.block_on(commands::people::list_users(&settings, &company, json)))
        }
        Command::Export { key, company, version, json } => runtime()
            .and_then(|rt| rt.block_on(commands::definitions::export(&settings, &key, &company, version, json))),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
