//! Provider credentials are encrypted at rest with ChaCha20-Poly1305 under the master key
//! (`PREGON_MASTER_KEY`, 32 bytes as 64 hex characters). Beside a SQLite database a key is
//! generated on first use into a 0600 file; PostgreSQL deployments must set it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const NONCE_LEN: usize = 12;

/// The key that seals credentials.
#[derive(Clone)]
pub struct MasterKey(ChaCha20Poly1305);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// Credentials could not be opened: wrong master key or damaged data.
#[derive(Debug, thiserror::Error)]
#[error("credentials could not be decrypted (wrong PREGON_MASTER_KEY?)")]
pub struct DecryptError;

impl MasterKey {
    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(text.trim()).context("PREGON_MASTER_KEY must be hex")?;
        if bytes.len() != 32 {
            bail!(
                "PREGON_MASTER_KEY must be 64 hex characters (32 bytes), not {}",
                text.trim().len()
            );
        }
        Ok(MasterKey(ChaCha20Poly1305::new(Key::from_slice(&bytes))))
    }

    /// A fresh random key, as hex.
    pub fn generate_hex() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// Reads the key from `PREGON_MASTER_KEY`'s value, or from (creating) the key file beside
    /// a SQLite database.
    pub fn load(from_env: Option<&str>, database_url: &str) -> anyhow::Result<Self> {
        if let Some(hex) = from_env.filter(|s| !s.trim().is_empty()) {
            return Self::from_hex(hex);
        }
        let Some(path) = key_file_for(database_url) else {
            bail!("PREGON_MASTER_KEY is required with this database (64 hex characters; generate one with `openssl rand -hex 32`)");
        };
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            return Self::from_hex(&text);
        }
        let hex = Self::generate_hex();
        write_private(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a new master key for credentials");
        Self::from_hex(&hex)
    }

    /// Seals plaintext: a random nonce followed by the ciphertext.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption with a fresh nonce cannot fail for in-memory buffers.
        out.extend(self.0.encrypt(Nonce::from_slice(&nonce), plaintext).unwrap_or_default());
        out
    }

    /// Opens what [`seal`](Self::seal) produced.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| DecryptError)
    }
}

/// `sqlite://dir/pregon.db` → `dir/pregon.db.master-key`; None for other databases or memory.
pub fn key_file_for(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    let mut file = Path::new(path).as_os_str().to_owned();
    file.push(".master-key");
    Some(PathBuf::from(file))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_detects_tampering() {
        let key = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        let sealed = key.seal(br#"{"access_token":"EAAG"}"#);
        assert!(
            !sealed.windows(4).any(|w| w == b"EAAG"),
            "ciphertext must not contain the token"
        );
        assert_eq!(key.open(&sealed).unwrap(), br#"{"access_token":"EAAG"}"#);
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(key.open(&bad).is_err());
        let other = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        assert!(other.open(&sealed).is_err());
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn key_file_sits_beside_the_database() {
        assert_eq!(
            key_file_for("sqlite://pregon.db"),
            Some(PathBuf::from("pregon.db.master-key"))
        );
        assert_eq!(
            key_file_for("sqlite:///var/lib/p.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/p.db.master-key"))
        );
        assert_eq!(key_file_for("sqlite::memory:"), None);
        assert_eq!(key_file_for("postgres://localhost/p"), None);
    }

    #[test]
    fn a_generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let a = MasterKey::load(None, &url).unwrap();
        let sealed = a.seal(b"x");
        let b = MasterKey::load(None, &url).unwrap();
        assert_eq!(b.open(&sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("p.db.master-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
