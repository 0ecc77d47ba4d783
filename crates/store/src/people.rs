//! Companies, users, permissions and company roles (SPEC §1).

use crate::sql::{self, int, text};
use crate::{CompanyId, Result, RoleId, Store, StoreError, UserId, now_millis};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use ticketflower_core::Problem;

/// The fixed, system-defined permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    CompanyAdmin,
    WorkflowCreator,
    TicketAdmin,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::CompanyAdmin, Permission::WorkflowCreator, Permission::TicketAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CompanyAdmin => "company_admin",
            Permission::WorkflowCreator => "workflow_creator",
            Permission::TicketAdmin => "ticket_admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// A user to create. The password is hashed by the caller (Argon2id).
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub permissions: Vec<Permission>,
    /// Company role keys; missing roles are created.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser").field("email", &self.email).field("roles", &self.roles).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
}

impl Store {
    /// Creates a company; a taken name is a conflict.
    pub async fn create_company(&self, name: &str) -> Result<CompanyId> {
        let name = name.trim();
        if self.company_by_name(name).await?.is_some() {
            return Err(StoreError::Conflict(format!("a company named \"{name}\" already exists")));
        }
        let write = self.write().await?;
        let id = self.insert_company(&write.tx, name).await?;
        write.commit().await?;
        Ok(id)
    }

    /// Inserts a company named `name` (trimmed; not empty) in `tx`.
    pub(crate) async fn insert_company(&self, tx: &sea_orm::DatabaseTransaction, name: &str) -> Result<CompanyId> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid(vec![Problem::error("/name", "the company name must not be empty")]));
        }
        let row = sql::one(
            tx,
            self.backend(),
            "INSERT INTO companies (name, created_at) VALUES ($1, $2) RETURNING id",
            vec![text(name), int(now_millis())],
        )
        .await?
        .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
        Ok(CompanyId(row.try_get_by_index(0)?))
    }

    pub async fn company_by_name(&self, name: &str) -> Result<Option<CompanyId>> {
        self.company_named(self.db(), name).await
    }

    /// The company named `name` (trimmed), read on `db` (the pool or a transaction).
    pub(crate) async fn company_named(&self, db: &impl ConnectionTrait, name: &str) -> Result<Option<CompanyId>> {
        let row =
            sql::one(db, self.backend(), "SELECT id FROM companies WHERE name = $1", vec![text(name.trim())]).await?;
        Ok(match row {
            Some(row) => Some(CompanyId(row.try_get_by_index(0)?)),
            None => None,
        })
    }

    /// Everything wrong with a new user's email and roles, at once: the
    /// email's form, each role's key, and an email another account has.
    /// (A form checks this first, so its page lists every problem together.)
    pub async fn new_user_problems(&self, email: &str, roles: &[String]) -> Result<Vec<Problem>> {
        let email = email.trim().to_lowercase();
        let mut problems = new_user_form_problems(&email, roles);
        if problems.iter().all(|p| p.pointer != "/email") && self.email_taken(&email).await? {
            problems.push(Problem::error("/email", email_taken_message(&email)));
        }
        Ok(problems)
    }

    async fn email_taken(&self, email: &str) -> Result<bool> {
        let found =
            sql::one(self.db(), self.backend(), "SELECT id FROM users WHERE email = $1", vec![text(email)]).await?;
        Ok(found.is_some())
    }

    /// Adds a user with permissions and roles, all or nothing.
    pub async fn add_user(&self, company: CompanyId, user: NewUser) -> Result<UserId> {
        let email = user.email.trim().to_lowercase();
        let problems = new_user_form_problems(&email, &user.roles);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let backend = self.backend();
        if self.email_taken(&email).await? {
            return Err(StoreError::Conflict(email_taken_message(&email)));
        }
        let write = self.write().await?;
        let display_name =
            if user.display_name.trim().is_empty() { email.clone() } else { user.display_name.trim().to_owned() };
        let row = sql::one(
            &write.tx,
            backend,
            "INSERT INTO users (company_id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            vec![int(company.0), text(&email), text(display_name), text(user.password_hash), int(now_millis())],
        )
        .await?
        .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
        let id = UserId(row.try_get_by_index(0)?);
        for permission in &user.permissions {
            sql::exec(
                &write.tx,
                backend,
                "INSERT INTO user_permissions (company_id, user_id, permission) VALUES ($1, $2, $3)",
                vec![int(company.0), int(id.0), text(permission.as_str())],
            )
            .await?;
        }
        for role in &user.roles {
            let role_id = ensure_role(&write.tx, backend, company, role).await?;
            sql::exec(
                &write.tx,
                backend,
                "INSERT INTO user_roles (company_id, user_id, role_id) VALUES ($1, $2, $3)",
                vec![int(company.0), int(id.0), int(role_id.0)],
            )
            .await?;
        }
        write.commit().await?;
        self.forget_role_members(company)?;
        Ok(id)
    }

    pub async fn list_users(&self, company: CompanyId) -> Result<Vec<UserSummary>> {
        let backend = self.backend();
        let rows = sql::all(
            self.db(),
            backend,
            "SELECT id, email, display_name FROM users WHERE company_id = $1 ORDER BY email",
            vec![int(company.0)],
        )
        .await?;
        let permission_rows = sql::all(
            self.db(),
            backend,
            "SELECT user_id, permission FROM user_permissions WHERE company_id = $1 ORDER BY permission",
            vec![int(company.0)],
        )
        .await?;
        let role_rows = sql::all(
            self.db(),
            backend,
            "SELECT ur.user_id, r.key FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.company_id = $1 ORDER BY r.key",
            vec![int(company.0)],
        )
        .await?;
        let pairs = |rows: &[sea_orm::QueryResult]| -> Result<Vec<(i64, String)>> {
            rows.iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?))).collect()
        };
        let permissions = pairs(&permission_rows)?;
        let roles = pairs(&role_rows)?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get_by_index(0)?;
                Ok(UserSummary {
                    id: UserId(id),
                    email: row.try_get_by_index(1)?,
                    display_name: row.try_get_by_index(2)?,
                    permissions: permissions.iter().filter(|(u, _)| *u == id).map(|(_, p)| p.clone()).collect(),
                    roles: roles.iter().filter(|(u, _)| *u == id).map(|(_, r)| r.clone()).collect(),
                })
            })
            .collect()
    }

    /// True when no company exists yet (a fresh database).
    pub async fn has_no_companies(&self) -> Result<bool> {
        let row = sql::one(self.db(), self.backend(), "SELECT id FROM companies LIMIT 1", vec![]).await?;
        Ok(row.is_none())
    }

    /// The id of a user of this company by email.
    pub async fn user_by_email(&self, company: CompanyId, email: &str) -> Result<Option<UserId>> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT id FROM users WHERE company_id = $1 AND email = $2",
            vec![int(company.0), text(email.trim().to_lowercase())],
        )
        .await?;
        Ok(match row {
            Some(row) => Some(UserId(row.try_get_by_index(0)?)),
            None => None,
        })
    }
}

/// The role with this key, created if missing.
pub(crate) async fn ensure_role(
    db: &impl ConnectionTrait,
    backend: sea_orm::DbBackend,
    company: CompanyId,
    key: &str,
) -> Result<RoleId> {
    let existing = sql::one(
        db,
        backend,
        "SELECT id FROM roles WHERE company_id = $1 AND key = $2",
        vec![int(company.0), text(key)],
    )
    .await?;
    if let Some(row) = existing {
        return Ok(RoleId(row.try_get_by_index(0)?));
    }
    let row = sql::one(
        db,
        backend,
        "INSERT INTO roles (company_id, key, title) VALUES ($1, $2, $3) RETURNING id",
        vec![int(company.0), text(key), text(key)],
    )
    .await?
    .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
    Ok(RoleId(row.try_get_by_index(0)?))
}

/// The problems of a new user's email (lower case) and role keys that need no lookup.
fn new_user_form_problems(email: &str, roles: &[String]) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
        problems.push(Problem::error("/email", format!("\"{email}\" is not an email address")));
    }
    for (index, role) in roles.iter().enumerate() {
        if !ticketflower_core::definition::is_slug(role) {
            problems.push(Problem::error(
                format!("/roles/{index}"),
                format!("role \"{role}\" must be lowercase letters, digits, '-' or '_'"),
            ));
        }
    }
    problems
}

fn email_taken_message(email: &str) -> String {
    format!("a user with the email {email} already exists")
}
