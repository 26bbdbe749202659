//! The services list as JSON, and as Server-Sent Events that send it
//! again whenever the registry changes (and every few seconds, so health
//! stays current): the services page updates itself without a reload.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use micro_runtime::registry::Watcher;

use super::Dashboard;
use super::listing::{self, ServiceRow};
use crate::failure::Failure;

/// How often the list is sent again without a registry change (health).
const REFRESH: Duration = Duration::from_secs(5);

/// After a change, how long to wait for more before listing: a service
/// that starts registers several records at once.
const SETTLE: Duration = Duration::from_millis(150);

/// `GET /dashboard/api/services`: the list once.
pub(super) async fn list(State(dashboard): State<Arc<Dashboard>>) -> Response {
    match listing::rows(&dashboard.gateway.client, &dashboard.health).await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => Failure(error).into_response(),
    }
}

/// `GET /dashboard/api/services/live`: an `event: services` with the list
/// (JSON) at once, then after every change; an `event: error` with the
/// error's JSON when the registry cannot be listed.
pub(super) async fn events(State(dashboard): State<Arc<Dashboard>>) -> impl IntoResponse {
    Sse::new(updates(dashboard)).keep_alive(KeepAlive::default())
}

/// What the stream remembers between events.
struct Feed {
    dashboard: Arc<Dashboard>,
    watcher: Option<Watcher>,
    last: Option<Vec<ServiceRow>>,
    first: bool,
}

fn updates(dashboard: Arc<Dashboard>) -> impl Stream<Item = Result<Event, Infallible>> {
    let feed = Feed {
        dashboard,
        watcher: None,
        last: None,
        first: true,
    };
    stream::unfold(feed, |mut feed| async move {
        loop {
            if !feed.first {
                feed.wait_for_change().await;
            }
            feed.first = false;
            let client = &feed.dashboard.gateway.client;
            match listing::rows(client, &feed.dashboard.health).await {
                Ok(rows) if feed.last.as_ref() == Some(&rows) => continue,
                Ok(rows) => {
                    let data = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into());
                    feed.last = Some(rows);
                    return Some((Ok(Event::default().event("services").data(data)), feed));
                }
                Err(error) => {
                    feed.last = None;
                    let data = String::from_utf8_lossy(&error.to_json()).into_owned();
                    return Some((Ok(Event::default().event("error").data(data)), feed));
                }
            }
        }
    })
}

impl Feed {
    /// Waits for a registry change (then a moment more) or the refresh
    /// period, whichever comes first.
    async fn wait_for_change(&mut self) {
        if self.watcher.is_none() {
            self.watcher = self.dashboard.gateway.client.watch(None).await.ok();
        }
        let Some(watcher) = self.watcher.as_mut() else {
            tokio::time::sleep(REFRESH).await;
            return;
        };
        tokio::select! {
            event = watcher.next() => {
                if event.is_err() {
                    self.watcher = None;
                }
                tokio::time::sleep(SETTLE).await;
            }
            () = tokio::time::sleep(REFRESH) => {}
        }
    }
}
