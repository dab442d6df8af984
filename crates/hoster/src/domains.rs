//! Custom domains: attaching, proving control over DNS, and checking pending ones again in the
//! background. A name routes traffic and gets an ACME order only once verified, so nobody can
//! take a name they do not control (or squat one that another customer owns).

use std::sync::Arc;
use std::time::Duration;

use hoster_core::hostname;
use hoster_core::id::DeploymentId;

use crate::acme::Certificates;
use crate::clock;
use crate::dns::Resolver;
use crate::store::{AddDomain, DomainRecord, Store, StoreError};

pub struct Domains {
    store: Store,
    /// How claims are proven; DNS lookups only when verification is `dns`.
    verification: Verification,
    certificates: Option<Arc<Certificates>>,
    pub max_per_deployment: u32,
}

/// `HOSTER_DOMAIN_VERIFICATION`, with what `dns` needs.
pub enum Verification {
    Dns(Arc<dyn Resolver>),
    /// Every claim is taken on trust (single-tenant use).
    None,
}

/// The outcome of a check.
#[derive(Debug)]
pub enum Checked {
    /// The claim as it now stands (verified, or pending with the reason).
    Now(DomainRecord),
    /// Another deployment verified the name first.
    TakenMeanwhile,
}

impl Domains {
    pub fn new(
        store: Store,
        verification: Verification,
        certificates: Option<Arc<Certificates>>,
        max_per_deployment: u32,
    ) -> Self {
        Self {
            store,
            verification,
            certificates,
            max_per_deployment,
        }
    }

    /// Claims `domain` for the deployment, pending, with a fresh token.
    pub async fn add(&self, id: &DeploymentId, domain: &str) -> Result<AddDomain, StoreError> {
        let token = hostname::proof_token(rand::random());
        self.store
            .add_custom_domain(id, domain, &token, &clock::now(), self.max_per_deployment)
            .await
    }

    /// Asks DNS whether the claim is proven (`generated` is the deployment's own hostname, the
    /// CNAME target) and records the answer; a verified name is ordered a certificate.
    pub async fn check(&self, claim: DomainRecord, generated: &str) -> Result<Checked, StoreError> {
        if claim.verified_at.is_some() {
            return Ok(Checked::Now(claim));
        }
        let proof = match &self.verification {
            Verification::None => Ok(()),
            Verification::Dns(resolver) => match resolver.answers(&claim.domain).await {
                Ok(answers) => hostname::proves_control(&claim.domain, &answers, &claim.token, generated),
                Err(e) => Err(e),
            },
        };
        let now = clock::now();
        match proof {
            Ok(()) => {
                if !self
                    .store
                    .verify_custom_domain(&claim.deployment_id, &claim.domain, &now)
                    .await?
                {
                    return Ok(Checked::TakenMeanwhile);
                }
                tracing::info!(deployment = %claim.deployment_id, domain = %claim.domain, "custom domain verified");
                if let Some(certificates) = &self.certificates {
                    certificates.request(&claim.domain);
                }
            }
            Err(why) => {
                self.store
                    .domain_check_failed(&claim.deployment_id, &claim.domain, &now, &why)
                    .await?
            }
        }
        Ok(
            match self.store.custom_domain(&claim.deployment_id, &claim.domain).await? {
                Some(now) => Checked::Now(now),
                None => Checked::TakenMeanwhile,
            },
        )
    }

    /// Checks every pending claim at start and then each `interval`, for as long as the
    /// server runs.
    pub async fn check_pending_forever(self: Arc<Self>, interval: Duration) {
        loop {
            if let Err(e) = self.check_pending().await {
                tracing::warn!(error = %e, "could not check pending custom domains");
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One pass over the pending claims; a claim that cannot be checked is logged and the
    /// pass goes on to the others.
    async fn check_pending(&self) -> Result<(), StoreError> {
        for claim in self.store.pending_domains().await? {
            let domain = claim.domain.clone();
            let checked = match self.store.get_deployment(&claim.deployment_id).await {
                Ok(Some(deployment)) => self.check(claim, &deployment.domain).await.map(drop),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                tracing::warn!(%domain, error = %e, "could not check a pending custom domain");
            }
        }
        Ok(())
    }
}
