//! File upload metadata. The bytes live under the data directory (written by the
//! web layer); the store keeps who uploaded what, for which ticket.

use crate::sql::{self, int, text};
use crate::{CompanyId, FileId, Result, Store, StoreError, TicketId, UserId, now_millis};
use serde::Serialize;
use ticketflower_core::Problem;

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileMeta {
    pub id: FileId,
    #[serde(flatten)]
    pub file: NewFile,
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
        let mut problems = Vec::new();
        if file.file_name.trim().is_empty() || file.file_name.contains(['/', '\\']) {
            problems.push(Problem::error("/file_name", "a file name must be non-empty and contain no path separators"));
        }
        if file.size_bytes < 0 {
            problems.push(Problem::error("/size_bytes", "the size cannot be negative"));
        }
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
        let row = sql::one(
            &write.tx,
            backend,
            "INSERT INTO files (company_id, ticket_id, file_name, content_type, size_bytes, storage_path, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            vec![
                int(company.0),
                sql::int_opt(file.ticket.map(|t| t.0)),
                text(file.file_name),
                text(file.content_type),
                int(file.size_bytes),
                text(file.storage_path),
                sql::int_opt(file.created_by.map(|u| u.0)),
                int(now_millis()),
            ],
        )
        .await?
        .ok_or(StoreError::Corrupt("insert returned no id".into()))?;
        let id = FileId(row.try_get_by_index(0)?);
        write.commit().await?;
        Ok(id)
    }

    /// The files of a ticket, oldest first.
    pub async fn ticket_files(&self, company: CompanyId, ticket: TicketId) -> Result<Vec<FileMeta>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT id, ticket_id, file_name, content_type, size_bytes, storage_path, created_by FROM files \
             WHERE company_id = $1 AND ticket_id = $2 ORDER BY id",
            vec![int(company.0), int(ticket.0)],
        )
        .await?;
        rows.iter()
            .map(|r| {
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
                })
            })
            .collect()
    }
}
