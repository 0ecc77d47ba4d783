//! Company administration (SPEC §1): the company's roles, and each user's
//! permissions and roles. A company must keep at least one `company_admin`
//! once it has one, so an admin cannot lock the company out of its settings.

use crate::sql::{self, int, text};
use crate::{CompanyId, Permission, Result, RoleId, Store, StoreError, UserId, UserSummary};
use serde::Serialize;
use std::collections::HashMap;
use ticketflower_core::Problem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleView {
    pub id: RoleId,
    pub key: String,
    pub title: String,
    /// Users holding the role.
    pub members: i64,
}

/// The longest role title, in characters.
const MAX_TITLE: usize = 200;

fn title_problems(title: &str) -> Vec<Problem> {
    if title.trim().is_empty() {
        vec![Problem::error("/title", "a role needs a title")]
    } else if title.trim().chars().count() > MAX_TITLE {
        vec![Problem::error("/title", format!("a role title can have at most {MAX_TITLE} characters"))]
    } else {
        Vec::new()
    }
}

impl Store {
    /// The company's roles by key, with how many users hold each.
    pub async fn list_roles(&self, company: CompanyId) -> Result<Vec<RoleView>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT r.id, r.key, r.title, (SELECT COUNT(*) FROM user_roles ur WHERE ur.role_id = r.id) \
             FROM roles r WHERE r.company_id = $1 ORDER BY r.key",
            vec![int(company.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RoleView {
                    id: RoleId(r.try_get_by_index(0)?),
                    key: r.try_get_by_index(1)?,
                    title: r.try_get_by_index(2)?,
                    members: r.try_get_by_index(3)?,
                })
            })
            .collect()
    }

    /// Creates a role; the key is a slug, unique in the company.
    pub async fn create_role(&self, company: CompanyId, key: &str, title: &str) -> Result<RoleId> {
        let key = key.trim();
        let mut problems = Vec::new();
        if !ticketflower_core::definition::is_slug(key) {
            problems.push(Problem::error(
                "/key",
                format!("role \"{key}\" must be 1 to 64 lowercase letters, digits, '-' or '_'"),
            ));
        }
        // Without a title, the key is the title (as for roles created with a user).
        let title = if title.trim().is_empty() { key } else { title.trim() };
        problems.extend(title_problems(title));
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let write = self.write().await?;
        // ON CONFLICT: two creations of one key at once give one role and one conflict.
        let row = sql::one(
            &write.tx,
            self.backend(),
            "INSERT INTO roles (company_id, key, title) VALUES ($1, $2, $3) \
             ON CONFLICT (company_id, key) DO NOTHING RETURNING id",
            vec![int(company.0), text(key), text(title)],
        )
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("a role \"{key}\" already exists")))?;
        let id = RoleId(row.try_get_by_index(0)?);
        write.commit().await?;
        Ok(id)
    }

    pub async fn rename_role(&self, company: CompanyId, role: RoleId, title: &str) -> Result<()> {
        let problems = title_problems(title);
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let write = self.write().await?;
        let changed = sql::exec(
            &write.tx,
            self.backend(),
            "UPDATE roles SET title = $3 WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(role.0), text(title.trim())],
        )
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound("role"));
        }
        write.commit().await
    }

    /// One user with their permissions and role keys.
    pub async fn user(&self, company: CompanyId, user: UserId) -> Result<UserSummary> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT email, display_name FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let (permissions, roles) = self.grants(company, user).await?;
        Ok(UserSummary {
            id: user,
            email: row.try_get_by_index(0)?,
            display_name: row.try_get_by_index(1)?,
            permissions,
            roles,
        })
    }

    /// Replaces a user's permissions and roles, both or neither. A role of
    /// another company answers NotFound; taking `company_admin` from the last
    /// holder is a conflict.
    pub async fn set_user_access(
        &self,
        company: CompanyId,
        user: UserId,
        permissions: &[Permission],
        roles: &[RoleId],
    ) -> Result<()> {
        let backend = self.backend();
        let mut permissions: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        permissions.sort_unstable();
        permissions.dedup();
        let mut roles: Vec<i64> = roles.iter().map(|r| r.0).collect();
        roles.sort_unstable();
        roles.dedup();
        let write = self.write().await?;
        sql::one(
            &write.tx,
            backend,
            "SELECT id FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let found = sql::one(
            &write.tx,
            backend,
            &format!("SELECT COUNT(*) FROM roles WHERE company_id = $1 AND id IN ({})", sql::id_list(backend, "$2")),
            vec![int(company.0), sql::ids(&roles)],
        )
        .await?
        .ok_or(StoreError::Corrupt("count returned nothing".into()))?
        .try_get_by_index::<i64>(0)?;
        if found != roles.len() as i64 {
            return Err(StoreError::NotFound("role"));
        }
        let admin = Permission::CompanyAdmin.as_str();
        let was_admin = sql::one(
            &write.tx,
            backend,
            "SELECT 1 FROM user_permissions WHERE company_id = $1 AND user_id = $2 AND permission = $3",
            vec![int(company.0), int(user.0), text(admin)],
        )
        .await?
        .is_some();
        sql::exec(
            &write.tx,
            backend,
            "DELETE FROM user_permissions WHERE company_id = $1 AND user_id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        for permission in &permissions {
            sql::exec(
                &write.tx,
                backend,
                "INSERT INTO user_permissions (company_id, user_id, permission) VALUES ($1, $2, $3)",
                vec![int(company.0), int(user.0), text(*permission)],
            )
            .await?;
        }
        if was_admin && !permissions.contains(&admin) {
            let admins = sql::one(
                &write.tx,
                backend,
                "SELECT COUNT(*) FROM user_permissions WHERE company_id = $1 AND permission = $2",
                vec![int(company.0), text(admin)],
            )
            .await?
            .ok_or(StoreError::Corrupt("count returned nothing".into()))?
            .try_get_by_index::<i64>(0)?;
            if admins == 0 {
                return Err(StoreError::Conflict(
                    "this is the company's last administrator; make someone else company_admin first".into(),
                ));
            }
        }
        sql::exec(
            &write.tx,
            backend,
            "DELETE FROM user_roles WHERE company_id = $1 AND user_id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        for role in &roles {
            sql::exec(
                &write.tx,
                backend,
                "INSERT INTO user_roles (company_id, user_id, role_id) VALUES ($1, $2, $3)",
                vec![int(company.0), int(user.0), int(*role)],
            )
            .await?;
        }
        write.commit().await?;
        self.forget_role_members(company)
    }

    /// Display names of the company's users among `ids` (others are left out).
    pub async fn user_names(&self, company: CompanyId, ids: &[UserId]) -> Result<HashMap<UserId, String>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let backend = self.backend();
        let ids: Vec<i64> = ids.iter().map(|u| u.0).collect();
        let rows = sql::all(
            self.db(),
            backend,
            &format!(
                "SELECT id, display_name FROM users WHERE company_id = $1 AND id IN ({})",
                sql::id_list(backend, "$2")
            ),
            vec![int(company.0), sql::ids(&ids)],
        )
        .await?;
        rows.iter().map(|r| Ok((UserId(r.try_get_by_index(0)?), r.try_get_by_index(1)?))).collect()
    }
}
