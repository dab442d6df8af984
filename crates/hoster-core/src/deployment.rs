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
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::Scheduled,
        Status::Starting,
        Status::Running,
        Status::Stopping,
        Status::Stopped,
        Status::Failed,
        Status::Deleting,
        Status::Deleted,
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
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

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
}
