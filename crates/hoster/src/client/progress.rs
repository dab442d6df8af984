//! What `hoster deploy | start | restart` show while the operation runs: the deployment's
//! progress from its events stream, as bars on a terminal and as plain lines otherwise.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{IsTerminal, Write};

use axum::body::Body;
use futures_util::StreamExt;
use hoster_core::deployment::{Phase, Progress, ServiceProgress};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::Api;

/// The JSON of each `data:` line of a server-sent event stream, as its bytes arrive.
#[derive(Default)]
pub struct SseData {
    pending: String,
}

impl SseData {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Value> {
        self.pending.push_str(&String::from_utf8_lossy(chunk));
        let mut data = Vec::new();
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            if let Some(json) = line.trim_end().strip_prefix("data: ")
                && let Ok(value) = serde_json::from_str(json)
            {
                data.push(value);
            }
        }
        data
    }
}

/// Runs `operation` (a request that returns once the operation is over) while showing the
/// deployment's progress on standard error; answers what the operation answered.
pub async fn shown_while<T>(
    api: &Api,
    id: &str,
    operation: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    // Only progress is wanted, not the history: no row comes after the largest id.
    let path = format!("/api/v1/deployments/{id}/events?follow=true&after={}", i64::MAX);
    let events = match api.send(hyper::Method::GET, &path, None).await {
        Ok(response) if response.status() == 200 => Some(Body::new(response.into_body()).into_data_stream()),
        // No progress to show (an unknown id): the operation says what is wrong.
        _ => None,
    };
    let Some(mut events) = events else {
        return operation.await;
    };
    // The stream answered, so the server follows progress already: the operation can begin.
    let mut display = Display::new(std::io::stderr().is_terminal());
    let mut data = SseData::default();
    tokio::pin!(operation);
    let mut following = true;
    loop {
        tokio::select! {
            answer = &mut operation => {
                display.finish();
                return answer;
            }
            chunk = events.next(), if following => match chunk {
                Some(Ok(chunk)) => {
                    for value in data.push(&chunk) {
                        if let Ok(services) = serde_json::from_value::<Progress>(value["services"].clone()) {
                            display.show(&services);
                        }
                    }
                }
                _ => following = false,
            },
        }
    }
}

/// Bars (one per service) or plain lines (one per change of phase).
enum Display {
    Bars {
        all: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
    },
    Lines {
        last: BTreeMap<String, ServiceProgress>,
    },
}

impl Display {
    fn new(terminal: bool) -> Self {
        if terminal {
            Display::Bars {
                all: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: BTreeMap::new(),
            }
        } else {
            Display::Lines { last: BTreeMap::new() }
        }
    }

    fn show(&mut self, services: &Progress) {
        match self {
            Display::Bars { all, bars } => {
                for (service, now) in services {
                    let bar = bars.entry(service.clone()).or_insert_with(|| {
                        all.add(ProgressBar::new(0).with_style(plain()).with_prefix(service.clone()))
                    });
                    draw(bar, now);
                }
            }
            Display::Lines { last } => {
                let mut err = std::io::stderr().lock();
                for (service, now) in services {
                    let before = last.insert(service.clone(), *now);
                    if let Some(line) = line(service, before.as_ref(), now) {
                        let _ = writeln!(err, "{line}");
                    }
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Display::Bars { bars, .. } = self {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

fn draw(bar: &ProgressBar, now: &ServiceProgress) {
    match (now.current_bytes, now.total_bytes) {
        (Some(current), Some(total)) => {
            bar.set_style(
                ProgressStyle::with_template("{prefix:>16} {msg:15} [{bar:30}] {bytes}/{total_bytes}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_length(total);
            bar.set_position(current);
        }
        _ => bar.set_style(plain()),
    }
    bar.set_message(phase(now.phase));
}

/// A service's line without a bar: its name and phase.
fn plain() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>16} {msg}").expect("a valid template")
}

fn phase(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "pending",
        Phase::Pulling => "pulling",
        Phase::Creating => "creating",
        Phase::Starting => "starting",
        Phase::WaitingHealthy => "waiting healthy",
        Phase::Running => "running",
    }
}

/// The plain line for a service whose progress went from `before` to `now`: one per new
/// phase, with the bytes pulled when the pull ends. Pure.
fn line(service: &str, before: Option<&ServiceProgress>, now: &ServiceProgress) -> Option<String> {
    let before = match before {
        Some(b) if b.phase == now.phase => return None,
        other => other,
    };
    let pulled = before
        .filter(|b| b.phase == Phase::Pulling)
        .and_then(|b| Some(format!(" (pulled {})", HumanBytes(b.total_bytes?))))
        .unwrap_or_default();
    Some(format!("{service}: {}{pulled}", phase(now.phase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lines_are_read_across_chunks() {
        let mut sse = SseData::default();
        assert!(sse.push(b"event: progress\ndata: {\"a\"").is_empty());
        let got = sse.push(b":1}\n\n: keep-alive\nevent: deployment\nid: 4\ndata: {\"b\":2}\n\n");
        assert_eq!(got, vec![serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]);
    }

    #[test]
    fn a_line_per_new_phase_with_the_bytes_of_a_finished_pull() {
        let pulling = ServiceProgress {
            phase: Phase::Pulling,
            current_bytes: Some(10),
            total_bytes: Some(40),
        };
        let creating = ServiceProgress::at(Phase::Creating);
        assert_eq!(line("web", None, &pulling).as_deref(), Some("web: pulling"));
        assert_eq!(line("web", Some(&pulling), &pulling), None, "bytes alone: no line");
        assert_eq!(
            line("web", Some(&pulling), &creating).as_deref(),
            Some("web: creating (pulled 40 B)")
        );
        let healthy = ServiceProgress::at(Phase::WaitingHealthy);
        assert_eq!(
            line("db", Some(&creating), &healthy).as_deref(),
            Some("db: waiting healthy")
        );
    }
}
