use std::io::Write;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Turns user ids into stable pseudonyms with a keyed hash (HMAC-SHA-256), so records can be
/// grouped and a data-subject request answered without storing who the user is.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { key: <redacted> }")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer with `key` (at least 16 bytes).
    pub fn new(key: &[u8]) -> Result<Self, std::io::Error> {
        if key.len() < 16 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "pseudonym key must be at least 16 bytes",
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Pseudonymizer { mac })
    }

    /// Read the key from `path`, creating a random 32-byte key (mode 0600) if the file is absent.
    pub fn from_key_file(path: &Path) -> Result<Self, std::io::Error> {
        match std::fs::read(path) {
            Ok(key) => Self::new(&key),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Self::new(&key)
            }
            Err(e) => Err(e),
        }
    }

    /// A pseudonymizer with a fresh random key (pseudonyms are stable only for its lifetime).
    pub fn ephemeral() -> Result<Self, std::io::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Self::new(&key)
    }

    /// The pseudonym of `user`: `ps_` + 32 hex digits.
    pub fn pseudonym(&self, user: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(user.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut hex = [0u8; 32];
        let head = out.get(..16).unwrap_or(&[]);
        if hex::encode_to_slice(head, &mut hex).is_err() {
            return String::from("ps_");
        }
        let mut s = String::with_capacity(35);
        s.push_str("ps_");
        s.push_str(std::str::from_utf8(&hex).unwrap_or_default());
        s
    }
}
