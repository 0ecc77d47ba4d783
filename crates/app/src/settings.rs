//! Settings from the environment: which database, and how to reach it.

use anyhow::Context;
use ticketflower_store::{Store, StoreOptions};

/// Typed settings; the database URL may hold a password, so `Debug` redacts it.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("database_url", &"<redacted>").finish()
    }
}

impl Settings {
    /// `DATABASE_URL`, or a SQLite file under `./data/`.
    pub fn from_env() -> Self {
        let database_url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(ticketflower_store::default_database_url);
        Self { database_url }
    }

    /// Connects (creating `./data/` for the default SQLite file) and migrates.
    pub async fn connect(&self) -> anyhow::Result<Store> {
        if let Some(path) = self.database_url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or_default();
            if let Some(parent) = std::path::Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
        }
        Store::connect(StoreOptions::new(&self.database_url))
            .await
            .context("cannot open the database (check DATABASE_URL)")
    }
}
