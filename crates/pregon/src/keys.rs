//! API keys: 256 random bits, shown once, stored only as a SHA-256 hash.

use sha2::{Digest, Sha256};

/// A new API key, e.g. `pgn_3f9a…` (64 hex characters after the prefix).
pub fn generate() -> String {
    format!("pgn_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// The stored form of a key. A plain hash suffices: the key has 256 bits of entropy.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// The first characters of a key, safe to show in lists and logs.
pub fn prefix(key: &str) -> String {
    key.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = generate();
        assert!(a.starts_with("pgn_") && a.len() == 68);
        assert_ne!(a, generate());
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&generate()));
        assert_eq!(prefix(&a).len(), 12);
    }
}
