//! File upload metadata. The bytes live under the data directory (written by the
//! web layer); the store keeps who uploaded what, for which ticket (and, for
//! attachments of the conversation, which comment).

use crate::sql::{self, int, text};
use crate::{CommentId, CompanyId, FileId, Result, Store, StoreError, TicketId, UserId, now_millis};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};
use serde::Serialize;
use ticketflower_core::Problem;

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileMeta {
    pub id: FileId,
    #[serde(flatten)]
    pub file: NewFile,
    /// Attached to an internal note: only the ticket's staff may see it.
    pub internal: bool,
}

/// A file to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewFile {
    pub ticket: Option<TicketId>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub storage_path: String,
    pub created_by: Option<UserId>,
}

impl Store {
    /// Records an uploaded file; the ticket, if given, must belong to the company.
    pub async fn add_file(&self, company: CompanyId, file: NewFile) -> Result<FileId> {
        let problems = file_problems(&file, "");
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let backend = self.backend();
        let write = self.write().await?;
        if let Some(ticket) = file.ticket {
            sql::one(
                &write.tx,
                backend,
                "SELECT id FROM tickets WHERE company_id = $1 AND id = $2",
                vec![int(company.0), int(ticket.0)],
            )
            .await?
            .ok_or(StoreError::NotFound("ticket"))?;
        }
        let id = insert_file(&write.tx, backend, company, file, None).await?;
        write.commit().await?;
        Ok(id)
    }

    /// A file's metadata (its `ticket` says which ticket it belongs to).
    pub async fn file(&self, company: CompanyId, id: FileId) -> Result<FileMeta> {
        let row = sql::one(
            self.db(),
            self.backend(),
            &format!("SELECT {FILE_COLUMNS} FROM files f WHERE f.company_id = $1 AND f.id = $2"),
            vec![int(company.0), int(id.0)],
        )
        .await?
        .ok_or(StoreError::NotFound("file"))?;
        file_meta(&row)
    }

    /// The files of a ticket, oldest first.
    pub async fn ticket_files(&self, company: CompanyId, ticket: TicketId) -> Result<Vec<FileMeta>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            &format!("SELECT {FILE_COLUMNS} FROM files f WHERE f.company_id = $1 AND f.ticket_id = $2 ORDER BY f.id"),
            vec![int(company.0), int(ticket.0)],
        )
        .await?;
        rows.iter().map(file_meta).collect()
    }
}

/// The problems of a file to record; pointers start with `prefix` (`/files/0`).
pub(crate) fn file_problems(file: &NewFile, prefix: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if file.file_name.trim().is_empty() || file.file_name.contains(['/', '\\']) {
        problems.push(Problem::error(
            format!("{prefix}/file_name"),
            "a file name must be non-empty and contain no path separators",
        ));
    }
    if file.size_bytes < 0 {
        problems.push(Problem::error(format!("{prefix}/size_bytes"), "the size cannot be negative"));
    }
    problems
}

/// Inserts a file's row (checked with [`file_problems`]; its ticket checked by the caller).
pub(crate) async fn insert_file(
    db: &impl ConnectionTrait,
    backend: DbBackend,
    company: CompanyId,
    file: NewFile,
    comment: Option<CommentId>,
) -> Result<FileId> {
    let row = sql::one(
        db,
        backend,
        "INSERT INTO files (company_id, ticket_id, file_name, content_type, size_bytes, storage_path, created_by, created_at, comment_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        vec![
            int(company.0),
            sql::int_opt(file.ticket.map(|t| t.0)),
            text(file.file_name),
            text(file.content_type),
            int(file.size_bytes),
            text(file.storage_path),
            sql::int_opt(file.created_by.map(|u| u.0)),
            int(now_millis()),
            sql::int_opt(comment.map(|c| c.0)),
        ],
    )
    .await?
    .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
    Ok(FileId(row.try_get_by_index(0)?))
}

/// The columns [`file_meta`] reads, from `files` aliased `f` (the last one
/// counts the internal notes the file is attached to: none or one).
pub(crate) const FILE_COLUMNS: &str = "f.id, f.ticket_id, f.file_name, f.content_type, f.size_bytes, f.storage_path, \
     f.created_by, (SELECT COUNT(*) FROM comments c WHERE c.id = f.comment_id AND c.visibility = 'internal')";

pub(crate) fn file_meta(r: &QueryResult) -> Result<FileMeta> {
    Ok(FileMeta {
        id: FileId(r.try_get_by_index(0)?),
        file: NewFile {
            ticket: r.try_get_by_index::<Option<i64>>(1)?.map(TicketId),
            file_name: r.try_get_by_index(2)?,
            content_type: r.try_get_by_index(3)?,
            size_bytes: r.try_get_by_index(4)?,
            storage_path: r.try_get_by_index(5)?,
            created_by: r.try_get_by_index::<Option<i64>>(6)?.map(UserId),
        },
        internal: r.try_get_by_index::<i64>(7)? > 0,
    })
}

impl Store {
    /// Links files uploaded with a ticket's form (recorded before the ticket
    /// existed, by this user) to the ticket.
    pub async fn attach_files(&self, company: CompanyId, files: &[FileId], ticket: TicketId) -> Result<()> {
        let write = self.write().await?;
        for file in files {
            let changed = sql::exec(
                &write.tx,
                self.backend(),
                "UPDATE files SET ticket_id = $3 WHERE company_id = $1 AND id = $2 AND ticket_id IS NULL",
                vec![int(company.0), int(file.0), int(ticket.0)],
            )
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound("file"));
            }
        }
        write.commit().await
    }
}
