//! Login sessions kept server-side. The web layer makes the random token and
//! hands over only its hash; a session names its user, company and CSRF token.

use crate::sql::{self, int, text};
use crate::{CompanyId, Result, Store, StoreError, UserId, now_millis};

/// A user who can log in (emails are unique across companies).
#[derive(Clone)]
pub struct LoginCandidate {
    pub user: UserId,
    pub company: CompanyId,
    pub password_hash: String,
}

impl std::fmt::Debug for LoginCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCandidate").field("user", &self.user).finish_non_exhaustive()
    }
}

/// Who a valid session belongs to, with everything a request checks.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: UserId,
    pub company: CompanyId,
    pub company_name: String,
    pub email: String,
    pub display_name: String,
    pub permissions: Vec<String>,
    pub roles: Vec<String>,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Store {
    /// The login candidate for an email, if any.
    pub async fn login_candidate(&self, email: &str) -> Result<Option<LoginCandidate>> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT id, company_id, password_hash FROM users WHERE email = $1",
            vec![text(email.trim().to_lowercase())],
        )
        .await?;
        Ok(match row {
            Some(row) => Some(LoginCandidate {
                user: UserId(row.try_get_by_index(0)?),
                company: CompanyId(row.try_get_by_index(1)?),
                password_hash: row.try_get_by_index(2)?,
            }),
            None => None,
        })
    }

    /// Stores a new session (login). Sessions of the user that have expired are dropped.
    pub async fn create_session(
        &self,
        token_hash: &str,
        candidate: &LoginCandidate,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<()> {
        let write = self.write().await?;
        let now = now_millis();
        sql::exec(
            &write.tx,
            self.backend(),
            "DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2",
            vec![int(candidate.user.0), int(now)],
        )
        .await?;
        sql::exec(
            &write.tx,
            self.backend(),
            "INSERT INTO sessions (token_hash, company_id, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![text(token_hash), int(candidate.company.0), int(candidate.user.0), text(csrf_token), int(now), int(expires_at)],
        )
        .await?;
        write.commit().await
    }

    /// The user of an unexpired session.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<SessionUser>> {
        let backend = self.backend();
        let Some(row) = sql::one(
            self.db(),
            backend,
            "SELECT s.user_id, s.company_id, c.name, u.email, u.display_name, s.csrf_token, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id JOIN companies c ON c.id = s.company_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
            vec![text(token_hash), int(now_millis())],
        )
        .await?
        else {
            return Ok(None);
        };
        let user = UserId(row.try_get_by_index(0)?);
        let company = CompanyId(row.try_get_by_index(1)?);
        let (permissions, roles) = self.grants(company, user).await?;
        Ok(Some(SessionUser {
            user,
            company,
            company_name: row.try_get_by_index(2)?,
            email: row.try_get_by_index(3)?,
            display_name: row.try_get_by_index(4)?,
            permissions,
            roles,
            csrf_token: row.try_get_by_index(5)?,
            expires_at: row.try_get_by_index(6)?,
        }))
    }

    /// A user's permissions and role keys, sorted.
    pub async fn grants(&self, company: CompanyId, user: UserId) -> Result<(Vec<String>, Vec<String>)> {
        let backend = self.backend();
        let permissions = sql::all(
            self.db(),
            backend,
            "SELECT permission FROM user_permissions WHERE company_id = $1 AND user_id = $2 ORDER BY permission",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        let roles = sql::all(
            self.db(),
            backend,
            "SELECT r.key FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.company_id = $1 AND ur.user_id = $2 ORDER BY r.key",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        let strings = |rows: Vec<sea_orm::QueryResult>| -> Result<Vec<String>> {
            rows.iter().map(|r| Ok(r.try_get_by_index(0)?)).collect()
        };
        Ok((strings(permissions)?, strings(roles)?))
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let write = self.write().await?;
        sql::exec(&write.tx, self.backend(), "DELETE FROM sessions WHERE token_hash = $1", vec![text(token_hash)])
            .await?;
        write.commit().await
    }

    /// Ends every session of a user except `keep` (after a password change).
    pub async fn delete_other_sessions(&self, company: CompanyId, user: UserId, keep: &str) -> Result<()> {
        let write = self.write().await?;
        sql::exec(
            &write.tx,
            self.backend(),
            "DELETE FROM sessions WHERE company_id = $1 AND user_id = $2 AND token_hash <> $3",
            vec![int(company.0), int(user.0), text(keep)],
        )
        .await?;
        write.commit().await
    }

    /// Replaces a user's password hash.
    pub async fn set_password_hash(&self, company: CompanyId, user: UserId, password_hash: &str) -> Result<()> {
        let write = self.write().await?;
        let changed = sql::exec(
            &write.tx,
            self.backend(),
            "UPDATE users SET password_hash = $3 WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0), text(password_hash)],
        )
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        write.commit().await
    }

    /// The password hash of a user (to check the current password before a change).
    pub async fn password_hash(&self, company: CompanyId, user: UserId) -> Result<String> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT password_hash FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(user.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        Ok(row.try_get_by_index(0)?)
    }
}
