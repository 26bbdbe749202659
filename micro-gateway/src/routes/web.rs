//! `GET /web`: the web apps, as JSON; `/web/{service}/...`: a web app,
//! reverse-proxied to one of its nodes (see the crate docs' "Web apps").

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use micro_runtime::Error;
use serde::Serialize;

use crate::failure::Failure;
use crate::gateway::Gateway;
use crate::limits::client;
use crate::resolve;
use crate::web::headers::Forwarding;
use crate::web::proxy::Destination;

/// One web app in `GET /web`.
#[derive(Debug, Serialize)]
pub(super) struct App {
    /// The service's name.
    service: String,
    /// Where the gateway serves it (`/web/{service}/`).
    path: String,
    /// How many of its nodes serve it.
    nodes: usize,
}

/// The services that serve a web app, sorted by name.
pub(super) async fn list(State(gateway): State<Arc<Gateway>>) -> Result<Response, Failure> {
    let snapshot = gateway.catalog.snapshot().await?;
    let apps: Vec<App> = snapshot
        .services
        .iter()
        .filter(|(_, entry)| !entry.web.is_empty())
        .map(|(name, entry)| App {
            service: name.clone(),
            path: format!("/web/{name}/"),
            nodes: entry.web.len(),
        })
        .collect();
    let body = serde_json::to_string(&apps).map_err(|e| Error::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Proxies `/web/{service}/{rest}` to `{node}/{rest}` with the query;
/// `/web/{service}` (no `/`) redirects a `GET` to `/web/{service}/`, so
/// the app's relative links resolve below its prefix.
pub(super) async fn proxy(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, Failure> {
    let path = request.uri().path().to_owned();
    let after = path.strip_prefix("/web/").unwrap_or_default();
    let (wanted, rest) = match after.find('/') {
        Some(slash) => (&after[..slash], &after[slash..]),
        None => (after, ""),
    };
    if wanted.is_empty() {
        return Err(
            Error::not_found("name a web app: /web/{service}/...; GET /web lists them").into(),
        );
    }
    let (service, base) = node(&gateway, wanted).await?;
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if rest.is_empty() && matches!(*request.method(), Method::GET | Method::HEAD) {
        // Relative, so it holds when the gateway is nested under a prefix.
        let location = format!("{wanted}/{query}");
        return Ok((
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response());
    }
    let slot = gateway.in_flight.enter(&service)?;
    let rest = if rest.is_empty() { "/" } else { rest };
    let prefix = format!("/web/{wanted}");
    let forwarding = Forwarding {
        peer: client::peer(request.extensions()),
        trusted: gateway.options.trust_forwarded,
        prefix: &prefix,
    };
    let destination = Destination {
        service: &service,
        base: &base,
        path_and_query: &format!("{rest}{query}"),
    };
    Ok(gateway
        .proxy
        .forward(
            &destination,
            request,
            &forwarding,
            gateway.options.timeout,
            slot,
        )
        .await?)
}

/// The web app `wanted` names and the base URL of one of its nodes,
/// picked at random.
///
/// # Errors
///
/// 404 when no web app has that name (saying whether a service without
/// web nodes does); 503 for a service whose nodes all left; the
/// registry's error.
async fn node(gateway: &Gateway, wanted: &str) -> Result<(String, String), Error> {
    let namespace = &gateway.options.namespace;
    let mut snapshot = gateway.catalog.snapshot().await?;
    if resolve::service(wanted, namespace, snapshot.web_apps()).is_err() {
        // It may have started a moment ago: ask the registry.
        snapshot = gateway.catalog.relisted().await?;
    }
    let service = match resolve::service(wanted, namespace, snapshot.web_apps()) {
        Ok(service) => service,
        Err(err) => {
            if let Ok(service) = resolve::service(wanted, namespace, snapshot.live()) {
                return Err(Error::not_found(format!(
                    "service {service:?} serves no web app: none of its nodes registers \
                     the metadata web=true or web=http://..."
                )));
            }
            let seen = gateway.catalog.seen_names();
            if let Ok(gone) = resolve::service(wanted, namespace, seen.iter().map(String::as_str)) {
                return Err(Error::unavailable(format!(
                    "service {gone:?} has no running nodes"
                )));
            }
            return Err(err);
        }
    };
    let nodes = &snapshot.services[service].web;
    let base = nodes[fastrand::usize(..nodes.len())].clone();
    Ok((service.to_owned(), base))
}
