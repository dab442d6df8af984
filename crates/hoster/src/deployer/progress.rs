//! Where each service of a starting deployment is (pulling with bytes, creating, starting,
//! waiting for health, running): shown on the deployment while the operation lasts and
//! published to whoever follows events. Kept in memory only: it describes an operation under
//! way, which a restart of Hoster ends anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoster_core::deployment::{Phase, Progress, ServiceProgress};
use hoster_core::id::DeploymentId;
use tokio::sync::broadcast;

use crate::runtime::Pulled;
use crate::store::DeploymentRecord;

/// Byte counts of a pull are published at most this often (each new figure is still shown
/// on the deployment at once).
const PULL_UPDATES: Duration = Duration::from_millis(250);
const BACKLOG: usize = 256;

/// A deployment's progress as it changed.
#[derive(Debug, Clone)]
pub struct Update {
    pub deployment: DeploymentId,
    pub customer_id: String,
    /// Empty once the operation is over.
    pub services: Progress,
}

struct Entry {
    customer_id: String,
    services: Progress,
    published: Instant,
    /// Byte counts changed since the last publication.
    unpublished: bool,
}

/// Every deployment's progress while an operation runs on it.
pub struct Board {
    entries: Mutex<HashMap<DeploymentId, Entry>>,
    updates: broadcast::Sender<Arc<Update>>,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            updates: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Board {
    /// The deployment's progress, while an operation runs on it.
    pub fn of(&self, id: &DeploymentId) -> Option<Progress> {
        self.entries().get(id).map(|e| e.services.clone())
    }

    /// The progress of every operation under way.
    pub fn current(&self) -> Vec<Update> {
        self.entries()
            .iter()
            .map(|(id, e)| Update {
                deployment: id.clone(),
                customer_id: e.customer_id.clone(),
                services: e.services.clone(),
            })
            .collect()
    }

    /// Progress as it changes, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    /// A handle for one operation on `d`, which clears its progress when dropped.
    pub(super) fn track(&self, d: &DeploymentRecord) -> Tracker<'_> {
        Tracker {
            board: self,
            deployment: d.id.clone(),
            customer_id: d.customer_id.clone(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentId, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, t: &Tracker, services: Progress) {
        // No receiver is not an error: nobody follows events right now.
        let _ = self.updates.send(Arc::new(Update {
            deployment: t.deployment.clone(),
            customer_id: t.customer_id.clone(),
            services,
        }));
    }
}

/// Reports one operation's progress on the [`Board`].
pub(super) struct Tracker<'a> {
    board: &'a Board,
    deployment: DeploymentId,
    customer_id: String,
}

impl Tracker<'_> {
    /// Sets the services' phase (their byte counts go).
    pub fn set<'s>(&self, services: impl IntoIterator<Item = &'s str>, phase: Phase) {
        self.change(services, ServiceProgress::at(phase));
    }

    /// The services waiting for one image: how far its pull is.
    pub fn pulled<'s>(&self, services: impl IntoIterator<Item = &'s str>, pulled: Pulled) {
        let known = |n: u64| (pulled.total > 0).then_some(n);
        self.change(
            services,
            ServiceProgress {
                phase: Phase::Pulling,
                current_bytes: known(pulled.current),
                total_bytes: known(pulled.total),
            },
        );
    }

    fn change<'s>(&self, services: impl IntoIterator<Item = &'s str>, to: ServiceProgress) {
        let mut entries = self.board.entries();
        let entry = entries.entry(self.deployment.clone()).or_insert_with(|| Entry {
            customer_id: self.customer_id.clone(),
            services: Progress::new(),
            published: Instant::now(),
            unpublished: false,
        });
        let services: Vec<&str> = services.into_iter().collect();
        let new_phase = services
            .iter()
            .any(|s| entry.services.get(*s).is_none_or(|b| b.phase != to.phase));
        let mut out = Vec::new();
        // The last byte counts of a pull go out before the phase that ends it.
        if new_phase && entry.unpublished {
            out.push(entry.services.clone());
        }
        let mut changed = false;
        for service in services {
            changed |= entry.services.insert(service.to_string(), to) != Some(to);
        }
        // A new phase always goes out; a pull's byte counts now and then.
        if new_phase || (changed && entry.published.elapsed() >= PULL_UPDATES) {
            entry.published = Instant::now();
            entry.unpublished = false;
            out.push(entry.services.clone());
        } else if changed {
            entry.unpublished = true;
        }
        drop(entries);
        for services in out {
            self.board.publish(self, services);
        }
    }
}

impl Drop for Tracker<'_> {
    fn drop(&mut self) {
        if self.board.entries().remove(&self.deployment).is_some() {
            self.board.publish(self, Progress::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoster_core::deployment::Status;

    fn record() -> DeploymentRecord {
        let now = crate::clock::now();
        DeploymentRecord {
            id: DeploymentId::from_random([7; 10]),
            name: "n".into(),
            template_id: hoster_core::id::TemplateId::from_random([8; 10]),
            customer_id: "alice".into(),
            status: Status::Starting,
            domain: "n.localhost".into(),
            error_message: None,
            delete_requested: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn current_names_each_operation_under_way() {
        let board = Board::default();
        let d = record();
        let tracker = board.track(&d);
        assert!(board.current().is_empty(), "nothing reported yet");
        tracker.set(["web"], Phase::Starting);
        let now = board.current();
        assert_eq!(now.len(), 1);
        assert_eq!((&now[0].deployment, now[0].customer_id.as_str()), (&d.id, "alice"));
        assert_eq!(now[0].services["web"].phase, Phase::Starting);
        drop(tracker);
        assert!(board.current().is_empty());
    }

    #[test]
    fn phases_are_published_bytes_now_and_then_and_the_end_clears() {
        let board = Board::default();
        let d = record();
        let mut updates = board.subscribe();
        {
            let tracker = board.track(&d);
            tracker.pulled(["web", "worker"], Pulled::default());
            tracker.pulled(["web", "worker"], Pulled { current: 5, total: 10 });
            let shown = board.of(&d.id).expect("progress while the operation runs");
            assert_eq!(
                shown["worker"].current_bytes,
                Some(5),
                "the deployment shows each figure"
            );
            tracker.pulled(["web", "worker"], Pulled { current: 10, total: 10 });
            tracker.set(["web"], Phase::Creating);
            tracker.set(["web"], Phase::Creating);
        }
        assert_eq!(board.of(&d.id), None, "the end of the operation clears it");
        let mut seen = Vec::new();
        while let Ok(u) = updates.try_recv() {
            assert_eq!(u.customer_id, "alice");
            seen.push(u.services.get("web").map(|s| (s.phase, s.current_bytes)));
        }
        assert_eq!(
            seen,
            vec![
                Some((Phase::Pulling, None)),
                Some((Phase::Pulling, Some(10))),
                Some((Phase::Creating, None)),
                None, // cleared
            ],
            "byte counts within 250 ms of the last update wait (the last goes out before the next \
             phase); a repeated phase is not published"
        );
    }
}
