//! What the streaming answers (logs, stats, events) share: ending at an engine error, and
//! server-sent events.

use std::convert::Infallible;
use std::fmt::Display;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Serialize;

/// The items up to the first error, which is logged (`what` failed) and ends the stream: a
/// body already under way cannot turn into an error answer.
pub fn until_error<T, E: Display>(
    items: impl Stream<Item = Result<T, E>>,
    what: &'static str,
) -> impl Stream<Item = T> {
    items
        .take_while(move |item| {
            if let Err(e) = item {
                tracing::warn!(error = %e, "{what} failed");
            }
            std::future::ready(item.is_ok())
        })
        .filter_map(|item| std::future::ready(item.ok()))
}

/// Server-sent events: one per item, `event:` its `kind`, its JSON as data and, when `id` gives
/// one, its id (for `Last-Event-ID`); a comment every 15 s keeps idle connections open.
pub fn sse<T: Serialize>(
    items: impl Stream<Item = T> + Send + 'static,
    kind: impl Fn(&T) -> &'static str + Send + 'static,
    id: impl Fn(&T) -> Option<String> + Send + 'static,
) -> Response {
    let open = Open::new();
    let events = items.map(move |item| {
        let _counted = &open;
        let mut event = Event::default().event(kind(&item));
        if let Some(id) = id(&item) {
            event = event.id(id);
        }
        Ok::<_, Infallible>(event.json_data(item).unwrap_or_default())
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One open stream in `hoster_streams_open`, until the stream (the client's response) is
/// dropped: the figure shows that a stream the client left holds nothing.
struct Open;

impl Open {
    fn new() -> Self {
        crate::metrics::global().streams_open.inc();
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        crate::metrics::global().streams_open.dec();
    }
}
