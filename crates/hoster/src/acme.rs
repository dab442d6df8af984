//! Certificates for customers' own domains: obtained over ACME (RFC 8555) with HTTP-01
//! challenges, answered by the proxy, stored as PEM files in the TLS directory and renewed
//! before they expire. The ACME client itself (instant-acme) sits behind [`Issuer`], so when
//! and for what certificates are ordered is tested without a CA.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};

use crate::clock;
use crate::store::Store;
use crate::tls::{self, CertStore};

/// Where HTTP-01 challenges are asked for.
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// Pending HTTP-01 answers: token → key authorization.
#[derive(Debug, Default)]
pub struct Challenges(RwLock<HashMap<String, String>>);

impl Challenges {
    /// The key authorization for a request path under [`CHALLENGE_PREFIX`], if one is pending.
    pub fn answer(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(CHALLENGE_PREFIX)?;
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }

    fn put(&self, token: String, key_authorization: String) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, key_authorization);
    }

    fn remove(&self, tokens: &[String]) {
        let mut pending = self.0.write().unwrap_or_else(|e| e.into_inner());
        for token in tokens {
            pending.remove(token);
        }
    }
}

/// A certificate chain and its private key, PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Gets a certificate for one domain, answering its challenges through `challenges`.
pub trait Issuer: Send + Sync {
    fn issue<'a>(&'a self, domain: &'a str, challenges: &'a Challenges) -> BoxFuture<'a, Result<Issued, String>>;
}

/// The ACME server and account to order from.
#[derive(Debug, Clone)]
pub struct AcmeSettings {
    pub directory_url: String,
    pub email: Option<String>,
    /// A root to trust for the ACME server's own HTTPS (test CAs such as Pebble).
    pub ca_cert: Option<PathBuf>,
    /// Where the account's credentials are kept between runs.
    pub account_file: PathBuf,
}

/// [`Issuer`] over instant-acme; the account is created on first use and then reused.
pub struct AcmeIssuer {
    settings: AcmeSettings,
    account: tokio::sync::OnceCell<Account>,
}

impl AcmeIssuer {
    pub fn new(settings: AcmeSettings) -> Self {
        Self {
            settings,
            account: tokio::sync::OnceCell::new(),
        }
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, String> {
        match &self.settings.ca_cert {
            Some(root) => Account::builder_with_root(root),
            None => Account::builder(),
        }
        .map_err(|e| format!("cannot set up the ACME client: {e}"))
    }

    async fn account(&self) -> Result<&Account, String> {
        self.account
            .get_or_try_init(|| async {
                let file = &self.settings.account_file;
                if let Ok(saved) = std::fs::read(file)
                    && let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&saved)
                {
                    return self
                        .builder()?
                        .from_credentials(credentials)
                        .await
                        .map_err(|e| format!("cannot restore the ACME account from {}: {e}", file.display()));
                }
                let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = self
                    .builder()?
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.settings.directory_url.clone(),
                        None,
                    )
                    .await
                    .map_err(|e| format!("cannot register with {}: {e}", self.settings.directory_url))?;
                let json = serde_json::to_vec(&credentials).map_err(|e| e.to_string())?;
                crate::private_fs::write(file, &json).map_err(|e| format!("cannot save {}: {e}", file.display()))?;
                Ok(account)
            })
            .await
    }
}

impl Issuer for AcmeIssuer {
    fn issue<'a>(&'a self, domain: &'a str, challenges: &'a Challenges) -> BoxFuture<'a, Result<Issued, String>> {
        Box::pin(async move {
            let account = self.account().await?;
            let identifiers = [Identifier::Dns(domain.to_string())];
            let mut order = account
                .new_order(&NewOrder::new(&identifiers))
                .await
                .map_err(|e| format!("the CA refused an order: {e}"))?;
            let mut tokens = Vec::new();
            let mut authorizations = order.authorizations();
            let mut result = Ok(());
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization.map_err(|e| e.to_string())?;
                match authorization.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => return Err(format!("the authorization for {domain} is {other:?}")),
                }
                let Some(mut challenge) = authorization.challenge(ChallengeType::Http01) else {
                    return Err("the CA offers no HTTP-01 challenge".into());
                };
                challenges.put(
                    challenge.token.clone(),
                    challenge.key_authorization().as_str().to_string(),
                );
                tokens.push(challenge.token.clone());
                if let Err(e) = challenge.set_ready().await {
                    result = Err(format!("the CA did not take the challenge: {e}"));
                    break;
                }
            }
            let retries = RetryPolicy::new().timeout(Duration::from_secs(90));
            let issued = async {
                result?;
                match order.poll_ready(&retries).await.map_err(|e| e.to_string())? {
                    OrderStatus::Ready => {}
                    status => {
                        let detail = order
                            .refresh()
                            .await
                            .ok()
                            .and_then(|s| s.error.as_ref().map(|p| p.to_string()))
                            .unwrap_or_default();
                        return Err(format!("the order for {domain} is {status:?}: {detail}"));
                    }
                }
                let key_pem = order.finalize().await.map_err(|e| format!("finalize failed: {e}"))?;
                let cert_pem = order
                    .poll_certificate(&retries)
                    .await
                    .map_err(|e| format!("no certificate came: {e}"))?;
                Ok(Issued { cert_pem, key_pem })
            }
            .await;
            challenges.remove(&tokens);
            issued
        })
    }
}

/// A certificate is renewed when it has less than this left.
const RENEW_BEFORE: i64 = 30 * 24 * 3600;
/// A domain whose order failed is tried again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Obtains and renews certificates for customers' domains.
pub struct Certificates {
    store: Store,
    certs: Arc<CertStore>,
    dir: PathBuf,
    issuer: Arc<dyn Issuer>,
    pub challenges: Challenges,
    in_flight: Mutex<HashSet<String>>,
}

impl Certificates {
    pub fn new(store: Store, certs: Arc<CertStore>, dir: PathBuf, issuer: Arc<dyn Issuer>) -> Arc<Self> {
        Arc::new(Self {
            store,
            certs,
            dir,
            issuer,
            challenges: Challenges::default(),
            in_flight: Mutex::default(),
        })
    }

    /// Orders a certificate for `domain` in the background unless it has a fresh one or an
    /// order is already under way.
    pub fn request(self: &Arc<Self>, domain: &str) {
        if self.certs.has_own(domain, clock::unix_seconds() + RENEW_BEFORE) {
            return;
        }
        if !self
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_string())
        {
            return;
        }
        let this = self.clone();
        let domain = domain.to_string();
        tokio::spawn(async move {
            match this.obtain(&domain).await {
                Ok(not_after) => tracing::info!(%domain, not_after, "certificate obtained"),
                Err(e) => tracing::warn!(%domain, error = %e, "no certificate; retrying within the hour"),
            }
            this.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&domain);
        });
    }

    async fn obtain(&self, domain: &str) -> Result<i64, String> {
        let issued = self.issuer.issue(domain, &self.challenges).await?;
        let certificate = tls::parse_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes())?;
        let not_after = certificate.not_after;
        let (cert_file, key_file) = tls::files_for(&self.dir, domain);
        crate::private_fs::write(&key_file, issued.key_pem.as_bytes())
            .map_err(|e| format!("cannot save the key: {e}"))?;
        crate::private_fs::write(&cert_file, issued.cert_pem.as_bytes())
            .map_err(|e| format!("cannot save the certificate: {e}"))?;
        self.certs.insert(domain, certificate);
        Ok(not_after)
    }

    /// Requests certificates for every custom domain that lacks a fresh one: now, and then
    /// every hour, which both renews and retries failed orders.
    pub async fn renew_forever(self: Arc<Self>) {
        loop {
            match self.store.all_custom_domains().await {
                Ok(domains) => {
                    for domain in domains {
                        self.request(&domain);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list custom domains for certificates"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_answer_only_their_tokens() {
        let c = Challenges::default();
        c.put("tok123".into(), "tok123.thumb".into());
        assert_eq!(
            c.answer("/.well-known/acme-challenge/tok123").as_deref(),
            Some("tok123.thumb")
        );
        assert_eq!(c.answer("/.well-known/acme-challenge/other"), None);
        assert_eq!(c.answer("/tok123"), None);
        c.remove(&["tok123".into()]);
        assert_eq!(c.answer("/.well-known/acme-challenge/tok123"), None);
    }
}
