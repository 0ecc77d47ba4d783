//! Workflow definitions and their versions (SPEC §3).
//!
//! Every import is a new version, `DRAFT` until someone activates it;
//! activating archives the previously active version. Versions are immutable
//! snapshots: an instance keeps the version it started with forever, and the
//! compiled form of each version is cached in memory by its id.

use crate::sql::{self, int, text};
use crate::{CompanyId, DefinitionId, Result, Store, StoreError, UserId, VersionId, now_millis};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use ticketflower_core::Problem;
use ticketflower_core::definition::Definition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DefinitionStatus {
    Draft,
    Active,
    Archived,
}

impl DefinitionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionStatus::Draft => "DRAFT",
            DefinitionStatus::Active => "ACTIVE",
            DefinitionStatus::Archived => "ARCHIVED",
        }
    }
    fn parse(text: &str) -> Result<Self> {
        match text {
            "DRAFT" => Ok(DefinitionStatus::Draft),
            "ACTIVE" => Ok(DefinitionStatus::Active),
            "ARCHIVED" => Ok(DefinitionStatus::Archived),
            other => Err(StoreError::Corrupt(format!("unknown definition status {other}"))),
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportedVersion {
    pub definition: DefinitionId,
    pub version_id: VersionId,
    pub key: String,
    pub version: i64,
    pub created_definition: bool,
    pub warnings: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionSummary {
    pub version_id: VersionId,
    pub key: String,
    pub title: String,
    pub version: i64,
    pub status: DefinitionStatus,
    pub created_at: i64,
}

/// A document that loaded as a definition, with its warnings; checked before
/// the write transaction begins, so the write lock is not held while it loads.
struct Checked {
    definition: Definition,
    warnings: Vec<Problem>,
}

impl Checked {
    /// The definition in `document`, or every problem that keeps it from being one.
    fn of(document: &Value) -> Result<Self> {
        let loaded = Definition::load(document);
        match loaded.definition {
            Some(definition) => Ok(Self { definition, warnings: loaded.problems }),
            None => Err(StoreError::Invalid(loaded.problems)),
        }
    }
}

/// How long a node trusts the active version it read for a definition key.
pub const ACTIVE_VERSION_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Store {
    /// Validates a document and stores it as a new `DRAFT` version of its key.
    pub async fn import_definition(
        &self,
        company: CompanyId,
        document: &Value,
        actor: Option<UserId>,
    ) -> Result<ImportedVersion> {
        self.save_version(company, document, None, actor).await
    }

    /// Imports a document into the company named `company_name`, creating the
    /// company if there is none: one transaction, so a document refused
    /// (invalid, or failing in the database) leaves no new company behind.
    /// Returns the company, whether it was created, and the version saved.
    pub async fn import_into_company(
        &self,
        company_name: &str,
        document: &Value,
        actor: Option<UserId>,
    ) -> Result<(CompanyId, bool, ImportedVersion)> {
        let checked = Checked::of(document)?;
        let write = self.write().await?;
        let (company, created) = match self.company_named(&write.tx, company_name).await? {
            Some(company) => (company, false),
            None => (self.insert_company(&write.tx, company_name).await?, true),
        };
        let imported = self.write_version(&write.tx, company, checked, document, None, actor).await?;
        write.commit().await?;
        Ok((company, created, imported))
    }

    /// Like [`Store::import_definition`], refusing the save (a conflict) when
    /// `base` is given and is no longer the key's latest version, so an editor
    /// working from a stale copy cannot overwrite someone else's save.
    pub async fn save_version(
        &self,
        company: CompanyId,
        document: &Value,
        base: Option<i64>,
        actor: Option<UserId>,
    ) -> Result<ImportedVersion> {
        let checked = Checked::of(document)?;
        let write = self.write().await?;
        let imported = self.write_version(&write.tx, company, checked, document, base, actor).await?;
        write.commit().await?;
        Ok(imported)
    }

    /// Stores a checked definition as the next `DRAFT` version of its key, in `tx`.
    async fn write_version(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        company: CompanyId,
        Checked { definition, warnings }: Checked,
        document: &Value,
        base: Option<i64>,
        actor: Option<UserId>,
    ) -> Result<ImportedVersion> {
        let backend = self.backend();
        let now = now_millis();
        let existing = sql::one(
            tx,
            backend,
            "SELECT id FROM definitions WHERE company_id = $1 AND key = $2",
            vec![int(company.0), text(&definition.key)],
        )
        .await?;
        let (definition_id, created) = match existing {
            Some(row) => {
                let id: i64 = row.try_get_by_index(0)?;
                sql::exec(
                    tx,
                    backend,
                    "UPDATE definitions SET title = $3 WHERE company_id = $1 AND id = $2",
                    vec![int(company.0), int(id), text(&definition.title)],
                )
                .await?;
                (DefinitionId(id), false)
            }
            None => {
                let row = sql::one(
                    tx,
                    backend,
                    "INSERT INTO definitions (company_id, key, title, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                    vec![int(company.0), text(&definition.key), text(&definition.title), int(now)],
                )
                .await?
                .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
                (DefinitionId(row.try_get_by_index(0)?), true)
            }
        };
        let next = sql::one(
            tx,
            backend,
            "SELECT COALESCE(MAX(version), 0) + 1 FROM definition_versions WHERE company_id = $1 AND definition_id = $2",
            vec![int(company.0), int(definition_id.0)],
        )
        .await?
        .ok_or(StoreError::Corrupt("no next version".into()))?
        .try_get_by_index::<i64>(0)?;
        if let Some(base) = base
            && base != next - 1
        {
            return Err(StoreError::Conflict(format!(
                "version {} of \"{}\" was saved after the version {base} you started from; reload and apply your change again",
                next - 1,
                definition.key
            )));
        }
        let row = sql::one(
            tx,
            backend,
            "INSERT INTO definition_versions (company_id, definition_id, version, status, document, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            vec![
                int(company.0),
                int(definition_id.0),
                int(next),
                text(DefinitionStatus::Draft.as_str()),
                text(document.to_string()),
                sql::int_opt(actor.map(|a| a.0)),
                int(now),
            ],
        )
        .await?
        .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
        let version_id = VersionId(row.try_get_by_index(0)?);
        Ok(ImportedVersion {
            definition: definition_id,
            version_id,
            key: definition.key,
            version: next,
            created_definition: created,
            warnings,
        })
    }

    /// Makes a version the active one, archiving the version that was active.
    pub async fn activate_version(&self, company: CompanyId, key: &str, version: i64) -> Result<VersionId> {
        let backend = self.backend();
        let write = self.write().await?;
        let row = sql::one(
            &write.tx,
            backend,
            "SELECT v.id, v.definition_id, v.status FROM definition_versions v JOIN definitions d ON d.id = v.definition_id \
             WHERE v.company_id = $1 AND d.key = $2 AND v.version = $3",
            vec![int(company.0), text(key), int(version)],
        )
        .await?
        .ok_or(StoreError::NotFound("definition version"))?;
        let version_id: i64 = row.try_get_by_index(0)?;
        let definition_id: i64 = row.try_get_by_index(1)?;
        let status = DefinitionStatus::parse(&row.try_get_by_index::<String>(2)?)?;
        if status == DefinitionStatus::Active {
            return Ok(VersionId(version_id));
        }
        sql::exec(
            &write.tx,
            backend,
            "UPDATE definition_versions SET status = 'ARCHIVED' WHERE company_id = $1 AND definition_id = $2 AND status = 'ACTIVE'",
            vec![int(company.0), int(definition_id)],
        )
        .await?;
        sql::exec(
            &write.tx,
            backend,
            "UPDATE definition_versions SET status = 'ACTIVE', activated_at = $3 WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(version_id), int(now_millis())],
        )
        .await?;
        write.commit().await?;
        self.forget_active_versions();
        Ok(VersionId(version_id))
    }

    /// Archives a version: no new tickets start on it; running instances go on.
    pub async fn archive_version(&self, company: CompanyId, key: &str, version: i64) -> Result<()> {
        let write = self.write().await?;
        let changed = sql::exec(
            &write.tx,
            self.backend(),
            "UPDATE definition_versions SET status = 'ARCHIVED' WHERE company_id = $1 AND version = $3 \
             AND definition_id = (SELECT id FROM definitions WHERE company_id = $1 AND key = $2)",
            vec![int(company.0), text(key), int(version)],
        )
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound("definition version"));
        }
        write.commit().await?;
        self.forget_active_versions();
        Ok(())
    }

    /// Takes back a save: deletes version `version` of `key` while it is still the
    /// key's latest version and a `DRAFT` (nothing can have started on a draft), and
    /// the definition itself when that was its only version. Anything else is a
    /// conflict saying why, and nothing changes.
    pub async fn discard_draft(&self, company: CompanyId, key: &str, version: i64) -> Result<()> {
        let backend = self.backend();
        let write = self.write().await?;
        let rows = sql::all(
            &write.tx,
            backend,
            "SELECT v.id, v.definition_id, v.version, v.status FROM definition_versions v \
             JOIN definitions d ON d.id = v.definition_id WHERE v.company_id = $1 AND d.key = $2 ORDER BY v.version DESC",
            vec![int(company.0), text(key)],
        )
        .await?;
        let latest = rows.first().ok_or(StoreError::NotFound("definition version"))?;
        let (version_id, definition_id, latest_version): (i64, i64, i64) =
            (latest.try_get_by_index(0)?, latest.try_get_by_index(1)?, latest.try_get_by_index(2)?);
        if !rows.iter().any(|row| row.try_get_by_index::<i64>(2).is_ok_and(|v| v == version)) {
            return Err(StoreError::NotFound("definition version"));
        }
        if latest_version != version {
            return Err(StoreError::Conflict(format!(
                "version {version} of \"{key}\" can no longer be undone: version {latest_version} was saved after it"
            )));
        }
        let status = DefinitionStatus::parse(&latest.try_get_by_index::<String>(3)?)?;
        if status != DefinitionStatus::Draft {
            return Err(StoreError::Conflict(format!(
                "version {version} of \"{key}\" is {}, so it can no longer be undone",
                status.as_str().to_lowercase()
            )));
        }
        sql::exec(
            &write.tx,
            backend,
            "DELETE FROM definition_versions WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(version_id)],
        )
        .await?;
        if rows.len() == 1 {
            sql::exec(
                &write.tx,
                backend,
                "DELETE FROM definitions WHERE company_id = $1 AND id = $2",
                vec![int(company.0), int(definition_id)],
            )
            .await?;
        }
        write.commit().await?;
        // SQLite may hand the deleted id to the next version; its compiled form must not be reused.
        if let Ok(mut cache) = self.inner.definitions.write() {
            cache.remove(&VersionId(version_id));
        }
        Ok(())
    }

    /// The stored document of a version (the latest when `version` is `None`).
    pub async fn export_definition(&self, company: CompanyId, key: &str, version: Option<i64>) -> Result<Value> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT v.document FROM definition_versions v JOIN definitions d ON d.id = v.definition_id \
             WHERE v.company_id = $1 AND d.key = $2 AND ($3 IS NULL OR v.version = $3) ORDER BY v.version DESC LIMIT 1",
            vec![int(company.0), text(key), sql::int_opt(version)],
        )
        .await?
        .ok_or(StoreError::NotFound("definition version"))?;
        parse_document(&row.try_get_by_index::<String>(0)?)
    }

    /// Every version of every definition of the company, newest first per key.
    pub async fn list_versions(&self, company: CompanyId) -> Result<Vec<VersionSummary>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT v.id, d.key, d.title, v.version, v.status, v.created_at FROM definition_versions v \
             JOIN definitions d ON d.id = v.definition_id WHERE v.company_id = $1 ORDER BY d.key, v.version DESC",
            vec![int(company.0)],
        )
        .await?;
        rows.iter().map(version_summary).collect()
    }

    /// The latest version of every definition of the company with its document, by key.
    pub async fn latest_versions(&self, company: CompanyId) -> Result<Vec<(VersionSummary, Value)>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT v.id, d.key, d.title, v.version, v.status, v.created_at, v.document FROM definition_versions v \
             JOIN definitions d ON d.id = v.definition_id WHERE v.company_id = $1 \
             AND v.version = (SELECT MAX(w.version) FROM definition_versions w WHERE w.definition_id = v.definition_id) \
             ORDER BY d.key",
            vec![int(company.0)],
        )
        .await?;
        rows.iter()
            .map(|row| Ok((version_summary(row)?, parse_document(&row.try_get_by_index::<String>(6)?)?)))
            .collect()
    }

    /// The active version of a definition key. This node remembers the answer
    /// for [`ACTIVE_VERSION_TTL`]: activating or archiving here takes effect at
    /// once, on another node within that time.
    pub async fn active_version(&self, company: CompanyId, key: &str) -> Result<VersionId> {
        if let Ok(cache) = self.inner.active_versions.lock()
            && let Some((version, read_at)) = cache.get(&(company, key.to_owned()))
            && read_at.elapsed() < ACTIVE_VERSION_TTL
        {
            return Ok(*version);
        }
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT v.id FROM definition_versions v JOIN definitions d ON d.id = v.definition_id \
             WHERE v.company_id = $1 AND d.key = $2 AND v.status = 'ACTIVE'",
            vec![int(company.0), text(key)],
        )
        .await?
        .ok_or(StoreError::NotFound("active definition"))?;
        let version = VersionId(row.try_get_by_index(0)?);
        if let Ok(mut cache) = self.inner.active_versions.lock() {
            if cache.len() >= 10_000 {
                cache.clear();
            }
            cache.insert((company, key.to_owned()), (version, std::time::Instant::now()));
        }
        Ok(version)
    }

    /// Forgets every remembered active version (after this node changed one).
    fn forget_active_versions(&self) {
        if let Ok(mut cache) = self.inner.active_versions.lock() {
            cache.clear();
        }
    }

    /// The compiled definition of a version, from the cache or the database.
    pub async fn definition(&self, company: CompanyId, version: VersionId) -> Result<Arc<Definition>> {
        if let Some(found) = self.cached_definition(company, version) {
            return Ok(found);
        }
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT document FROM definition_versions WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(version.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("definition version"))?;
        let document = parse_document(&row.try_get_by_index::<String>(0)?)?;
        let definition = Definition::load(&document).into_result().map_err(|problems| {
            StoreError::Corrupt(format!("stored definition {version} no longer loads: {problems:?}"))
        })?;
        let definition = Arc::new(definition);
        if let Ok(mut cache) = self.inner.definitions.write() {
            cache.insert(version, (company, definition.clone()));
        }
        Ok(definition)
    }

    /// A cached definition, only when it belongs to `company` (another company's id misses).
    pub(crate) fn cached_definition(&self, company: CompanyId, version: VersionId) -> Option<Arc<Definition>> {
        let cache = self.inner.definitions.read().ok()?;
        cache.get(&version).filter(|(owner, _)| *owner == company).map(|(_, definition)| definition.clone())
    }
}

/// A version summary from the columns `id, key, title, version, status, created_at`, in that order.
fn version_summary(row: &sea_orm::QueryResult) -> Result<VersionSummary> {
    Ok(VersionSummary {
        version_id: VersionId(row.try_get_by_index(0)?),
        key: row.try_get_by_index(1)?,
        title: row.try_get_by_index(2)?,
        version: row.try_get_by_index(3)?,
        status: DefinitionStatus::parse(&row.try_get_by_index::<String>(4)?)?,
        created_at: row.try_get_by_index(5)?,
    })
}

fn parse_document(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored definition is not JSON: {e}")))
}
