//! A submitted form from a logged-in user: URL-encoded or multipart, with
//! repeated names kept in order and uploads in memory, checked against the
//! session's CSRF token before any handler sees it.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::WebError;
use crate::forms::Upload;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header::CONTENT_TYPE;

pub struct Posted {
    pub user: CurrentUser,
    pub pairs: Vec<(String, String)>,
    pub uploads: Vec<Upload>,
}

impl Posted {
    /// The first value of a field, or "".
    pub fn text(&self, name: &str) -> &str {
        self.pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or("")
    }

    /// The first value of a field, trimmed, if not empty.
    pub fn optional(&self, name: &str) -> Option<&str> {
        Some(self.text(name).trim()).filter(|value| !value.is_empty())
    }

    /// Every value of a repeated field.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

impl FromRequest<AppState> for Posted {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let user = CurrentUser::from_request_parts(&mut parts, state).await?;
        let content_type =
            parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let request = Request::from_parts(parts, body);
        let mut pairs = Vec::new();
        let mut uploads = Vec::new();
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
            while let Some(field) =
                multipart.next_field().await.map_err(|e| WebError::BadRequest(format!("the upload failed: {e}")))?
            {
                let name = field.name().unwrap_or_default().to_owned();
                match field.file_name().map(str::to_owned) {
                    Some(file_name) => {
                        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
                        let bytes =
                            field.bytes().await.map_err(|e| WebError::BadRequest(format!("the upload failed: {e}")))?;
                        if !file_name.is_empty() && !bytes.is_empty() {
                            uploads.push(Upload { field: name, file_name, content_type, bytes: bytes.to_vec() });
                        }
                    }
                    None => {
                        let value = field
                            .text()
                            .await
                            .map_err(|e| WebError::BadRequest(format!("the form is not text: {e}")))?;
                        pairs.push((name, value));
                    }
                }
            }
        } else {
            let bytes = axum::body::Bytes::from_request(request, state)
                .await
                .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
            pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
        }
        let given = pairs.iter().find(|(key, _)| key == crate::csrf::FIELD).map(|(_, v)| v.as_str()).unwrap_or("");
        if !crate::csrf::tokens_match(&user.session.csrf_token, given) {
            return Err(WebError::Forbidden(
                "the form has expired or came from elsewhere; reload the page and send it again".into(),
            ));
        }
        pairs.retain(|(key, _)| key != crate::csrf::FIELD);
        // PostgreSQL cannot store NUL in text or JSON; no form has a use for it.
        if let Some((name, _)) = pairs.iter().find(|(name, value)| name.contains('\0') || value.contains('\0')) {
            return Err(WebError::BadRequest(format!(
                "the field \"{}\" contains a NUL character",
                name.replace('\0', "")
            )));
        }
        for upload in &mut uploads {
            upload.file_name.retain(|c| !c.is_control());
        }
        Ok(Posted { user, pairs, uploads })
    }
}
