//! `GET /api/v1/deployments/{id}/logs`: the containers' output, merged in time order.

use std::convert::Infallible;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hoster_core::access::{Caller, Operation};
use hoster_core::problem::{Problem, Problems};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::deployments::load;
use super::error::{ApiError, ErrorBody};
use super::extract::{Path, Query};
use super::stream::{sse, until_error};
use crate::deployer::logs::{LogLine, MAX_TAIL};
use crate::runtime::{LogQuery, LogStream};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// One service's lines only.
    service: Option<String>,
    /// Only the last this many lines (0 to 10,000; default: all).
    tail: Option<u64>,
    /// Only lines from this time on: RFC 3339, Unix seconds, or a span back from now (`90s`,
    /// `10m`, `2h`, `7d`).
    since: Option<String>,
    /// Only lines before this time, in the same forms.
    until: Option<String>,
    /// Put the time the engine received each line before it (text only; JSON always has it).
    timestamps: Option<bool>,
    /// Keep the response open as server-sent events (`event: log`), sending lines as they are
    /// written, until the client leaves or every container has stopped.
    follow: Option<bool>,
}

/// One line, as JSON lines and server-sent events carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogLineView {
    pub service: String,
    pub stream: LogStream,
    /// When the engine received the line (RFC 3339, nanoseconds).
    pub time: String,
    pub line: String,
}

impl From<LogLine> for LogLineView {
    fn from(l: LogLine) -> Self {
        LogLineView {
            service: l.service,
            stream: l.stream,
            time: rfc3339(l.time),
            line: l.text,
        }
    }
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// The deployment's output: every service's stdout and stderr, merged in time order, each line
/// with its service. `text/plain` (`service | line`) unless `Accept: application/x-ndjson`;
/// with `follow=true`, server-sent events. Stopped and failed deployments keep their last
/// output until they start again or are deleted.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/{id}/logs",
    tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), LogsQuery),
    responses(
        (status = 200, description = "the lines", content(
            (String = "text/plain"),
            (LogLineView = "application/x-ndjson"),
            (LogLineView = "text/event-stream"),
        )),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn deployment_logs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let d = load(&state, &caller, Operation::GetDeployment, &id).await?;
    let now = OffsetDateTime::now_utc();
    let mut problems = Vec::new();
    let mut moment = |field: &'static str, value: &Option<String>| {
        value.as_deref().and_then(|v| match parse_moment(v, now) {
            Ok(at) => Some(at),
            Err(why) => {
                problems.push(Problem::field(field, why));
                None
            }
        })
    };
    let since = moment("since", &query.since);
    let until = moment("until", &query.until);
    if let Some(tail) = query.tail
        && tail > MAX_TAIL as u64
    {
        problems.push(Problem::field(
            "tail",
            format!("must be from 0 to {MAX_TAIL} (got {tail})"),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(Problems(problems)));
    }
    let follow = query.follow.unwrap_or(false);
    let engine_query = LogQuery {
        tail: query.tail.map(|t| t as usize),
        since,
        until,
        follow,
    };
    let lines = until_error(
        state.deployer.logs(&d, query.service.as_deref(), &engine_query).await?,
        "reading a deployment's logs",
    );
    if follow {
        return Ok(sse(lines.map(LogLineView::from), |_| "log", |_| None));
    }
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/x-ndjson"));
    let timestamps = query.timestamps.unwrap_or(false);
    let body = lines.map(move |line| {
        let mut text = if ndjson {
            serde_json::to_string(&LogLineView::from(line)).unwrap_or_default()
        } else if timestamps {
            format!("{} | {} {}", line.service, rfc3339(line.time), line.text)
        } else {
            format!("{} | {}", line.service, line.text)
        };
        text.push('\n');
        Ok::<_, Infallible>(Bytes::from(text))
    });
    let content_type = if ndjson {
        "application/x-ndjson"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok(([(header::CONTENT_TYPE, content_type)], Body::from_stream(body)).into_response())
}

/// A moment a client names: RFC 3339, Unix seconds, or a span back from `now` (`90s`, `10m`,
/// `2h`, `7d`); as Unix seconds.
fn parse_moment(value: &str, now: OffsetDateTime) -> Result<i64, String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at.unix_timestamp());
    }
    if let Ok(seconds) = value.parse::<i64>()
        && seconds >= 0
    {
        return Ok(seconds);
    }
    let (count, unit) = value
        .char_indices()
        .last()
        .map_or(("", ' '), |(at, unit)| (&value[..at], unit));
    let unit = match unit {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    let count = count.parse::<i64>().ok();
    match (count, unit) {
        (Some(count), Some(unit)) if (0..=36_500 * 86_400).contains(&count.saturating_mul(unit)) => {
            Ok(now.unix_timestamp() - count * unit)
        }
        _ => Err(format!(
            "`{value}` is not a time: give RFC 3339 (2026-11-29T10:00:00Z), Unix seconds, or a span back from now (90s, 10m, 2h, 7d)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn moments_are_rfc3339_unix_seconds_or_spans_back() {
        let now = datetime!(2026-11-29 12:00 UTC);
        let noon = now.unix_timestamp();
        assert_eq!(parse_moment("2026-11-29T11:00:00Z", now), Ok(noon - 3600));
        assert_eq!(parse_moment("1700000000", now), Ok(1_700_000_000));
        assert_eq!(parse_moment("90s", now), Ok(noon - 90));
        assert_eq!(parse_moment("10m", now), Ok(noon - 600));
        assert_eq!(parse_moment("2h", now), Ok(noon - 7200));
        assert_eq!(parse_moment("7d", now), Ok(noon - 7 * 86_400));
        for bad in [
            "",
            "-5",
            "m",
            "10x",
            "yesterday",
            "2026-11-29",
            "99999999999999999d",
            "é",
            "5é",
        ] {
            assert!(parse_moment(bad, now).is_err(), "{bad}");
        }
    }
}
