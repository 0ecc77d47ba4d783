//! `ticketflower serve` (and no arguments): the web application.

use crate::settings::Settings;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use ticketflower_store::SecretKey;
use ticketflower_web::{AppState, WebSettings, demo};

pub struct Args {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub secure_cookies: bool,
}

pub async fn run(settings: &Settings, args: Args) -> anyhow::Result<ExitCode> {
    let store = settings.connect().await?;
    let logins = demo::seed_if_empty(&store).await.context("cannot create the demo company")?;
    if !logins.is_empty() {
        println!("Created the demo company \"{}\". Demo logins (shown only this once):", demo::COMPANY);
        for login in &logins {
            println!("  {:<24} {:<16} {}", login.email, login.password, login.what);
        }
    }
    let files_dir = args.data_dir.join("files");
    std::fs::create_dir_all(&files_dir).with_context(|| format!("cannot create {}", files_dir.display()))?;
    let secret_key = secret_key(&args.data_dir)?;
    let assistant = ticketflower_assistant::Provider::from_env().context("the AI assistant's settings")?;
    match &assistant {
        Some(provider) => println!("AI assistant: {}, model {}", provider.label(), provider.model()),
        None => println!("AI assistant: not configured (set TICKETFLOWER_LLM_PROVIDER; see the README)"),
    }
    let state = AppState::new(
        store.clone(),
        WebSettings { files_dir, secure_cookies: args.secure_cookies, secret_key, assistant },
    );
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("cannot listen on {}", args.bind))?;
    let address = listener.local_addr()?;
    // Listening for the signals before saying so: one sent as soon as the
    // address is printed stops the server cleanly instead of killing it.
    let shutdown = shutdown_signal().context("cannot listen for Ctrl-C and SIGTERM")?;
    println!("TicketFlower is running on http://{address} (Ctrl-C stops it)");
    ticketflower_web::serve(listener, state, shutdown).await?;
    store.close().await.context("closing the database")?;
    println!("TicketFlower stopped.");
    Ok(ExitCode::SUCCESS)
}

/// The key company secrets are sealed with: `TICKETFLOWER_SECRET_KEY` (64 hex
/// digits; give every node of a deployment the same one), else
/// `<data-dir>/secret.key`, created on first start readable by its owner only.
fn secret_key(data_dir: &std::path::Path) -> anyhow::Result<SecretKey> {
    if let Ok(text) = std::env::var("TICKETFLOWER_SECRET_KEY") {
        return SecretKey::from_hex(&text)
            .ok_or_else(|| anyhow::anyhow!("TICKETFLOWER_SECRET_KEY must be 64 hex digits (32 bytes)"));
    }
    let path = data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            SecretKey::from_hex(&text).ok_or_else(|| anyhow::anyhow!("{} does not hold 64 hex digits", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate()?;
            write_private(&path, &key.to_hex()).with_context(|| format!("cannot write {}", path.display()))?;
            println!("Created {} (the key that encrypts company secrets; back it up).", path.display());
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed by this call,
/// not when the future is first polled (the server polls it once it runs).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        let mut interrupt = tokio::signal::windows::ctrl_c()?;
        Ok(async move {
            interrupt.recv().await;
        })
    }
}
