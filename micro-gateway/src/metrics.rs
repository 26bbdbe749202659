//! The gateway's own series (feature `metrics`): HTTP requests by method,
//! route and status, and their latency, beside the series of the client
//! it calls services with; all served at `GET /metrics`.
//!
//! The route is the matched route's pattern (`/api/{*path}`), never the
//! path itself, and methods beyond the usual ones count as `other`: what
//! a client sends cannot add series.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use micro_runtime::metrics::{CONTENT_TYPE, LATENCY_BUCKETS, Metrics};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: &'static str,
    route: String,
    code: u16,
}

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The HTTP series, registered with the runtime's.
#[derive(Clone)]
struct HttpSeries {
    requests: Family<StatusLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

/// `routes` with `GET /metrics` serving `metrics` (before the guards are
/// put around them, so the token applies).
pub(crate) fn serve(routes: Router, metrics: &Metrics) -> Router {
    let metrics = metrics.clone();
    routes.route(
        "/metrics",
        get(move || {
            let text = metrics.encode();
            async move {
                let mut rsp = text.into_response();
                rsp.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
                rsp
            }
        }),
    )
}

/// `router` with every request counted in `metrics` (outermost, so a
/// request refused by a guard counts with its status).
pub(crate) fn count(router: Router, metrics: &Metrics) -> Router {
    let series = HttpSeries {
        requests: Family::default(),
        duration: Family::new_with_constructor(latency),
    };
    metrics.register(
        "micro_gateway_http_requests",
        "HTTP requests the gateway answered, by method, route and status",
        series.requests.clone(),
    );
    metrics.register(
        "micro_gateway_http_request_duration_seconds",
        "Time to answer an HTTP request (until its headers), by method and route",
        series.duration.clone(),
    );
    router.layer(middleware::from_fn_with_state(series, record))
}

async fn record(State(series): State<HttpSeries>, req: Request, next: Next) -> Response {
    let method = method(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let rsp = next.run(req).await;
    let code = rsp.status().as_u16();
    series
        .duration
        .get_or_create(&RouteLabels {
            method,
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    series
        .requests
        .get_or_create(&StatusLabels {
            method,
            route,
            code,
        })
        .inc();
    rsp
}

/// The method as a label: the usual ones, else `other`.
fn method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
