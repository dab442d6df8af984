//! HTTPS: certificates by hostname (SNI). Owns the certificate store and the PEM files it loads;
//! the accept loop is [`crate::http`]'s, where certificates come from (files, ACME) is
//! [`crate::acme`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Marks a request that arrived over TLS, so the proxy can say `X-Forwarded-Proto: https`.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// A certificate with its key, and when it stops being valid (seconds since the epoch).
pub struct Certificate {
    pub key: Arc<CertifiedKey>,
    pub not_after: i64,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Parses a PEM certificate chain and its private key, checking that they belong together.
pub fn parse_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Certificate, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not valid PEM: {e}"))?;
    let leaf = chain.first().ok_or("the certificate file holds no certificate")?;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("the certificate cannot be read: {e}"))?;
    let not_after = parsed.validity().not_after.timestamp();
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the key is not valid PEM: {e}"))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the key type is not supported: {e}"))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok(Certificate {
        key: Arc::new(certified),
        not_after,
    })
}

/// Reads `cert` and `key` PEM files into a certificate.
pub fn load_files(cert: &Path, key: &Path) -> Result<Certificate, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    parse_pem(&read(cert)?, &read(key)?).map_err(|e| format!("{}: {e}", cert.display()))
}

/// The files that hold `host`'s certificate in the certificates directory.
pub fn files_for(dir: &Path, host: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{host}.crt")), dir.join(format!("{host}.key")))
}

/// Certificates by hostname, served by SNI: the exact name, else a wildcard one level up
/// (`*.apps.example.com`), else the default certificate. Safe to update while serving.
#[derive(Debug, Default)]
pub struct CertStore {
    by_host: RwLock<HashMap<String, Arc<Certificate>>>,
    default: Option<Arc<Certificate>>,
}

impl CertStore {
    pub fn new(default: Option<Certificate>) -> Self {
        Self {
            by_host: RwLock::default(),
            default: default.map(Arc::new),
        }
    }

    /// Adds or replaces the certificate for `host` (lowercase; `*.example.com` for a wildcard).
    pub fn insert(&self, host: &str, certificate: Certificate) {
        let mut by_host = self.by_host.write().unwrap_or_else(|e| e.into_inner());
        by_host.insert(host.to_ascii_lowercase(), Arc::new(certificate));
    }

    /// The certificate that would be served for `host`, if any.
    pub fn find(&self, host: &str) -> Option<Arc<Certificate>> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let by_host = self.by_host.read().unwrap_or_else(|e| e.into_inner());
        let wildcard = host.split_once('.').map(|(_, parent)| format!("*.{parent}"));
        by_host
            .get(&host)
            .or_else(|| wildcard.and_then(|w| by_host.get(&w)))
            .cloned()
            .or_else(|| self.default.clone())
    }

    /// Whether `host` has a certificate of its own (not the default) valid beyond `until`.
    pub fn has_own(&self, host: &str, until: i64) -> bool {
        let by_host = self.by_host.read().unwrap_or_else(|e| e.into_inner());
        by_host.get(host).is_some_and(|c| c.not_after > until)
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.by_host.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Loads every `<host>.crt` with its `<host>.key` from `dir`; a pair that does not load is
    /// logged and skipped. Returns how many loaded.
    pub fn load_dir(&self, dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut loaded = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(host) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".crt"))
            else {
                continue;
            };
            let (cert, key) = files_for(dir, host);
            match load_files(&cert, &key) {
                Ok(certificate) => {
                    self.insert(host, certificate);
                    loaded += 1;
                }
                Err(e) => tracing::warn!(error = %e, "skipping a certificate in the TLS directory"),
            }
        }
        loaded
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => self.find(name).map(|c| c.key.clone()),
            None => self.default.as_ref().map(|c| c.key.clone()),
        }
    }
}

/// A rustls server configuration that picks certificates from `store`; HTTP/1.1 only (the
/// proxy speaks HTTP/1.1 to upstreams, and WebSocket upgrades need it).
pub fn server_config(store: Arc<CertStore>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let c = rcgen::generate_simple_self_signed(names).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn certificate(names: &[&str]) -> Certificate {
        let (cert, key) = self_signed(names);
        parse_pem(cert.as_bytes(), key.as_bytes()).unwrap()
    }

    #[test]
    fn pem_pairs_are_checked() {
        let (cert, key) = self_signed(&["a.example.com"]);
        let parsed = parse_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert!(parsed.not_after > 1_700_000_000);
        let (_, other_key) = self_signed(&["b.example.com"]);
        let mismatch = parse_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(mismatch.contains("does not match"), "{mismatch}");
        assert!(
            parse_pem(b"junk", key.as_bytes())
                .unwrap_err()
                .contains("no certificate")
        );
        assert!(parse_pem(cert.as_bytes(), b"junk").unwrap_err().contains("key"));
    }

    #[test]
    fn sni_picks_the_exact_name_then_a_wildcard_then_the_default() {
        let store = CertStore::new(Some(certificate(&["default.example"])));
        let exact = certificate(&["shop.example.com"]);
        let exact_key = exact.key.clone();
        store.insert("Shop.Example.com", exact);
        let wildcard = certificate(&["*.apps.example.com"]);
        let wildcard_key = wildcard.key.clone();
        store.insert("*.apps.example.com", wildcard);
        let key_of = |host: &str| store.find(host).unwrap().key.clone();
        assert!(Arc::ptr_eq(&key_of("SHOP.example.com."), &exact_key));
        assert!(Arc::ptr_eq(&key_of("blog.apps.example.com"), &wildcard_key));
        assert!(
            !Arc::ptr_eq(&key_of("a.b.apps.example.com"), &wildcard_key),
            "one level only"
        );
        assert!(!Arc::ptr_eq(&key_of("other.example.org"), &exact_key));
        assert!(CertStore::new(None).find("x.example.com").is_none());
        assert!(store.has_own("shop.example.com", 0));
        assert!(!store.has_own("shop.example.com", i64::MAX));
        assert!(!store.has_own("other.example.org", 0));
    }

    #[test]
    fn a_directory_of_pairs_loads_and_bad_pairs_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&["shop.example.com"]);
        let (c, k) = files_for(dir.path(), "shop.example.com");
        std::fs::write(c, cert).unwrap();
        std::fs::write(k, key).unwrap();
        std::fs::write(dir.path().join("broken.example.com.crt"), "junk").unwrap();
        let store = CertStore::new(None);
        assert_eq!(store.load_dir(dir.path()), 1);
        assert!(store.has_own("shop.example.com", 0));
        assert!(!store.is_empty());
    }
}
