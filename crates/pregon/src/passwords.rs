//! Passwords: at least 12 characters, stored as argon2id (PHC strings), checked in constant
//! work whether or not the account exists.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// Fewest characters a password may have.
pub const MIN_CHARS: usize = 12;
/// Most characters a password may have: hashing is deliberately slow, so an enormous one
/// must not become a way to keep the server busy.
pub const MAX_CHARS: usize = 256;

/// Why a password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("must have at least 12 characters")]
    TooShort,
    #[error("must have at most 256 characters")]
    TooLong,
}

/// Checks a new password against the rules.
pub fn validate(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The argon2id hash of a password (argon2's default cost: 19 MiB, 2 passes), with a random
/// salt. Takes tens of milliseconds: call it off the async threads.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing fails only for parameters out of range, which the defaults are not.
        .unwrap_or_default()
}

/// Whether `password` is the one `stored` was made from. A stored value that is not a PHC
/// string matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Does the work of [`verify`] against a hash nobody's password matches, so that signing in
/// as an email with no account takes as long as with a wrong password.
pub fn verify_nobody(password: &str) -> bool {
    static NOBODY: OnceLock<String> = OnceLock::new();
    let stored = NOBODY.get_or_init(|| hash(&generate()));
    std::hint::black_box(verify(password, stored));
    false
}

/// A new random password, 20 characters of an alphabet without look-alikes (shown once by
/// the CLI and the first start).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert_ne!(stored, hash("correct horse battery"), "salted");
        assert!(!verify("anything", "not a hash"));
        assert!(!verify_nobody("correct horse battery"));
    }

    #[test]
    fn the_rules_are_length_only() {
        assert_eq!(validate("short"), Err(PasswordError::TooShort));
        assert_eq!(validate("ñandú ñandú!"), Ok(()), "12 characters, not bytes");
        assert_eq!(validate(&"x".repeat(257)), Err(PasswordError::TooLong));
        let generated = generate();
        assert_eq!(generated.chars().count(), 20);
        assert_eq!(validate(&generated), Ok(()));
        assert_ne!(generated, generate());
    }
}
