//! A deployment's output: every service's lines merged in time order, read from the engine as
//! they are sent on, never gathered whole (a `tail` keeps at most that many lines).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use hoster_core::problem::{Problem, Problems};
use time::OffsetDateTime;

use super::{DeployError, Deployer};
use crate::runtime::{LogQuery, LogStream, RawLine};
use crate::store::DeploymentRecord;

/// The most lines a `tail` may ask for.
pub const MAX_TAIL: usize = 10_000;

/// One line of one service's output.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub service: String,
    pub stream: LogStream,
    pub time: OffsetDateTime,
    pub text: String,
}

pub type Lines = BoxStream<'static, Result<LogLine, DeployError>>;

impl Deployer {
    /// The output of the deployment's containers (of `service` only, when given), oldest first.
    /// With `query.follow`, the lines so far, then new lines as they are written, until every
    /// container has stopped or the stream is dropped. Stopped containers keep their output, so
    /// a failed deployment's last lines are here too.
    pub async fn logs(
        &self,
        d: &DeploymentRecord,
        service: Option<&str>,
        query: &LogQuery,
    ) -> Result<Lines, DeployError> {
        let compose = self.instance_of(d).await?.compose;
        if let Some(service) = service
            && !compose.services.iter().any(|s| s.name == service)
        {
            return Err(DeployError::Invalid(Problems(vec![Problem::field(
                "service",
                format!("the deployment has no service `{service}`"),
            )])));
        }
        let order = |name: &str| compose.services.iter().position(|s| s.name == name);
        let mut containers: Vec<_> = self
            .engine
            .containers(Some(&d.id))
            .await?
            .into_iter()
            .filter(|c| service.is_none_or(|s| s == c.service))
            .collect();
        containers.sort_by_key(|c| order(&c.service));

        let started = OffsetDateTime::now_utc();
        // The newest line shown per container, for following on from it (to the nanosecond:
        // the engine's `since` only takes seconds).
        let seen: Arc<Mutex<HashMap<String, OffsetDateTime>>> = Arc::default();
        let history_query = LogQuery {
            follow: false,
            ..query.clone()
        };
        let mut history = Vec::new();
        for c in &containers {
            let seen = Arc::clone(&seen);
            let id = c.id.clone();
            let lines = of_service(&c.service, self.engine.logs(&c.id, &history_query).await?);
            history.push(
                lines
                    .inspect_ok(move |line| {
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id.clone(), line.time);
                    })
                    .boxed(),
            );
        }
        let history = match query.tail {
            Some(n) => last(merge_by_time(history), n),
            None => merge_by_time(history),
        };
        if !query.follow {
            return Ok(history);
        }
        let engine = Arc::clone(&self.engine);
        let live = stream::once(async move {
            let mut streams = Vec::new();
            for c in containers {
                let after = seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&c.id)
                    .copied()
                    .unwrap_or(started);
                let query = LogQuery {
                    tail: None,
                    since: Some(after.unix_timestamp()),
                    until: None,
                    follow: true,
                };
                match engine.logs(&c.id, &query).await {
                    Ok(lines) => streams.push(
                        of_service(&c.service, lines)
                            .try_filter(move |line| std::future::ready(line.time > after))
                            .boxed(),
                    ),
                    Err(e) => streams.push(stream::once(async move { Err(e.into()) }).boxed()),
                }
            }
            stream::select_all(streams)
        })
        .flatten();
        Ok(history.chain(live).boxed())
    }
}

fn of_service(service: &str, lines: BoxStream<'static, Result<RawLine, crate::runtime::EngineError>>) -> Lines {
    let service = service.to_string();
    lines
        .map(move |line| {
            let line = line?;
            Ok(LogLine {
                service: service.clone(),
                stream: line.stream,
                time: line.time,
                text: line.text,
            })
        })
        .boxed()
}

/// One stream of several time-ordered ones, in time order (ties: the earlier stream first).
/// Holds one line per stream.
pub fn merge_by_time(streams: Vec<Lines>) -> Lines {
    let sources: Vec<(Lines, Option<LogLine>, bool)> = streams.into_iter().map(|s| (s, None, false)).collect();
    stream::unfold(sources, |mut sources| async move {
        for (lines, head, done) in sources.iter_mut() {
            if head.is_none() && !*done {
                match lines.next().await {
                    Some(Ok(line)) => *head = Some(line),
                    Some(Err(e)) => {
                        *done = true;
                        return Some((Err(e), sources));
                    }
                    None => *done = true,
                }
            }
        }
        let earliest = sources
            .iter()
            .enumerate()
            .filter_map(|(i, (_, head, _))| head.as_ref().map(|h| (h.time, i)))
            .min()?
            .1;
        let line = sources[earliest].1.take()?;
        Some((Ok(line), sources))
    })
    .boxed()
}

/// The last `n` lines of `lines` (an error ends it at once).
fn last(lines: Lines, n: usize) -> Lines {
    stream::once(async move {
        let mut kept = VecDeque::with_capacity(n.min(MAX_TAIL));
        let mut lines = lines;
        while let Some(line) = lines.next().await {
            match line {
                Ok(line) => {
                    if kept.len() == n {
                        kept.pop_front();
                    }
                    if n > 0 {
                        kept.push_back(line);
                    }
                }
                Err(e) => return stream::iter(vec![Err(e)]).boxed(),
            }
        }
        stream::iter(kept.into_iter().map(Ok)).boxed()
    })
    .flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(service: &str, second: i64) -> LogLine {
        LogLine {
            service: service.into(),
            stream: LogStream::Stdout,
            time: OffsetDateTime::from_unix_timestamp(second).unwrap(),
            text: format!("{service} at {second}"),
        }
    }

    fn source(lines: Vec<LogLine>) -> Lines {
        stream::iter(lines.into_iter().map(Ok)).boxed()
    }

    async fn texts(lines: Lines) -> Vec<String> {
        lines.map(|l| l.unwrap().text).collect().await
    }

    #[tokio::test]
    async fn services_are_merged_in_time_order() {
        let web = source(vec![line("web", 1), line("web", 4), line("web", 5)]);
        let db = source(vec![line("db", 2), line("db", 3), line("db", 6)]);
        let empty = source(vec![]);
        assert_eq!(
            texts(merge_by_time(vec![web, empty, db])).await,
            ["web at 1", "db at 2", "db at 3", "web at 4", "web at 5", "db at 6"]
        );
    }

    #[tokio::test]
    async fn a_tail_keeps_the_newest_lines_across_services() {
        let web = source(vec![line("web", 1), line("web", 4)]);
        let db = source(vec![line("db", 2), line("db", 3)]);
        assert_eq!(
            texts(last(merge_by_time(vec![web, db]), 2)).await,
            ["db at 3", "web at 4"]
        );
        assert!(texts(last(source(vec![line("web", 1)]), 0)).await.is_empty());
    }

    #[tokio::test]
    async fn an_engine_error_ends_the_stream_with_it() {
        let failing = stream::iter(vec![Ok(line("web", 1)), Err(DeployError::NoHostname)]).boxed();
        let all: Vec<_> = merge_by_time(vec![failing]).collect().await;
        assert!(matches!(all.as_slice(), [Ok(_), Err(DeployError::NoHostname)]));
    }
}
