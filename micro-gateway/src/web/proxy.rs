//! Forwarding one request to a web app's node with hyper's client, and
//! its answer back; a protocol switch (WebSocket) becomes a tunnel
//! between the two connections.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use micro_runtime::Error;

use super::headers::{self, Forwarding};
use crate::limits::in_flight::Slot;

/// The HTTP client every proxied request goes through (it pools
/// connections per node).
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    http: HttpClient<HttpConnector, Body>,
}

impl Default for Proxy {
    fn default() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        Self {
            http: HttpClient::builder(TokioExecutor::new()).build(connector),
        }
    }
}

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where one request goes.
#[derive(Debug)]
pub(crate) struct Destination<'a> {
    /// The service, for errors.
    pub(crate) service: &'a str,
    /// The node's base URL (`http://host:port[/path]`).
    pub(crate) base: &'a str,
    /// The path below the app's prefix with the query (`/a/b?c=d`).
    pub(crate) path_and_query: &'a str,
}

impl Proxy {
    /// Sends `request` to `to` and answers with the app's response; waits
    /// at most `timeout` for its head (the body then streams as long as
    /// it takes). `slot` is held until the response's body ends or the
    /// tunnel of a protocol switch closes.
    ///
    /// # Errors
    ///
    /// 502 when the node cannot be reached or answers with something
    /// that is not HTTP; 504 when it sends no answer within `timeout`.
    pub(crate) async fn forward(
        &self,
        to: &Destination<'_>,
        mut request: Request,
        forwarding: &Forwarding<'_>,
        timeout: Duration,
        slot: Slot,
    ) -> Result<Response, Error> {
        let uri: Uri = format!("{}{}", to.base, to.path_and_query)
            .parse()
            .map_err(|e| {
                Error::bad_request(format!("cannot proxy to {}: bad path: {e}", to.service))
            })?;
        let wants_switch = headers::upgrade(request.headers()).is_some();
        let client_side = wants_switch.then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        headers::request(&mut parts.headers, forwarding);
        let mut outgoing = hyper::Request::new(body);
        *outgoing.method_mut() = parts.method;
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = parts.headers;
        let mut response = match tokio::time::timeout(timeout, self.http.request(outgoing)).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                let what = if err.is_connect() {
                    "cannot be reached"
                } else {
                    "did not answer"
                };
                return Err(Error::new(
                    502,
                    format!(
                        "web app {} at {} {what}: {}",
                        to.service,
                        to.base,
                        innermost(&err)
                    ),
                ));
            }
            Err(_) => {
                return Err(Error::new(
                    408,
                    format!(
                        "web app {} at {} sent no answer within {timeout:?}",
                        to.service, to.base
                    ),
                ));
            }
        };
        let mut slot = Some(slot);
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_side) = client_side
        {
            let app_side = hyper::upgrade::on(&mut response);
            let held = slot.take();
            tokio::spawn(async move {
                tunnel(client_side, app_side).await;
                drop(held);
            });
        }
        let (mut parts, body) = response.into_parts();
        headers::response(&mut parts.headers);
        let response = Response::from_parts(parts, Body::new(body));
        Ok(match slot {
            Some(slot) => slot.hold(response),
            None => response,
        })
    }
}

/// The deepest cause of `err` (`Connection refused`, not `client error`).
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Copies bytes both ways between the client's and the app's switched
/// connections until either side closes.
async fn tunnel(client: hyper::upgrade::OnUpgrade, app: hyper::upgrade::OnUpgrade) {
    let (client, app) = match tokio::try_join!(client, app) {
        Ok(both) => both,
        Err(err) => {
            tracing::debug!("web proxy: protocol switch failed: {err}");
            return;
        }
    };
    let (mut client, mut app) = (TokioIo::new(client), TokioIo::new(app));
    if let Err(err) = tokio::io::copy_bidirectional(&mut client, &mut app).await {
        tracing::debug!("web proxy: tunnel ended: {err}");
    }
}
