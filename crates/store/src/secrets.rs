//! Company secrets (SPEC §5): API keys and passwords that HTTP actions and
//! the assistant use, stored encrypted at rest and never shown again.
//!
//! Each value is sealed with ChaCha20-Poly1305 under the deployment's
//! [`SecretKey`], with a random nonce per write and the company id and the
//! secret's name as associated data, so a row copied to another company or
//! renamed no longer opens. The key comes from `TICKETFLOWER_SECRET_KEY` or a
//! key file the server creates (see `docs/web.md`); the database alone cannot
//! reveal a secret. Values never appear in `Debug` output or errors.

use crate::sql::{self, int, text};
use crate::{CompanyId, Result, Store, StoreError, now_millis};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ticketflower_core::Problem;

/// The deployment's secret-encryption key (32 bytes).
#[derive(Clone)]
pub struct SecretKey(Key);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no random source: {e}")))?;
        Ok(Self(Key::from(bytes)))
    }

    /// Reads a key written as 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
        }
        Some(Self(Key::from(bytes)))
    }

    /// The key as 64 hex digits (for the key file).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn seal(&self, company: CompanyId, name: &str, value: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Corrupt(format!("no random source: {e}")))?;
        let nonce = Nonce::from(nonce);
        let aad = associated_data(company, name);
        let sealed = ChaCha20Poly1305::new(&self.0)
            .encrypt(&nonce, Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| StoreError::Corrupt("the secret could not be encrypted".into()))?;
        Ok((nonce.to_vec(), sealed))
    }

    fn open(&self, company: CompanyId, name: &str, nonce: &[u8], sealed: &[u8]) -> Result<String> {
        let nonce: [u8; 12] =
            nonce.try_into().map_err(|_| StoreError::Corrupt(format!("secret {name} has a bad nonce")))?;
        let aad = associated_data(company, name);
        let plain =
            ChaCha20Poly1305::new(&self.0).decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: &aad }).map_err(
                |_| StoreError::Corrupt(format!("secret {name} cannot be decrypted (was the secret key changed?)")),
            )?;
        String::from_utf8(plain).map_err(|_| StoreError::Corrupt(format!("secret {name} is not text")))
    }
}

fn associated_data(company: CompanyId, name: &str) -> Vec<u8> {
    format!("ticketflower-secret/{}/{name}", company.0).into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A secret's name and when it was last set (the value is never listed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    pub name: String,
    pub updated_at: i64,
}

/// Names are what `{{secrets.NAME}}` refers to: letters, digits and `_`,
/// starting with a letter, at most 64 characters.
pub fn is_secret_name(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Store {
    /// Sets (creates or replaces) a company secret.
    pub async fn set_secret(&self, key: &SecretKey, company: CompanyId, name: &str, value: &str) -> Result<()> {
        self.change_secrets(key, company, &[(name, Some(value))]).await
    }

    /// Sets (`Some`) or removes (`None`) several secrets, all or nothing. Every
    /// name and value is checked first; problems point at `/name` and `/value`.
    pub async fn change_secrets(
        &self,
        key: &SecretKey,
        company: CompanyId,
        changes: &[(&str, Option<&str>)],
    ) -> Result<()> {
        let mut problems = Vec::new();
        let mut sealed = Vec::with_capacity(changes.len());
        for (name, value) in changes {
            let named = is_secret_name(name);
            if !named {
                problems.push(Problem::error(
                    "/name",
                    "a secret name is letters, digits and _, starting with a letter (at most 64), e.g. PAYMENTS_KEY",
                ));
            }
            match value {
                Some("") => problems.push(Problem::error("/value", "the value is empty")),
                Some(value) if value.len() > 16 * 1024 => {
                    problems.push(Problem::error("/value", "a secret is at most 16 KiB"));
                }
                Some(value) if named => sealed.push((*name, Some(key.seal(company, name, value)?))),
                None if named => sealed.push((*name, None)),
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::Invalid(problems));
        }
        let backend = self.backend();
        let write = self.write().await?;
        let now = now_millis();
        for (name, value) in sealed {
            sql::exec(
                &write.tx,
                backend,
                "DELETE FROM company_secrets WHERE company_id = $1 AND name = $2",
                vec![int(company.0), text(name)],
            )
            .await?;
            if let Some((nonce, sealed)) = value {
                sql::exec(
                    &write.tx,
                    backend,
                    "INSERT INTO company_secrets (company_id, name, nonce, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)",
                    vec![int(company.0), text(name), text(hex(&nonce)), text(hex(&sealed)), int(now)],
                )
                .await?;
            }
        }
        write.commit().await
    }

    /// The names of the company's secrets, sorted.
    pub async fn secret_names(&self, company: CompanyId) -> Result<Vec<SecretInfo>> {
        let rows = sql::all(
            self.db(),
            self.backend(),
            "SELECT name, updated_at FROM company_secrets WHERE company_id = $1 ORDER BY name",
            vec![int(company.0)],
        )
        .await?;
        rows.iter()
            .map(|r| Ok(SecretInfo { name: r.try_get_by_index(0)?, updated_at: r.try_get_by_index(1)? }))
            .collect()
    }

    /// A secret's value, for the engine and the assistant (never for pages).
    pub async fn secret_value(&self, key: &SecretKey, company: CompanyId, name: &str) -> Result<Option<String>> {
        let row = sql::one(
            self.db(),
            self.backend(),
            "SELECT nonce, sealed FROM company_secrets WHERE company_id = $1 AND name = $2",
            vec![int(company.0), text(name)],
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let nonce = unhex(&row.try_get_by_index::<String>(0)?).ok_or(StoreError::Corrupt("bad nonce".into()))?;
        let sealed = unhex(&row.try_get_by_index::<String>(1)?).ok_or(StoreError::Corrupt("bad secret".into()))?;
        key.open(company, name, &nonce, &sealed).map(Some)
    }

    /// Deletes a secret; a missing one is not found.
    pub async fn delete_secret(&self, company: CompanyId, name: &str) -> Result<()> {
        let write = self.write().await?;
        let deleted = sql::exec(
            &write.tx,
            self.backend(),
            "DELETE FROM company_secrets WHERE company_id = $1 AND name = $2",
            vec![int(company.0), text(name)],
        )
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound("secret"));
        }
        write.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_company_and_name() {
        let key = SecretKey::generate().unwrap();
        let (nonce, sealed) = key.seal(CompanyId(1), "API_KEY", "s3cret").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert_eq!(key.open(CompanyId(1), "API_KEY", &nonce, &sealed).unwrap(), "s3cret");
        assert!(key.open(CompanyId(2), "API_KEY", &nonce, &sealed).is_err(), "another company");
        assert!(key.open(CompanyId(1), "OTHER", &nonce, &sealed).is_err(), "another name");
        let other = SecretKey::generate().unwrap();
        assert!(other.open(CompanyId(1), "API_KEY", &nonce, &sealed).is_err(), "another key");
    }

    #[test]
    fn keys_round_trip_as_hex_and_never_print() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(key.to_hex(), again.to_hex());
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
        assert!(SecretKey::from_hex("zz").is_none());
        assert!(SecretKey::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn secret_names_are_identifiers() {
        assert!(is_secret_name("PAYMENTS_KEY"));
        assert!(is_secret_name("a1"));
        assert!(!is_secret_name("1a"));
        assert!(!is_secret_name("with space"));
        assert!(!is_secret_name(""));
    }
}
