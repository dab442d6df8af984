//! Images, networks and volumes.

use std::collections::HashMap;

use bollard::models::{NetworkCreateRequest, VolumeCreateOptions};
use bollard::query_parameters::{CreateImageOptions, ListNetworksOptions, ListVolumesOptions};
use futures_util::StreamExt;
use hoster_core::id::DeploymentId;
use hoster_core::plan::{ObjectSpec, labels};

use super::engine::{Engine, EngineError, is_status};
use super::pull::{PullReport, Pulled, Tally};

impl Engine {
    /// `label=...` filters selecting this instance's objects, optionally of one deployment.
    pub(crate) fn label_filter(&self, deployment: Option<&DeploymentId>) -> HashMap<String, Vec<String>> {
        let mut selected = vec![format!("{}={}", labels::INSTANCE, self.instance())];
        if let Some(d) = deployment {
            selected.push(format!("{}={d}", labels::DEPLOYMENT));
        }
        HashMap::from([("label".to_string(), selected)])
    }
}

fn to_map(labels: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A network or volume of Hoster's: its name and the deployment its label names.
#[derive(Debug, Clone)]
pub struct Owned {
    pub name: String,
    pub deployment: Option<String>,
}

impl Engine {
    /// Makes sure `image` is present, pulling it when it is not.
    pub(super) async fn ensure_image(&self, image: &str, report: PullReport<'_>) -> Result<(), EngineError> {
        let docker = self.client().await?;
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 404) => {}
            Err(e) => return Err(EngineError::from_docker(e)),
        }
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            ..Default::default()
        };
        let mut pull = docker.create_image(Some(options), None, None);
        let mut tally = Tally::default();
        report(Pulled::default());
        while let Some(progress) = pull.next().await {
            match progress {
                Ok(info) if info.error.is_some() => {
                    return Err(EngineError::ImageUnavailable {
                        image: image.into(),
                        reason: info.error.unwrap_or_default(),
                    });
                }
                Ok(info) => {
                    let detail = info.progress_detail.unwrap_or_default();
                    if let Some(pulled) =
                        tally.absorb(info.id.as_deref(), info.status.as_deref(), detail.current, detail.total)
                    {
                        report(pulled);
                    }
                }
                Err(e) => {
                    let reason = match EngineError::from_docker(e) {
                        EngineError::Docker(message) => message,
                        other => other.to_string(),
                    };
                    return Err(EngineError::ImageUnavailable {
                        image: image.into(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// Creates the network unless it exists. The engine allows two networks of one name, so
    /// look first: a second one would make the name ambiguous for every later call.
    pub(super) async fn ensure_network(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("name".to_string(), vec![spec.name.clone()])]);
        let existing = docker
            .list_networks(Some(ListNetworksOptions { filters: Some(filters) }))
            .await
            .map_err(EngineError::from_docker)?;
        if existing.iter().any(|n| n.name.as_deref() == Some(spec.name.as_str())) {
            return Ok(());
        }
        let request = NetworkCreateRequest {
            name: spec.name.clone(),
            driver: Some("bridge".into()),
            labels: Some(to_map(&spec.labels)),
            ..Default::default()
        };
        docker
            .create_network(request)
            .await
            .map(drop)
            .map_err(EngineError::from_docker)
    }

    /// Removes every network of that name (there may be duplicates from an older engine race).
    pub(super) async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let networks = docker
            .list_networks(Some(ListNetworksOptions { filters: Some(filters) }))
            .await
            .map_err(EngineError::from_docker)?;
        for network in networks.into_iter().filter(|n| n.name.as_deref() == Some(name)) {
            match docker.remove_network(network.id.as_deref().unwrap_or(name)).await {
                Ok(()) => {}
                Err(e) if is_status(&e, 404) => {}
                Err(e) => return Err(EngineError::from_docker(e)),
            }
        }
        Ok(())
    }

    pub(super) async fn ensure_volume(&self, spec: &ObjectSpec) -> Result<(), EngineError> {
        let docker = self.client().await?;
        let options = VolumeCreateOptions {
            name: Some(spec.name.clone()),
            labels: Some(to_map(&spec.labels)),
            ..Default::default()
        };
        docker
            .create_volume(options)
            .await
            .map(drop)
            .map_err(EngineError::from_docker)
    }

    pub(super) async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        match self
            .client()
            .await?
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(EngineError::from_docker(e)),
        }
    }

    pub(super) async fn managed_networks(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        let options = ListNetworksOptions {
            filters: Some(self.label_filter(deployment)),
        };
        let networks = self
            .client()
            .await?
            .list_networks(Some(options))
            .await
            .map_err(EngineError::from_docker)?;
        Ok(networks
            .into_iter()
            .map(|n| Owned {
                deployment: n.labels.as_ref().and_then(|l| l.get(labels::DEPLOYMENT).cloned()),
                name: n.name.unwrap_or_default(),
            })
            .collect())
    }

    pub(super) async fn managed_volumes(&self, deployment: Option<&DeploymentId>) -> Result<Vec<Owned>, EngineError> {
        let options = ListVolumesOptions {
            filters: Some(self.label_filter(deployment)),
        };
        let volumes = self
            .client()
            .await?
            .list_volumes(Some(options))
            .await
            .map_err(EngineError::from_docker)?;
        Ok(volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Owned {
                deployment: v.labels.get(labels::DEPLOYMENT).cloned(),
                name: v.name,
            })
            .collect())
    }
}
