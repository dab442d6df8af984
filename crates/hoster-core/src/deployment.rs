//! The deployment state machine: the spec's diagram plus `pending -> deleting`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Scheduled,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
    Deleting,
    Deleted,
    /// Moving a running deployment to another version of its template (or back).
    Upgrading,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::Scheduled,
        Status::Starting,
        Status::Running,
        Status::Stopping,
        Status::Stopped,
        Status::Failed,
        Status::Deleting,
        Status::Deleted,
        Status::Upgrading,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Scheduled => "scheduled",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Deleting => "deleting",
            Status::Deleted => "deleted",
            Status::Upgrading => "upgrading",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the machine allows moving from `self` to `to` in one step.
    pub fn can_transition_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Pending, Scheduled)
                | (Pending, Deleting)
                | (Scheduled, Starting)
                | (Starting, Running)
                | (Starting, Failed)
                | (Running, Stopping)
                | (Running, Failed)
                | (Stopping, Stopped)
                | (Stopped, Starting)
                | (Stopped, Deleting)
                | (Failed, Starting)
                | (Failed, Deleting)
                | (Deleting, Deleted)
                | (Running, Upgrading)
                | (Upgrading, Running)
                | (Upgrading, Failed)
        )
    }
}

crate::problem::try_from_text!(Status, "deployment status");

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine shows of one of a running deployment's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed<'a> {
    pub service: &'a str,
    /// Its process has ended and will not come back by itself (exited or dead).
    pub stopped: bool,
    pub exit_code: Option<i64>,
}

/// Why a running deployment has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The service has no container: it was removed outside Hoster.
    Vanished { service: &'a str },
    /// The container (index into the observations) ended with an error or without a code, and
    /// its restart policy is not bringing it back.
    Exited { service: &'a str, container: usize },
}

/// Whether a `running` deployment has failed: the first of its services, in compose order,
/// whose container vanished or stopped with anything but exit code 0 (a one-shot job that
/// completed is fine).
pub fn running_failure<'a>(
    services: impl IntoIterator<Item = &'a str>,
    observed: &[Observed<'_>],
) -> Option<Failure<'a>> {
    services
        .into_iter()
        .find_map(|service| match observed.iter().position(|o| o.service == service) {
            None => Some(Failure::Vanished { service }),
            Some(i) if observed[i].stopped && observed[i].exit_code != Some(0) => {
                Some(Failure::Exited { service, container: i })
            }
            Some(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};
    use super::{Failure, Observed, running_failure};

    #[test]
    fn the_spec_transitions_are_allowed() {
        let allowed = [
            (Pending, Scheduled),
            (Scheduled, Starting),
            (Starting, Running),
            (Starting, Failed),
            (Running, Stopping),
            (Running, Failed),
            (Stopping, Stopped),
            (Stopped, Starting),
            (Stopped, Deleting),
            (Failed, Starting),
            (Failed, Deleting),
            (Deleting, Deleted),
            (Pending, Deleting),
            (Running, Upgrading),
            (Upgrading, Running),
            (Upgrading, Failed),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn deleted_is_terminal_and_names_round_trip() {
        assert!(Status::ALL.iter().all(|to| !Deleted.can_transition_to(*to)));
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("bogus"), None);
    }

    fn seen(service: &str, stopped: bool, exit_code: Option<i64>) -> Observed<'_> {
        Observed {
            service,
            stopped,
            exit_code,
        }
    }

    #[test]
    fn a_running_deployment_fails_on_the_first_vanished_or_crashed_service() {
        let services = ["db", "app", "job"];
        let all_up = [
            seen("db", false, None),
            seen("app", false, None),
            seen("job", true, Some(0)),
        ];
        assert_eq!(
            running_failure(services, &all_up),
            None,
            "a job that exited 0 completed"
        );

        let crashed = [
            seen("app", true, Some(137)),
            seen("db", false, None),
            seen("job", true, Some(0)),
        ];
        assert_eq!(
            running_failure(services, &crashed),
            Some(Failure::Exited {
                service: "app",
                container: 0
            })
        );
        let unknown_code = [
            seen("db", true, None),
            seen("app", false, None),
            seen("job", false, None),
        ];
        assert_eq!(
            running_failure(services, &unknown_code),
            Some(Failure::Exited {
                service: "db",
                container: 0
            })
        );
        let gone = [seen("db", false, None), seen("job", true, Some(1))];
        assert_eq!(
            running_failure(services, &gone),
            Some(Failure::Vanished { service: "app" }),
            "compose order decides which reason is told"
        );
    }
}

/// Where one service is in a start or restart; a deployment shows it per service while the
/// operation lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Not begun: the images of the others are being pulled.
    Pending,
    /// Its image is being pulled.
    Pulling,
    /// Its container is being created (files copied in).
    Creating,
    /// Waiting for the services it depends on, then started.
    Starting,
    /// Started; a service that depends on it waits for its healthcheck to pass.
    WaitingHealthy,
    Running,
}

/// One service's [`Phase`], with the bytes of its image pulled so far while `pulling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceProgress {
    pub phase: Phase,
    /// Bytes downloaded of the layers the engine has reported so far (pulling only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_bytes: Option<u64>,
    /// Bytes of those layers in all; grows as the engine reports more layers (pulling only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
}

impl ServiceProgress {
    pub fn at(phase: Phase) -> Self {
        Self {
            phase,
            current_bytes: None,
            total_bytes: None,
        }
    }
}

/// A deployment's progress: each service by name.
pub type Progress = std::collections::BTreeMap<String, ServiceProgress>;
