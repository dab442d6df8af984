//! Secrets at rest: secret variable values and secret defaults are sealed with XChaCha20-Poly1305
//! before they reach SQLite, so the database file, its WAL and its backups hold no secret in the
//! clear. The key is `HOSTER_SECRET_KEY` (32 bytes, base64 or hex) or, when that is unset, a key
//! file beside the database (`<database>.key`, 0600), created on first start. Losing the key loses
//! every sealed value; nothing else is affected.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// What a sealed value starts with; anything else was stored before sealing existed.
const PREFIX: &str = "sealed:v1:";
const NONCE: usize = 24;

/// Seals and opens stored secrets with one key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    /// The key backup archives are sealed with: derived from the same key, for another use.
    backups: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key hidden>)")
    }
}

/// A key for one purpose from the secrets key (HKDF-SHA256), so that no two uses share one.
fn derive(key: &[u8; 32], purpose: &'static [u8]) -> [u8; 32] {
    struct Len;
    impl ring::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"hoster").extract(key);
    let mut out = [0u8; 32];
    prk.expand(&[purpose], Len)
        .and_then(|okm| okm.fill(&mut out))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// Where the key file of the database at `database` lives.
pub fn key_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn decode(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = match text.len() {
        64 if text.bytes().all(|b| b.is_ascii_hexdigit()) => (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?,
        _ => STANDARD.decode(text).ok()?,
    };
    bytes.try_into().ok()
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
            backups: derive(&key, b"hoster backup archives v1"),
        }
    }

    /// The key of backup archives (`backup::archive`): whoever holds the secrets key can
    /// restore them, and nothing else is needed.
    pub fn backup_key(&self) -> &[u8; 32] {
        &self.backups
    }

    /// The key given (`HOSTER_SECRET_KEY`), or the one in the key file beside `database`, created
    /// (0600) when missing.
    pub fn load(given: Option<&str>, database: &Path) -> Result<Self, String> {
        if let Some(text) = given {
            return decode(text).map(Self::new).ok_or_else(|| {
                "HOSTER_SECRET_KEY must be 32 bytes written as base64 (44 characters) or hex (64 characters); \
                 `openssl rand -base64 32` makes one"
                    .to_string()
            });
        }
        let path = key_file(database);
        match std::fs::read_to_string(&path) {
            Ok(text) => decode(&text).map(Self::new).ok_or_else(|| {
                format!(
                    "the key file {} is not a 32-byte key in base64; restore it from a backup (sealed secrets cannot be read without it)",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
                crate::private_fs::write(&path, STANDARD.encode(key).as_bytes())
                    .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "created the key that seals secrets at rest; back it up with the database");
                Ok(Self::new(key))
            }
            Err(e) => Err(format!("cannot read the key file {}: {e}", path.display())),
        }
    }

    /// The key given, or the key file beside `database`, which must exist: for reading what
    /// was sealed elsewhere (a restore), where a new key would open nothing.
    pub fn load_existing(given: Option<&str>, database: &Path) -> Result<Self, String> {
        if given.is_none() && !key_file(database).exists() {
            return Err(format!(
                "no key: set HOSTER_SECRET_KEY, or put the key file of the Hoster that made the backup at {}",
                key_file(database).display()
            ));
        }
        Self::load(given, database)
    }

    /// `plain` sealed, bound to `context` (where it is stored), as text.
    pub fn seal(&self, plain: &str, context: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("sealing a value in memory cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// The value `seal` was given. Text without the prefix is returned as stored.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, String> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let refused = || {
            format!(
                "a sealed secret ({context}) does not open with this key: HOSTER_SECRET_KEY or the key file \
                 is not the one it was sealed with"
            )
        };
        let bytes = STANDARD.decode(encoded).map_err(|_| refused())?;
        if bytes.len() < NONCE {
            return Err(refused());
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(plain).map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let sealer = Sealer::new([7; 32]);
        let sealed = sealer.seal("hunter2", "dep_1/DB_PASSWORD");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            sealer.seal("hunter2", "dep_1/DB_PASSWORD"),
            "every seal has its own nonce"
        );
        assert_eq!(sealer.open(&sealed, "dep_1/DB_PASSWORD").unwrap(), "hunter2");
        assert!(
            sealer.open(&sealed, "dep_2/DB_PASSWORD").is_err(),
            "moved to another row"
        );
        assert!(Sealer::new([8; 32]).open(&sealed, "dep_1/DB_PASSWORD").is_err());
        assert_eq!(sealer.open("plain", "x").unwrap(), "plain");
    }

    #[test]
    fn keys_are_given_or_kept_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hoster.db");
        let first = Sealer::load(None, &db).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(key_file(&db)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal("v", "c");
        assert_eq!(Sealer::load(None, &db).unwrap().open(&sealed, "c").unwrap(), "v");
        let hex = "00".repeat(32);
        assert!(Sealer::load(Some(&hex), &db).is_ok());
        assert!(Sealer::load(Some(&STANDARD.encode([1u8; 32])), &db).is_ok());
        assert!(
            Sealer::load(Some("short"), &db)
                .unwrap_err()
                .contains("HOSTER_SECRET_KEY")
        );
    }
}
