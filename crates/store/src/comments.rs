//! The ticket conversation (SPEC §7): public replies and internal notes, each
//! with its attachments. A comment, its files' rows and its audit event are
//! written in one transaction. Comments are indexed for search by triggers
//! (SQLite) or an expression index (PostgreSQL), see migrations.rs.

use crate::audit::{self, NewAuditEvent};
use crate::files::{FILE_COLUMNS, file_meta, file_problems, insert_file};
use crate::sql::{self, int, text};
use crate::{
    CommentId, CompanyId, FileMeta, InstanceId, NewFile, Result, Store, StoreError, TicketId, UserId, now_millis,
};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use ticketflower_core::Problem;

/// Who sees a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// A reply the requester sees.
    Public,
    /// A note for staff only.
    Internal,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Visibility::Public, Visibility::Internal].into_iter().find(|v| v.as_str() == text)
    }
}

/// A comment to add, with the files uploaded with it (their `ticket` is set to
/// the comment's ticket; a missing `created_by` becomes the author).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub ticket: TicketId,
    pub author: UserId,
    pub body: String,
    pub visibility: Visibility,
    pub files: Vec<NewFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentView {
    pub id: CommentId,
    pub author: Option<UserId>,
    /// The author's current display name (or the name they had when writing).
    pub author_name: String,
    pub body: String,
    pub visibility: Visibility,
    pub created_at: i64,
    pub files: Vec<FileMeta>,
}

/// The longest comment body, in characters.
const MAX_BODY: usize = 100_000;

impl Store {
    /// Adds a comment to a ticket with its files; audited as `comment_added`.
    pub async fn add_comment(&self, company: CompanyId, comment: NewComment) -> Result<CommentId> {
        let NewComment { ticket, author, body, visibility, files } = comment;
        let body = body.trim();
        let mut problems = Vec::new();
        if body.is_empty() {
            problems.push(Problem::error("/body", "a comment cannot be empty"));
        } else if body.chars().count() > MAX_BODY {
            problems.push(Problem::error("/body", format!("a comment can have at most {MAX_BODY} characters")));
        }
        for (index, file) in files.iter().enumerate() {
            problems.extend(file_problems(file, &format!("/files/{index}")));
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let backend = self.backend();
        let write = self.write().await?;
        let found = sql::one(
            &write.tx,
            backend,
            "SELECT (SELECT MIN(i.id) FROM instances i WHERE i.company_id = t.company_id AND i.ticket_id = t.id) \
             FROM tickets t WHERE t.company_id = $1 AND t.id = $2",
            vec![int(company.0), int(ticket.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket"))?;
        let instance = found.try_get_by_index::<Option<i64>>(0)?.map(InstanceId);
        let author_name: String = sql::one(
            &write.tx,
            backend,
            "SELECT display_name FROM users WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(author.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("user"))?
        .try_get_by_index(0)?;
        let row = sql::one(
            &write.tx,
            backend,
            "INSERT INTO comments (company_id, ticket_id, author_id, author_name, body, visibility, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            vec![
                int(company.0),
                int(ticket.0),
                int(author.0),
                text(author_name),
                text(body),
                text(visibility.as_str()),
                int(now_millis()),
            ],
        )
        .await?
        .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
        let id = CommentId(row.try_get_by_index(0)?);
        let mut file_ids = Vec::with_capacity(files.len());
        for file in files {
            let file = NewFile { ticket: Some(ticket), created_by: file.created_by.or(Some(author)), ..file };
            file_ids.push(insert_file(&write.tx, backend, company, file, Some(id)).await?.0);
        }
        audit::record(
            &write.tx,
            backend,
            NewAuditEvent {
                company,
                instance,
                ticket: Some(ticket),
                kind: "comment_added",
                detail: json!({"comment": id.0, "visibility": visibility.as_str(), "files": file_ids}),
                actor: Some(author),
            },
        )
        .await?;
        write.commit().await?;
        Ok(id)
    }

    /// A ticket's conversation, oldest first, with each comment's files. The
    /// caller decides who sees internal notes.
    pub async fn comments(&self, company: CompanyId, ticket: TicketId) -> Result<Vec<CommentView>> {
        let backend = self.backend();
        sql::one(
            self.db(),
            backend,
            "SELECT id FROM tickets WHERE company_id = $1 AND id = $2",
            vec![int(company.0), int(ticket.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("ticket"))?;
        let rows = sql::all(
            self.db(),
            backend,
            "SELECT c.id, c.author_id, COALESCE(u.display_name, c.author_name), c.body, c.visibility, c.created_at \
             FROM comments c LEFT JOIN users u ON u.id = c.author_id \
             WHERE c.company_id = $1 AND c.ticket_id = $2 ORDER BY c.id",
            vec![int(company.0), int(ticket.0)],
        )
        .await?;
        let file_rows = sql::all(
            self.db(),
            backend,
            &format!(
                "SELECT {FILE_COLUMNS}, f.comment_id FROM files f \
                 WHERE f.company_id = $1 AND f.ticket_id = $2 AND f.comment_id IS NOT NULL ORDER BY f.id"
            ),
            vec![int(company.0), int(ticket.0)],
        )
        .await?;
        let mut files: HashMap<i64, Vec<FileMeta>> = HashMap::new();
        for row in &file_rows {
            let comment: i64 = row.try_get_by_index(8)?;
            files.entry(comment).or_default().push(file_meta(row)?);
        }
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get_by_index(0)?;
                let visibility: String = r.try_get_by_index(4)?;
                Ok(CommentView {
                    id: CommentId(id),
                    author: r.try_get_by_index::<Option<i64>>(1)?.map(UserId),
                    author_name: r.try_get_by_index(2)?,
                    body: r.try_get_by_index(3)?,
                    visibility: Visibility::parse(&visibility)
                        .ok_or_else(|| StoreError::Corrupt(format!("comment {id} has visibility {visibility}")))?,
                    created_at: r.try_get_by_index(5)?,
                    files: files.remove(&id).unwrap_or_default(),
                })
            })
            .collect()
    }
}
