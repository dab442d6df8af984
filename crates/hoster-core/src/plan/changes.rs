//! What moving a deployment from one plan to another changes, service by service: which
//! containers an upgrade replaces, and why. Pure.

use serde::Serialize;

use super::{ContainerSpec, Plan, labels};

/// What happens to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// New in the target plan: created and started.
    Added,
    /// Gone from the target plan: stopped and removed.
    Removed,
    /// Its container's definition differs: replaced by a new one.
    Replaced,
    /// Same definition: its container keeps running, untouched.
    Unchanged,
}

/// One service's [`Change`], with what differs when it is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceChange {
    pub service: String,
    pub change: Change,
    /// The parts of the definition that differ (`image`, `environment`, `ports`, ...).
    pub reasons: Vec<&'static str>,
}

/// The parts of a container's definition that differ between `a` and `b`. Identity labels
/// (the template, the revision of the values) are not part of it: a new template version or
/// new values that leave a container as it was do not replace it.
pub fn differences(a: &ContainerSpec, b: &ContainerSpec) -> Vec<&'static str> {
    let own_labels = |c: &ContainerSpec| {
        let mut l = c.labels.clone();
        l.remove(labels::TEMPLATE);
        l.remove(labels::REVISION);
        l
    };
    let mut reasons = Vec::new();
    let mut differ = |name: &'static str, same: bool| {
        if !same {
            reasons.push(name);
        }
    };
    differ("image", a.image == b.image);
    differ("command", a.command == b.command && a.entrypoint == b.entrypoint);
    differ("environment", a.env == b.env);
    differ("labels", own_labels(a) == own_labels(b));
    differ("ports", a.ports == b.ports && a.exposed == b.exposed);
    differ("volumes", a.mounts == b.mounts && a.volumes_from == b.volumes_from);
    differ("files", a.files == b.files);
    differ("healthcheck", a.healthcheck == b.healthcheck);
    differ("restart", a.restart == b.restart);
    differ(
        "process",
        a.working_dir == b.working_dir
            && a.user == b.user
            && a.hostname == b.hostname
            && a.stop_timeout == b.stop_timeout,
    );
    differ(
        "resources",
        a.limits == b.limits && a.reservations == b.reservations && a.cap_drop == b.cap_drop,
    );
    differ("host_access", a.host_access == b.host_access);
    differ("network", a.aliases == b.aliases);
    differ("options", a.options == b.options);
    differ("depends_on", a.waits_for == b.waits_for);
    reasons
}

/// Every service of either plan, in the target's start order (removed ones last), with what
/// moving from `from` to `to` does to it.
pub fn changes(from: &Plan, to: &Plan) -> Vec<ServiceChange> {
    let mut out: Vec<ServiceChange> = to
        .containers()
        .map(|new| match from.containers().find(|old| old.service == new.service) {
            None => ServiceChange {
                service: new.service.clone(),
                change: Change::Added,
                reasons: Vec::new(),
            },
            Some(old) => {
                let reasons = differences(old, new);
                ServiceChange {
                    service: new.service.clone(),
                    change: if reasons.is_empty() {
                        Change::Unchanged
                    } else {
                        Change::Replaced
                    },
                    reasons,
                }
            }
        })
        .collect();
    out.extend(
        from.containers()
            .filter(|old| to.containers().all(|new| new.service != old.service))
            .map(|old| ServiceChange {
                service: old.service.clone(),
                change: Change::Removed,
                reasons: Vec::new(),
            }),
    );
    out
}
