//! `ticketflower bench`: engine throughput in memory and persisted, against the
//! raw rate of the same database in the same run.

use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};
use ticketflower_core::definition::Definition;
use ticketflower_core::document::Syntax;
use ticketflower_core::engine::{self, Event, InstanceStatus, NewInstance};
use ticketflower_store::{Command, NewTicket, NewUser, Permission, Store, StoreOptions};

/// The examples, with a ticket and scripted outputs that run each to COMPLETED.
const EXAMPLES: &[(&str, &str, &str, &str)] = &[
    (
        "document-edit",
        include_str!("../../../../examples/document-edit.yaml"),
        include_str!("../../../../examples/data/document-edit.ticket.json"),
        include_str!("../../../../examples/data/document-edit.outputs.json"),
    ),
    (
        "venue-map",
        include_str!("../../../../examples/venue-map.yaml"),
        include_str!("../../../../examples/data/venue-map.ticket.json"),
        include_str!("../../../../examples/data/venue-map.outputs.json"),
    ),
    (
        "customer-support",
        include_str!("../../../../examples/customer-support.yaml"),
        include_str!("../../../../examples/data/customer-support.ticket.json"),
        include_str!("../../../../examples/data/customer-support.outputs.json"),
    ),
    (
        "order-fulfilment",
        include_str!("../../../../examples/order-fulfilment.yaml"),
        include_str!("../../../../examples/data/order-fulfilment.ticket.json"),
        include_str!("../../../../examples/data/order-fulfilment.outputs.json"),
    ),
];

/// The examples run persisted after Document Edit, by name (`--example`).
pub fn other_examples() -> impl Iterator<Item = &'static str> {
    EXAMPLES.iter().skip(1).map(|(name, ..)| *name)
}

pub struct Args {
    pub seconds: f64,
    /// The SQLite file to benchmark on, or None to leave SQLite out.
    pub sqlite_path: Option<std::path::PathBuf>,
    pub postgres: Option<String>,
    pub instances: usize,
    pub concurrency: usize,
    /// Whether to run the in-memory figures.
    pub memory: bool,
    /// Whether to run the other examples persisted too (after Document Edit).
    pub examples: bool,
    /// Which of them, by name (all when empty).
    pub example_names: Vec<String>,
    pub committers: usize,
    pub batch_size: usize,
    /// The database server's cumulative CPU time (a cgroup's accounting file).
    pub server_cpu: Option<std::path::PathBuf>,
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct MemoryFigure {
    example: String,
    instances_per_second: f64,
    completions_per_second: f64,
    completions_per_instance: usize,
}

#[derive(Debug, Serialize)]
struct PersistedFigure {
    database: String,
    instances: usize,
    concurrency: usize,
    instances_per_second: f64,
    completions_per_second: f64,
    raw_transactions_per_second: f64,
    ratio_engine_to_raw: f64,
    /// CPU time per created instance and per completion, in microseconds:
    /// this process's, and the server's when `--server-cpu` names its account.
    process_micros_per_instance: f64,
    process_micros_per_completion: f64,
    server_micros_per_instance: Option<f64>,
    server_micros_per_completion: Option<f64>,
    /// The other examples on the same database, after Document Edit.
    examples: Vec<ExampleFigure>,
}

/// One example run to COMPLETED through the store: creation and completions together.
#[derive(Debug, Serialize)]
struct ExampleFigure {
    example: String,
    instances: usize,
    instances_per_second: f64,
    completions_per_second: f64,
    completions_per_instance: usize,
    ratio_engine_to_raw: f64,
    /// CPU time per completion, ticket creation included, in microseconds:
    /// this process's, and the server's when `--server-cpu` names its account.
    process_micros_per_completion: f64,
    server_micros_per_completion: Option<f64>,
}

pub async fn run(args: &Args) -> anyhow::Result<std::process::ExitCode> {
    let mut memory = Vec::new();
    for (name, yaml, ticket, outputs) in EXAMPLES.iter().filter(|_| args.memory) {
        let figure = in_memory(name, yaml, ticket, outputs, Duration::from_secs_f64(args.seconds))?;
        if !args.json {
            println!(
                "in memory  {:<18} {:>10.0} instances/s {:>11.0} completions/s ({} per instance, one core)",
                figure.example,
                figure.instances_per_second,
                figure.completions_per_second,
                figure.completions_per_instance
            );
        }
        memory.push(figure);
    }
    let mut persisted = Vec::new();
    let mut targets = Vec::new();
    if let Some(path) = &args.sqlite_path {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        targets.push(("sqlite".to_owned(), format!("sqlite://{}?mode=rwc", path.display())));
    }
    if let Some(url) = &args.postgres {
        targets.push(("postgres".to_owned(), url.clone()));
    }
    for (database, url) in targets {
        let figure = persisted_run(&database, &url, args).await?;
        if !args.json {
            println!(
                "persisted  {:<18} {:>10.0} instances/s {:>11.0} completions/s | raw INSERT+UPDATE tx {:>8.0}/s | engine/raw {:.2}x ({} instances, {} clients)",
                figure.database,
                figure.instances_per_second,
                figure.completions_per_second,
                figure.raw_transactions_per_second,
                figure.ratio_engine_to_raw,
                figure.instances,
                figure.concurrency
            );
            let server = |micros: Option<f64>| micros.map(|m| format!(", server {m:.0} µs")).unwrap_or_default();
            println!(
                "           {:<18} CPU per instance: bench {:.0} µs{} | per completion: bench {:.0} µs{}",
                figure.database,
                figure.process_micros_per_instance,
                server(figure.server_micros_per_instance),
                figure.process_micros_per_completion,
                server(figure.server_micros_per_completion),
            );
            for example in &figure.examples {
                println!(
                    "persisted  {:<26} {:>6.0} instances/s {:>7.0} completions/s ({} per instance, created and completed together) | engine/raw {:.2}x | CPU per completion: bench {:.0} µs{}",
                    format!("{} {}", figure.database, example.example),
                    example.instances_per_second,
                    example.completions_per_second,
                    example.completions_per_instance,
                    example.ratio_engine_to_raw,
                    example.process_micros_per_completion,
                    server(example.server_micros_per_completion),
                );
            }
        }
        persisted.push(figure);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json!({"in_memory": memory, "persisted": persisted}))?);
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs one example over and over on one core for `duration`.
fn in_memory(name: &str, yaml: &str, ticket: &str, outputs: &str, duration: Duration) -> anyhow::Result<MemoryFigure> {
    let definition = Definition::load_str(yaml, Syntax::Yaml)
        .into_result()
        .map_err(|problems| anyhow::anyhow!("{name} does not load: {problems:?}"))?;
    let ticket: Value = serde_json::from_str(ticket)?;
    let outputs: BTreeMap<String, Vec<Value>> = serde_json::from_str(outputs)?;
    let script: Vec<Vec<Value>> =
        definition.tasks.iter().map(|t| outputs.get(&t.key).cloned().unwrap_or_default()).collect();
    let ticket_type = definition.tickets.first().map(|t| t.key.clone());
    let started = Instant::now();
    let (mut instances, mut completions) = (0usize, 0usize);
    while started.elapsed() < duration {
        for _ in 0..64 {
            let new = NewInstance {
                ticket_type: ticket_type.as_deref(),
                submitted: ticket.clone(),
                ticket_id: json!(instances),
                creator: Some("requester@example.com".into()),
                meta: json!({"id": instances}),
            };
            let (mut instance, _) = engine::start(&definition, new, 0)?;
            let mut queues: Vec<VecDeque<&Value>> = script.iter().map(|outputs| outputs.iter().collect()).collect();
            while instance.status == InstanceStatus::InProgress {
                let next = instance
                    .open_runs()
                    .find_map(|run| queues[run.task].pop_front().map(|output| (run.seq, output.clone())));
                let Some((seq, output)) = next else { anyhow::bail!("{name}: the script ran out of outputs") };
                let decision = engine::decide(&definition, &instance, &Event::Complete { seq, output }, 0)?;
                instance.apply_owned(decision);
                completions += 1;
            }
            anyhow::ensure!(instance.status == InstanceStatus::Completed, "{name} ended {}", instance.status);
            instances += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(MemoryFigure {
        example: name.to_owned(),
        instances_per_second: instances as f64 / seconds,
        completions_per_second: completions as f64 / seconds,
        completions_per_instance: completions / instances.max(1),
    })
}

/// Document Edit through the store: tickets created, then edit → answer → edit
/// completed by `concurrency` clients; each acknowledged only after its commit.
async fn persisted_run(database: &str, url: &str, args: &Args) -> anyhow::Result<PersistedFigure> {
    let options = StoreOptions { committers: args.committers, batch_size: args.batch_size, ..StoreOptions::new(url) };
    let store = Store::connect(options).await?;
    let suffix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let company = store.create_company(&format!("Benchmark {suffix}")).await?;
    let user = |email: String, roles: Vec<String>| NewUser {
        email,
        display_name: String::new(),
        password_hash: "-".into(),
        permissions: vec![Permission::TicketAdmin],
        roles,
    };
    let editor = store.add_user(company, user(format!("editor-{suffix}@bench.example"), vec!["editor".into()])).await?;
    let author = store.add_user(company, user(format!("author-{suffix}@bench.example"), vec!["author".into()])).await?;
    store.settle_after_bulk_load().await?;
    let document: Value = serde_norway::from_str(EXAMPLES[0].1)?;
    let imported = store.import_definition(company, &document, None).await?;
    store.activate_version(company, &imported.key, imported.version).await?;

    let per_client = args.instances.div_ceil(args.concurrency);
    // SQLite runs inside this process: its CPU is the bench's own.
    let server_cpu = args.server_cpu.as_deref().filter(|_| database == "postgres");
    let cpu_before = CpuTimes::read(server_cpu)?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.concurrency {
        let store = store.clone();
        clients.push(tokio::spawn(async move {
            let mut runs = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let created = store
                    .create_ticket(
                        company,
                        NewTicket {
                            definition: "document-edit".into(),
                            ticket_type: "edit-request".into(),
                            fields: json!({"title": format!("Document {n}"), "submitted_doc": "Text"}),
                            creator: Some(author),
                        },
                    )
                    .await?;
                runs.push(created.new_runs[0]);
            }
            Ok::<_, anyhow::Error>(runs)
        }));
    }
    let mut edits = Vec::new();
    for client in clients {
        edits.push(client.await??);
    }
    let created_seconds = started.elapsed().as_secs_f64();
    let instances = edits.iter().map(Vec::len).sum::<usize>();
    let creation_cpu = CpuTimes::read(server_cpu)?.since(&cpu_before);
    store.settle_after_bulk_load().await?;

    let cpu_before = CpuTimes::read(server_cpu)?;
    let started = Instant::now();
    let mut clients = Vec::new();
    for runs in edits {
        let store = store.clone();
        clients.push(tokio::spawn(async move {
            for edit in runs {
                let step = |run, output: Value, actor| Command::Complete { company, run, output, actor: Some(actor) };
                let asked = store.execute(step(edit, json!({"questions": "Which audience?"}), editor)).await?;
                let answered =
                    store.execute(step(asked.new_runs[0], json!({"author_responses": "Everyone"}), author)).await?;
                let done = store.execute(step(answered.new_runs[0], json!({"updated_doc": "Final"}), editor)).await?;
                anyhow::ensure!(done.status == InstanceStatus::Completed, "the instance ended {}", done.status);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for client in clients {
        client.await??;
    }
    let completions = instances * 3;
    let completions_per_second = completions as f64 / started.elapsed().as_secs_f64();
    let completion_cpu = CpuTimes::read(server_cpu)?.since(&cpu_before);
    store.settle_after_bulk_load().await?;
    let mut examples = Vec::new();
    let chosen = |name: &str| args.example_names.is_empty() || args.example_names.iter().any(|n| n == name);
    for (name, yaml, ticket, outputs) in EXAMPLES.iter().skip(1).filter(|(name, ..)| args.examples && chosen(name)) {
        let run =
            ExampleRun { store: &store, company, actor: editor, creator: author, yaml, ticket, outputs, server_cpu };
        examples.push(run.measure(name, args.instances, args.concurrency).await?);
        store.settle_after_bulk_load().await?;
    }
    let raw = store.raw_step_rate(args.concurrency.min(8), Duration::from_secs_f64(args.seconds.max(1.0))).await?;
    for example in &mut examples {
        example.ratio_engine_to_raw = example.completions_per_second / raw;
    }
    Ok(PersistedFigure {
        database: database.to_owned(),
        instances,
        concurrency: args.concurrency,
        instances_per_second: instances as f64 / created_seconds,
        completions_per_second,
        raw_transactions_per_second: raw,
        ratio_engine_to_raw: completions_per_second / raw,
        process_micros_per_instance: creation_cpu.process / instances.max(1) as f64,
        process_micros_per_completion: completion_cpu.process / completions.max(1) as f64,
        server_micros_per_instance: creation_cpu.server.map(|m| m / instances.max(1) as f64),
        server_micros_per_completion: completion_cpu.server.map(|m| m / completions.max(1) as f64),
        examples,
    })
}

/// An example to run through the store, as its users and workers would (three
/// people in each of its roles): each ticket created, then its open runs completed in the order they were
/// activated with the example's scripted outputs, each by the person it was
/// assigned to (a run in its role's pool and an automated step by `actor`),
/// until it is COMPLETED.
struct ExampleRun<'a> {
    store: &'a Store,
    company: ticketflower_store::CompanyId,
    /// Who completes the tasks nobody was assigned (the store leaves
    /// eligibility to the web layer).
    actor: ticketflower_store::UserId,
    creator: ticketflower_store::UserId,
    yaml: &'a str,
    ticket: &'a str,
    outputs: &'a str,
    /// The server's CPU account, if known (see [`CpuTimes`]).
    server_cpu: Option<&'a std::path::Path>,
}

impl ExampleRun<'_> {
    /// Runs `instances` tickets to COMPLETED with `concurrency` clients.
    async fn measure(&self, name: &str, instances: usize, concurrency: usize) -> anyhow::Result<ExampleFigure> {
        let definition = Definition::load_str(self.yaml, Syntax::Yaml)
            .into_result()
            .map_err(|problems| anyhow::anyhow!("{name} does not load: {problems:?}"))?;
        // Three people in each of its roles, so round-robin and least-loaded
        // tasks are assigned as they would be in a company.
        for role in &definition.roles {
            for n in 0..3 {
                let email = format!("{role}-{n}-{}@bench.example", self.company.0);
                let roles = vec![role.clone()];
                let user = NewUser {
                    email,
                    display_name: String::new(),
                    password_hash: "-".into(),
                    permissions: vec![],
                    roles,
                };
                self.store.add_user(self.company, user).await?;
            }
        }
        let document: Value = serde_norway::from_str(self.yaml)?;
        let imported = self.store.import_definition(self.company, &document, None).await?;
        self.store.activate_version(self.company, &imported.key, imported.version).await?;
        let ticket_type = definition.tickets.first().map(|t| t.key.clone()).unwrap_or_default();
        let fields: Value = serde_json::from_str(self.ticket)?;
        let script: BTreeMap<String, Vec<Value>> = serde_json::from_str(self.outputs)?;
        let per_client = instances.div_ceil(concurrency);
        let cpu_before = CpuTimes::read(self.server_cpu)?;
        let started = Instant::now();
        let mut clients = Vec::new();
        for _ in 0..concurrency {
            let (store, company, actor, creator) = (self.store.clone(), self.company, self.actor, self.creator);
            let (key, ticket_type, fields, script) =
                (imported.key.clone(), ticket_type.clone(), fields.clone(), script.clone());
            clients.push(tokio::spawn(async move {
                let mut completions = 0;
                for _ in 0..per_client {
                    let new = NewTicket {
                        definition: key.clone(),
                        ticket_type: ticket_type.clone(),
                        fields: fields.clone(),
                        creator: Some(creator),
                    };
                    let created = store.create_ticket(company, new).await?;
                    let mut open: VecDeque<_> =
                        created.activated.into_iter().zip(created.new_runs).zip(created.assignees).collect();
                    let mut outputs: BTreeMap<&str, VecDeque<&Value>> =
                        script.iter().map(|(task, outputs)| (task.as_str(), outputs.iter().collect())).collect();
                    let mut status = created.status;
                    while let Some(((task, run), assignee)) = open.pop_front() {
                        let output = outputs
                            .get_mut(task.as_str())
                            .and_then(VecDeque::pop_front)
                            .ok_or_else(|| anyhow::anyhow!("the script of {key} has no output left for {task}"))?;
                        let done = store
                            .execute(Command::Complete {
                                company,
                                run,
                                output: output.clone(),
                                actor: Some(assignee.unwrap_or(actor)),
                            })
                            .await?;
                        anyhow::ensure!(done.faults.is_empty(), "{key}: {task} raised {:?}", done.faults);
                        open.extend(done.activated.into_iter().zip(done.new_runs).zip(done.assignees));
                        status = done.status;
                        completions += 1;
                    }
                    anyhow::ensure!(status == InstanceStatus::Completed, "{key} ended {status}");
                }
                Ok::<_, anyhow::Error>(completions)
            }));
        }
        let mut completions = 0;
        for client in clients {
            completions += client.await??;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = CpuTimes::read(self.server_cpu)?.since(&cpu_before);
        let instances = per_client * concurrency;
        Ok(ExampleFigure {
            process_micros_per_completion: cpu.process / completions.max(1) as f64,
            server_micros_per_completion: cpu.server.map(|m| m / completions.max(1) as f64),
            example: name.to_owned(),
            instances,
            instances_per_second: instances as f64 / seconds,
            completions_per_second: completions as f64 / seconds,
            completions_per_instance: completions / instances.max(1),
            ratio_engine_to_raw: 0.0,
        })
    }
}

/// CPU time used so far, in microseconds: by this process, and by the
/// database server when its accounting file is known. On a shared, noisy
/// machine the CPU a step costs is steadier than how many steps a second fit.
struct CpuTimes {
    process: f64,
    server: Option<f64>,
}

impl CpuTimes {
    fn read(server: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let process = process_cpu_micros()?;
        let server = match server {
            Some(path) => Some(server_cpu_micros(path)?),
            None => None,
        };
        Ok(Self { process, server })
    }

    fn since(&self, earlier: &Self) -> Self {
        Self {
            process: self.process - earlier.process,
            server: self.server.zip(earlier.server).map(|(now, then)| now - then),
        }
    }
}

/// This process's user and system time from `/proc/self/stat` (Linux).
fn process_cpu_micros() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |index: usize| -> anyhow::Result<f64> {
        let field = fields.get(index).ok_or_else(|| anyhow::anyhow!("/proc/self/stat is too short"))?;
        Ok(field.parse::<f64>()?)
    };
    // The kernel's USER_HZ, 100 on every Linux platform this runs on.
    Ok((ticks(11)? + ticks(12)?) * 10_000.0)
}

/// The server's CPU time from a cgroup v1 `cpuacct.usage` (nanoseconds) or a
/// cgroup v2 `cpu.stat` (its `usage_usec` line).
fn server_cpu_micros(path: &std::path::Path) -> anyhow::Result<f64> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(line) = text.lines().find(|l| l.starts_with("usage_usec ")) {
        return Ok(line["usage_usec ".len()..].trim().parse()?);
    }
    let nanos: f64 = text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{}: expected cpuacct.usage (nanoseconds) or cpu.stat (usage_usec)", path.display())
    })?;
    Ok(nanos / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_cpu_is_read_from_either_cgroup_version() {
        let dir = std::env::temp_dir().join(format!("tf-bench-cpu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v1 = dir.join("cpuacct.usage");
        std::fs::write(&v1, "2500000\n").unwrap();
        assert_eq!(server_cpu_micros(&v1).unwrap(), 2500.0);
        let v2 = dir.join("cpu.stat");
        std::fs::write(&v2, "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n").unwrap();
        assert_eq!(server_cpu_micros(&v2).unwrap(), 1234.0);
        let other = dir.join("other");
        std::fs::write(&other, "nr_periods 0\n").unwrap();
        assert!(server_cpu_micros(&other).unwrap_err().to_string().contains("expected cpuacct.usage"));
        assert!(server_cpu_micros(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_process_cpu_time_grows_with_work() {
        // The kernel counts in ticks (10 ms): spin until one passes, however
        // busy the machine is, within a generous bound.
        let before = process_cpu_micros().unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while process_cpu_micros().unwrap() == before && started.elapsed() < Duration::from_secs(30) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let after = process_cpu_micros().unwrap();
        assert!(after > before, "{before} µs then {after} µs");
        assert_eq!((after - before) % 10_000.0, 0.0, "whole ticks of 10 ms");
    }
}
