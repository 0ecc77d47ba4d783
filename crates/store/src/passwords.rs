//! Password hashing with Argon2id (SPEC §1): PHC strings with a random salt
//! per password. The store keeps only the hash.

use crate::{Result, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ticketflower_core::Problem;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;

/// Hashes a password, refusing one that is too short.
pub fn hash(password: &str) -> Result<String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(StoreError::Invalid(vec![Problem::error(
            "/password",
            format!("the password needs at least {MIN_LENGTH} characters"),
        )]));
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| StoreError::Corrupt(format!("password hashing failed: {error}")))
}

/// True when `password` matches the stored hash.
pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batter", &stored));
        assert!(!verify("correct horse battery", "not a hash"));
        assert_ne!(stored, hash("correct horse battery").unwrap(), "each hash has its own salt");
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(StoreError::Invalid(_))));
    }
}
