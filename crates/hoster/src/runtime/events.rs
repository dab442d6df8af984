//! The engine's events about Hoster's containers, read as they happen (never polled).

use std::collections::HashMap;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use hoster_core::plan::labels;

use super::engine::{Engine, EngineError};

/// The actions Hoster listens for (`health_status` covers `health_status: healthy` and the rest).
const ACTIONS: [&str; 6] = ["start", "die", "oom", "destroy", "restart", "health_status"];

/// Something one of this instance's containers did.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEvent {
    /// From the container's labels.
    pub deployment: Option<String>,
    pub service: Option<String>,
    /// The engine's word: `start`, `die`, `oom`, `destroy`, `restart`, `health_status: healthy`.
    pub action: String,
    pub exit_code: Option<String>,
}

impl ContainerEvent {
    fn from_attributes(action: &str, attributes: &HashMap<String, String>) -> Self {
        ContainerEvent {
            deployment: attributes.get(labels::DEPLOYMENT).cloned(),
            service: attributes.get(labels::SERVICE).cloned(),
            action: action.to_string(),
            exit_code: attributes.get("exitCode").cloned(),
        }
    }

    /// Whether the container stopped or went, which the reconciler should look at now.
    pub fn ends_a_container(&self) -> bool {
        matches!(self.action.as_str(), "die" | "oom" | "destroy")
    }

    /// A sentence for the deployment's history.
    pub fn describe(&self) -> String {
        let service = self.service.as_deref().unwrap_or("?");
        let what = match (self.action.as_str(), &self.exit_code) {
            ("start", _) => "started".to_string(),
            ("die", Some(code)) => format!("exited with code {code}"),
            ("die", None) => "exited".to_string(),
            ("oom", _) => "ran out of memory".to_string(),
            ("destroy", _) => "was removed".to_string(),
            ("restart", _) => "was restarted".to_string(),
            (health, _) => match health.strip_prefix("health_status: ") {
                Some(status) => format!("is {status}"),
                None => health.to_string(),
            },
        };
        format!("the container of service `{service}` {what}")
    }
}

impl Engine {
    /// See [`super::Runtime::container_events`].
    pub(super) async fn container_events(
        &self,
    ) -> Result<BoxStream<'_, Result<ContainerEvent, EngineError>>, EngineError> {
        let docker = self.client().await?;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                vec![format!("{}={}", labels::INSTANCE, self.instance())],
            ),
            ("event".to_string(), ACTIONS.iter().map(|a| a.to_string()).collect()),
        ]);
        let options = bollard::query_parameters::EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        Ok(docker
            .events(Some(options))
            .map(|event| {
                let event = event.map_err(EngineError::from_docker)?;
                let attributes = event.actor.and_then(|a| a.attributes).unwrap_or_default();
                Ok(ContainerEvent::from_attributes(
                    event.action.as_deref().unwrap_or(""),
                    &attributes,
                ))
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, exit_code: Option<&str>) -> ContainerEvent {
        let mut attributes = HashMap::from([
            (labels::DEPLOYMENT.to_string(), "depl_x".to_string()),
            (labels::SERVICE.to_string(), "web".to_string()),
        ]);
        if let Some(code) = exit_code {
            attributes.insert("exitCode".into(), code.into());
        }
        ContainerEvent::from_attributes(action, &attributes)
    }

    #[test]
    fn events_read_as_sentences_and_deaths_wake_the_reconciler() {
        let died = event("die", Some("137"));
        assert_eq!(died.deployment.as_deref(), Some("depl_x"));
        assert_eq!(died.describe(), "the container of service `web` exited with code 137");
        assert!(died.ends_a_container());
        for (action, said, ends) in [
            ("start", "started", false),
            ("oom", "ran out of memory", true),
            ("destroy", "was removed", true),
            ("restart", "was restarted", false),
            ("health_status: unhealthy", "is unhealthy", false),
        ] {
            let e = event(action, None);
            assert_eq!(e.describe(), format!("the container of service `web` {said}"));
            assert_eq!(e.ends_a_container(), ends, "{action}");
        }
    }
}
