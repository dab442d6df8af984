//! Containers' output, as timestamped lines read from the engine.

use bollard::container::LogOutput;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::engine::{Engine, EngineError, is_status};

/// Which lines to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// Only the last this many.
    pub tail: Option<usize>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds.
    pub until: Option<i64>,
    /// Keep reading as the container writes, until it stops.
    pub follow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line a container wrote, without its line ending.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLine {
    pub stream: LogStream,
    /// When the engine received it.
    pub time: OffsetDateTime,
    pub text: String,
}

/// The lines of one chunk of the engine's output, each of which starts with the engine's
/// RFC 3339 timestamp and a space. A piece without one (a line the engine split, or a TTY's
/// output) takes the time of the line before it, or `fallback`.
pub fn split_lines(stream: LogStream, chunk: &[u8], fallback: OffsetDateTime) -> Vec<RawLine> {
    let text = String::from_utf8_lossy(chunk);
    let mut time = fallback;
    text.strip_suffix('\n')
        .unwrap_or(&text)
        .split('\n')
        .map(|piece| {
            let piece = piece.strip_suffix('\r').unwrap_or(piece);
            let text = match piece.split_once(' ') {
                Some((stamp, rest)) => match OffsetDateTime::parse(stamp, &Rfc3339) {
                    Ok(at) => {
                        time = at;
                        rest
                    }
                    Err(_) => piece,
                },
                None => match OffsetDateTime::parse(piece, &Rfc3339) {
                    Ok(at) => {
                        time = at;
                        ""
                    }
                    Err(_) => piece,
                },
            };
            RawLine {
                stream,
                time,
                text: text.to_string(),
            }
        })
        .collect()
}

impl Engine {
    pub(super) async fn logs(
        &self,
        name: &str,
        query: &LogQuery,
    ) -> Result<BoxStream<'static, Result<RawLine, EngineError>>, EngineError> {
        let docker = self.client().await?;
        let to_i32 = |seconds: i64| i32::try_from(seconds).unwrap_or(i32::MAX);
        let mut options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(query.follow)
            .tail(&query.tail.map_or("all".to_string(), |n| n.to_string()));
        if let Some(since) = query.since {
            options = options.since(to_i32(since));
        }
        if let Some(until) = query.until {
            options = options.until(to_i32(until));
        }
        let lines = docker
            .logs(name, Some(options.build()))
            .take_while(|chunk| std::future::ready(!matches!(chunk, Err(e) if is_status(e, 404))))
            .flat_map(|chunk| {
                let lines = match chunk {
                    Ok(LogOutput::StdErr { message }) => {
                        Ok(split_lines(LogStream::Stderr, &message, OffsetDateTime::now_utc()))
                    }
                    Ok(output) => Ok(split_lines(
                        LogStream::Stdout,
                        &output.into_bytes(),
                        OffsetDateTime::now_utc(),
                    )),
                    Err(e) => Err(EngineError::from_docker(e)),
                };
                futures_util::stream::iter(match lines {
                    Ok(lines) => lines.into_iter().map(Ok).collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                })
            });
        Ok(lines.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn each_line_takes_the_engine_timestamp_before_it() {
        let chunk = b"2026-11-29T19:52:23.123456789Z hello world\n2026-11-29T19:52:24Z second\r\n";
        let lines = split_lines(LogStream::Stdout, chunk, datetime!(2000-01-01 0:00 UTC));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "hello world");
        assert_eq!(lines[0].time, datetime!(2026-11-29 19:52:23.123456789 UTC));
        assert_eq!(lines[1].text, "second");
        assert_eq!(lines[1].time, datetime!(2026-11-29 19:52:24 UTC));
    }

    #[test]
    fn pieces_without_a_timestamp_keep_the_last_one() {
        let fallback = datetime!(2000-01-01 0:00 UTC);
        let lines = split_lines(
            LogStream::Stderr,
            b"no stamp here\n2026-11-29T19:52:23Z\nafter",
            fallback,
        );
        assert_eq!(
            lines,
            vec![
                RawLine {
                    stream: LogStream::Stderr,
                    time: fallback,
                    text: "no stamp here".into()
                },
                RawLine {
                    stream: LogStream::Stderr,
                    time: datetime!(2026-11-29 19:52:23 UTC),
                    text: "".into()
                },
                RawLine {
                    stream: LogStream::Stderr,
                    time: datetime!(2026-11-29 19:52:23 UTC),
                    text: "after".into()
                },
            ]
        );
    }
}
