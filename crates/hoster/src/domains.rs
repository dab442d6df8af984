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
                // Not verified by this check: a concurrent check of the same claim (the periodic
                // one) did it first, and the claim reads verified below; or another deployment
                // verified the name, and the claim is gone below.
                if self
                    .store
                    .verify_custom_domain(&claim.deployment_id, &claim.domain, &now)
                    .await?
                {
                    tracing::info!(deployment = %claim.deployment_id, domain = %claim.domain, "custom domain verified");
                    if let Some(certificates) = &self.certificates {
                        certificates.request(&claim.domain);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeploymentRecord, TemplateRecord};
    use hoster_core::deployment::Status;
    use hoster_core::id::TemplateId;
    use hoster_core::template::TemplateSpec;

    #[tokio::test]
    async fn a_check_that_loses_the_race_to_another_check_of_the_same_claim_reads_it_verified() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("hoster.db")).await.unwrap();
        let now = clock::now();
        let template = TemplateRecord {
            id: TemplateId::from_random([1; 10]),
            spec: TemplateSpec {
                name: "t".into(),
                slug: "t".into(),
                version: "1.0.0".into(),
                description: String::new(),
                creator_id: "c".into(),
                compose_spec: "services:\n  a:\n    image: busybox\n".into(),
                config_files: Vec::new(),
                variables: Vec::new(),
                price_monthly: 0,
                category: None,
                tags: Vec::new(),
            },
            published: true,
            trusted: false,
            deprecated: None,
            created_at: now,
            updated_at: now,
        };
        store.insert_template(&template).await.unwrap();
        let d = DeploymentRecord {
            id: DeploymentId::from_random([2; 10]),
            name: "d".into(),
            template_id: template.id.clone(),
            customer_id: "cu".into(),
            status: Status::Pending,
            domain: "d.localhost".into(),
            error_message: None,
            delete_requested: false,
            created_at: now,
            updated_at: now,
        };
        store.insert_deployment(&d, &Default::default(), 10).await.unwrap();
        let domains = Domains::new(store.clone(), Verification::None, None, 5);
        let AddDomain::Added(claim) = domains.add(&d.id, "www.example.com").await.unwrap() else {
            panic!("added")
        };
        // The periodic check verifies the claim first; the request's own check of the pending
        // copy it holds must not call that "taken".
        assert!(
            matches!(domains.check(claim.clone(), &d.domain).await.unwrap(), Checked::Now(c) if c.verified_at.is_some())
        );
        match domains.check(claim, &d.domain).await.unwrap() {
            Checked::Now(c) => assert!(c.verified_at.is_some()),
            Checked::TakenMeanwhile => panic!("its own deployment verified it: not taken"),
        }
    }
}
