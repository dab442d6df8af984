//! An image pull's progress in bytes, summed over the layers the engine reports. Pure.

use std::collections::BTreeMap;

/// How far a pull is: bytes downloaded of the layers reported so far, and their size; the
/// total grows while the engine names more layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pulled {
    pub current: u64,
    pub total: u64,
}

/// What a caller of [`super::Runtime::ensure_image`] hears: once as a pull begins, then at each
/// change of its byte counts. Not at all when the image is present.
pub type PullReport<'a> = &'a (dyn Fn(Pulled) + Send + Sync);

/// The layers of one pull: (downloaded, size) by layer id, `None` size until the engine says.
#[derive(Debug, Default)]
pub struct Tally {
    layers: BTreeMap<String, (u64, Option<u64>)>,
}

impl Tally {
    /// Takes one of the engine's progress messages; the new figures when they changed.
    pub fn absorb(
        &mut self,
        layer: Option<&str>,
        status: Option<&str>,
        current: Option<i64>,
        total: Option<i64>,
    ) -> Option<Pulled> {
        let (Some(layer), Some(status)) = (layer, status) else {
            return None;
        };
        let before = self.figures();
        let bytes = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        match status {
            "Pulling fs layer" | "Waiting" => {
                self.layers.entry(layer.to_string()).or_insert((0, None));
            }
            "Downloading" => {
                if let (Some(current), Some(total)) = (bytes(current), bytes(total)) {
                    self.layers.insert(layer.to_string(), (current.min(total), Some(total)));
                }
            }
            // Downloaded: extraction reports its own counts, which are not download bytes.
            "Verifying Checksum" | "Download complete" | "Extracting" | "Pull complete" => {
                if let Some((current, Some(total))) = self.layers.get_mut(layer) {
                    *current = *total;
                }
            }
            // "Already exists" and the pull's own lines ("Pulling from", "Digest: ...").
            _ => {}
        }
        let after = self.figures();
        (after != before).then_some(after)
    }

    fn figures(&self) -> Pulled {
        self.layers
            .values()
            .fold(Pulled::default(), |sum, (current, total)| Pulled {
                current: sum.current + current,
                total: sum.total + total.unwrap_or(0),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_sum_over_the_layers_downloading_and_count_a_finished_layer_whole() {
        let mut t = Tally::default();
        assert_eq!(t.absorb(Some("1.0"), Some("Pulling from library/x"), None, None), None);
        assert_eq!(t.absorb(Some("a"), Some("Already exists"), None, None), None);
        assert_eq!(t.absorb(Some("b"), Some("Pulling fs layer"), None, None), None);
        let p = t.absorb(Some("b"), Some("Downloading"), Some(100), Some(1000));
        assert_eq!(
            p,
            Some(Pulled {
                current: 100,
                total: 1000
            })
        );
        let p = t.absorb(Some("c"), Some("Downloading"), Some(50), Some(500));
        assert_eq!(
            p,
            Some(Pulled {
                current: 150,
                total: 1500
            })
        );
        let p = t.absorb(Some("b"), Some("Download complete"), None, None);
        assert_eq!(
            p,
            Some(Pulled {
                current: 1050,
                total: 1500
            })
        );
        // Extraction's counts are not downloads: nothing changes.
        assert_eq!(t.absorb(Some("b"), Some("Extracting"), Some(10), Some(1000)), None);
        let p = t.absorb(Some("c"), Some("Pull complete"), None, None);
        assert_eq!(
            p,
            Some(Pulled {
                current: 1500,
                total: 1500
            })
        );
    }

    #[test]
    fn odd_messages_change_nothing() {
        let mut t = Tally::default();
        assert_eq!(t.absorb(None, Some("Downloading"), Some(1), Some(2)), None);
        assert_eq!(t.absorb(Some("x"), None, Some(1), Some(2)), None);
        assert_eq!(t.absorb(Some("x"), Some("Downloading"), Some(-1), Some(2)), None);
        // A current past the total is held at the total.
        let p = t.absorb(Some("x"), Some("Downloading"), Some(9), Some(2));
        assert_eq!(p, Some(Pulled { current: 2, total: 2 }));
    }
}
