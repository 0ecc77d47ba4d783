//! `ticketflower serve` (and no arguments): the web application.

use crate::settings::Settings;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
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
    let state = AppState::new(store, WebSettings { files_dir, secure_cookies: args.secure_cookies });
    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("cannot listen on {}", args.bind))?;
    let address = listener.local_addr()?;
    println!("TicketFlower is running on http://{address} (Ctrl-C stops it)");
    ticketflower_web::serve(listener, state, shutdown_signal()).await?;
    println!("TicketFlower stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
