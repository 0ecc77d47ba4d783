//! The assistant's conversations (SPEC §6): each belongs to one user of one
//! company and holds its messages in order — the person's words, the model's
//! answers with their tool calls, and the tool results — as JSON, with the
//! tokens each model call used.

use crate::sql::{self, int, json, text};
use crate::{CompanyId, Result, Store, StoreError, UserId, now_millis};
use serde::Serialize;
use serde_json::Value;

/// A conversation's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ConversationId(pub i64);

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One stored message: `role` is `user`, `assistant`, `tool` or `event`;
/// `content` is the message as the assistant crate serializes it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredMessage {
    pub id: i64,
    pub role: String,
    pub content: Value,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub created_at: i64,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: String,
    pub content: Value,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl Store {
    /// Starts a conversation for a user.
    pub async fn create_conversation(&self, company: CompanyId, user: UserId, title: &str) -> Result<ConversationId> {
        self.start_conversation(company, user, title, &[]).await
    }

    /// Starts a conversation for a user with its first messages, all or nothing.
    pub async fn start_conversation(
        &self,
        company: CompanyId,
        user: UserId,
        title: &str,
        messages: &[NewMessage],
    ) -> Result<ConversationId> {
        let title = title.trim();
        let title = if title.is_empty() { "New conversation" } else { title };
        let title: String = title.chars().take(200).collect();
        let now = now_millis();
        let write = self.write().await?;
        let row = sql::one(
            &write.tx,
            self.backend(),
            "INSERT INTO conversations (company_id, user_id, title, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $4 FROM users WHERE company_id = $1 AND id = $2 RETURNING id",
            vec![int(company.0), int(user.0), text(title), int(now)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let id = ConversationId(row.try_get_by_index(0)?);
        insert_messages(&write.tx, self.backend(), company, id, messages, now).await?;
        write.commit().await?;
        Ok(id)
    }

    /// A user's conversations, latest first.
    pub async fn conversations(&self, company: CompanyId, user: UserId) -> Result<Vec<ConversationSummary>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT id, title, created_at, updated_at FROM conversations \
             WHERE company_id = $1 AND user_id = $2 ORDER BY updated_at DESC, id DESC LIMIT 200",
            vec![int(company.0), int(user.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConversationSummary {
                    id: ConversationId(r.try_get_by_index(0)?),
                    title: r.try_get_by_index(1)?,
                    created_at: r.try_get_by_index(2)?,
                    updated_at: r.try_get_by_index(3)?,
                })
            })
            .collect()
    }

    /// One of the user's conversations with its messages, oldest first
    /// (another user's or company's conversation is not found).
    pub async fn conversation(
        &self,
        company: CompanyId,
        user: UserId,
        id: ConversationId,
    ) -> Result<(ConversationSummary, Vec<StoredMessage>)> {
        let backend = self.backend();
        let row = sql::one(
            self.db(),
            backend,
            "SELECT id, title, created_at, updated_at FROM conversations WHERE company_id = $1 AND user_id = $2 AND id = $3",
            vec![int(company.0), int(user.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("conversation"))?;
        let summary = ConversationSummary {
            id,
            title: row.try_get_by_index(1)?,
            created_at: row.try_get_by_index(2)?,
            updated_at: row.try_get_by_index(3)?,
        };
        let rows = sql::all(
            self.db(),
            backend,
            "SELECT id, role, content, input_tokens, output_tokens, created_at FROM conversation_messages \
             WHERE company_id = $1 AND conversation_id = $2 ORDER BY id",
            vec![int(company.0), int(id.0)],
        )
        .await?;
        let messages = rows
            .iter()
            .map(|r| {
                Ok(StoredMessage {
                    id: r.try_get_by_index(0)?,
                    role: r.try_get_by_index(1)?,
                    content: r.try_get_by_index(2)?,
                    input_tokens: r.try_get_by_index(3)?,
                    output_tokens: r.try_get_by_index(4)?,
                    created_at: r.try_get_by_index(5)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((summary, messages))
    }

    /// Appends messages to one of the user's conversations, all or nothing.
    pub async fn append_messages(
        &self,
        company: CompanyId,
        user: UserId,
        id: ConversationId,
        messages: &[NewMessage],
    ) -> Result<()> {
        let backend = self.backend();
        let now = now_millis();
        let write = self.write().await?;
        let touched = sql::exec(
            &write.tx,
            backend,
            "UPDATE conversations SET updated_at = $4 WHERE company_id = $1 AND user_id = $2 AND id = $3",
            vec![int(company.0), int(user.0), int(id.0), int(now)],
        )
        .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NotFound("conversation"));
        }
        insert_messages(&write.tx, backend, company, id, messages, now).await?;
        write.commit().await
    }

    /// Tokens the company's assistant conversations used: (input, output).
    pub async fn assistant_usage(&self, company: CompanyId) -> Result<(i64, i64)> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) \
             FROM conversation_messages WHERE company_id = $1",
            vec![int(company.0)],
        )
        .await?
        .ok_or(StoreError::Corrupt("no usage row".into()))?;
        Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
    }
}

async fn insert_messages(
    tx: &sea_orm::DatabaseTransaction,
    backend: sea_orm::DbBackend,
    company: CompanyId,
    id: ConversationId,
    messages: &[NewMessage],
    now: i64,
) -> Result<()> {
    for message in messages {
        sql::exec(
            tx,
            backend,
            "INSERT INTO conversation_messages (company_id, conversation_id, role, content, input_tokens, output_tokens, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                int(company.0),
                int(id.0),
                text(&message.role),
                json(&message.content),
                int(message.input_tokens),
                int(message.output_tokens),
                int(now),
            ],
        )
        .await?;
    }
    Ok(())
}
