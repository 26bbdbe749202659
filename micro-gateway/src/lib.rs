//! micro-gateway: the HTTP entry point to micro services, as an axum
//! [`Router`] to serve alone or to nest in an application's own.
//!
//! - `POST /api/{service}/{Endpoint.Method}` and go-micro's short paths
//!   (`/api/greeter/hello`): a JSON body (or, for `GET`, the query string)
//!   in, the service's JSON response out;
//! - `POST /rpc` with `{"service", "endpoint", "request", "address"?}`;
//! - `GET /openapi.json`: OpenAPI 3.1 from the services' `Debug.Describe`;
//! - `GET /health`: `{"status":"ok"}`;
//! - `GET /metrics` (feature `metrics`, with [`GatewayOptions::metrics`]):
//!   Prometheus text of its HTTP requests and its client's calls;
//! - `/web/{service}/...`: web apps (nodes with metadata `web`),
//!   reverse-proxied, WebSockets included; `GET /web` lists them.
//! - `GET /`: the web dashboard (services, their endpoints and schemas, a
//!   call form for each, events), unless
//!   [`GatewayOptions::dashboard`] turns it off.
//!
//! Every route but `/health` can want a bearer token
//! ([`GatewayOptions::auth_token`]); web pages of origins not trusted
//! ([`GatewayOptions::cors_origins`]) get 403; responses are gzipped for
//! clients that accept it. [`listen`] refuses an address beyond loopback
//! without a token. A rate limit per client address
//! ([`GatewayOptions::rate_limit`], 429) and a limit on calls in flight
//! per service ([`GatewayOptions::max_concurrent`], 503) keep one client
//! or one slow service from taking it down.
//!
//! The gateway knows services only through the registry and what they say
//! about themselves; it watches the registry, so a service that starts
//! later is routable at once.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use micro_gateway::GatewayOptions;
//!
//! let client = micro_runtime::Client::from_env()?;
//! let router = micro_gateway::router(client, GatewayOptions::new());
//! let listener = micro_gateway::listen("127.0.0.1:8080", &GatewayOptions::new()).await?;
//! micro_gateway::serve(listener, router, micro_runtime::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```
//!
#![doc = include_str!("../docs/resolution.md")]
#![doc = include_str!("../docs/streaming.md")]
#![doc = include_str!("../docs/limits.md")]
#![doc = include_str!("../docs/web.md")]
#![doc = include_str!("../docs/dashboard.md")]
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;

pub use axum::Router;
use micro_runtime::Client;

mod access;
mod auth;
mod catalog;
mod components;
mod dashboard;
mod failure;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod gateway;
mod headers;
mod host;
mod layers;
mod limits;
mod listen;
#[cfg(feature = "metrics")]
mod metrics;
mod openapi;
mod options;
mod origin;
mod request;
mod resolve;
mod routes;
mod stream;
mod trace;
mod web;

pub use limits::rate::RateLimit;
pub use listen::listen;
pub use options::GatewayOptions;

/// The gateway's routes, calling services through `client`.
///
/// The registry watch starts with the first request, so this needs no
/// runtime; requests must be served on a tokio runtime.
pub fn router(client: Client, options: GatewayOptions) -> Router {
    let client = instrument(client, &options);
    let wrapped = options.clone();
    let gateway = gateway::Gateway::new(client, options);
    let mut routes = routes::router(gateway.clone());
    if wrapped.dashboard {
        routes = routes.merge(dashboard::routes(gateway));
    }
    wrap(routes, &wrapped)
}

/// The web dashboard alone (`micro web`): its pages and API, the
/// `/api/...` routes it calls services through, and `/health`; no `/rpc`
/// nor `/openapi.json`. The same guards as [`router`].
pub fn dashboard_router(client: Client, options: GatewayOptions) -> Router {
    let options = options.dashboard(true);
    let client = instrument(client, &options);
    let wrapped = options.clone();
    let gateway = gateway::Gateway::new(client, options);
    let routes = routes::calls_only(gateway.clone()).merge(dashboard::routes(gateway));
    wrap(routes, &wrapped)
}

/// The client, counted in the options' metrics when there are some.
fn instrument(client: Client, options: &GatewayOptions) -> Client {
    #[cfg(feature = "metrics")]
    if let Some(metrics) = &options.metrics {
        return metrics.instrument(&client);
    }
    let _ = options;
    client
}

/// `routes` in the guards (and, with metrics, with `/metrics` inside
/// them and the HTTP counters around them).
fn wrap(routes: Router, options: &GatewayOptions) -> Router {
    #[cfg(feature = "metrics")]
    if let Some(metrics) = &options.metrics {
        let routes = layers::wrap(metrics::serve(routes, metrics), options);
        return metrics::count(routes, metrics);
    }
    layers::wrap(routes, options)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
///
/// # Errors
///
/// The listener's error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
