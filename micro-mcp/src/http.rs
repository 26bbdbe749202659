//! Streamable HTTP: the MCP endpoint as an axum `Router` at `/mcp`.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::McpServer;

/// Options of the Streamable HTTP endpoint.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// A bearer token every request must carry (`Authorization: Bearer …`).
    pub auth_token: Option<String>,
    /// Host names (or `host:port`) accepted in the `Host` header, against
    /// DNS rebinding; empty keeps rmcp's default (loopback names only).
    pub allowed_hosts: Vec<String>,
    /// Accept any `Host` (behind a proxy that checks it, or with a token).
    pub any_host: bool,
}

/// `server` over Streamable HTTP at `/mcp`, for loopback clients, with no
/// token.
///
/// # Examples
///
/// ```no_run
/// # async fn run(server: micro_mcp::McpServer) -> std::io::Result<()> {
/// let app = axum::Router::new().merge(micro_mcp::router(server));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router(server: McpServer) -> Router {
    router_with(server, HttpOptions::default())
}

/// `server` over Streamable HTTP at `/mcp`, as `options` say.
pub fn router_with(server: McpServer, options: HttpOptions) -> Router {
    endpoint(server, options, CancellationToken::new())
}

/// The endpoint; cancelling `closing` ends its sessions and streams.
fn endpoint(server: McpServer, options: HttpOptions, closing: CancellationToken) -> Router {
    let mut config = StreamableHttpServerConfig::default().with_cancellation_token(closing);
    if options.any_host {
        config = config.disable_allowed_hosts();
    } else if !options.allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(options.allowed_hosts.clone());
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = Router::new().route_service("/mcp", service);
    match options.auth_token {
        Some(token) => {
            let expected: Arc<str> = Arc::from(format!("Bearer {token}"));
            router.layer(middleware::from_fn(move |request: Request, next: Next| {
                let expected = expected.clone();
                async move { authorize(&expected, request, next).await }
            }))
        }
        None => router,
    }
}

/// Lets `request` through when it carries the expected bearer token.
async fn authorize(expected: &str, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response()
    }
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How [`serve_http`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Requests (tool calls) still in flight when the grace period ended,
    /// cut short; 0 when every one finished.
    pub cut_short: usize,
}

/// Serves `server` over Streamable HTTP at `/mcp` on `listener` until
/// `shutdown` completes, then drains: accepts no new connection, ends the
/// `subscriptions/listen` streams, lets the requests in flight (tool calls)
/// finish for at most `grace`, and closes the sessions.
///
/// # Examples
///
/// ```no_run
/// # async fn run(server: micro_mcp::McpServer) -> std::io::Result<()> {
/// use std::time::Duration;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
/// let signal = micro_runtime::shutdown_signal();
/// let options = micro_mcp::HttpOptions::default();
/// let stopped =
///     micro_mcp::serve_http(listener, server, options, signal, Duration::from_secs(10)).await?;
/// assert_eq!(stopped.cut_short, 0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// When accepting connections fails.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    server: McpServer,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<Stopped> {
    let closing = CancellationToken::new();
    let in_flight = InFlight::default();
    let counted = in_flight.clone();
    let router = endpoint(server.clone(), options, closing.clone()).layer(middleware::from_fn(
        move |request: Request, next: Next| {
            let counted = counted.clone();
            async move { counted.track(request, next).await }
        },
    ));
    let signal = shutdown.shared();
    let serving = axum::serve(listener, router)
        .with_graceful_shutdown(signal.clone())
        .into_future();
    let draining = async {
        signal.await;
        server.end_subscriptions();
        let finished = tokio::time::timeout(grace, in_flight.idle()).await;
        let cut_short = if finished.is_ok() {
            0
        } else {
            in_flight.count()
        };
        closing.cancel();
        cut_short
    };
    tokio::pin!(serving);
    tokio::select! {
        served = &mut serving => served.map(|()| Stopped { cut_short: 0 }),
        cut_short = draining => serving.await.map(|()| Stopped { cut_short }),
    }
}

/// The POST requests in flight, their response bodies included (a tool
/// call's answer is in the body): what a drain waits for. GET streams of
/// notifications are not counted; they end when the sessions close.
#[derive(Clone)]
struct InFlight(Arc<watch::Sender<usize>>);

impl Default for InFlight {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl InFlight {
    /// Runs `request`, counted until its response body is sent or dropped.
    async fn track(&self, request: Request, next: Next) -> Response {
        if request.method() != Method::POST {
            return next.run(request).await;
        }
        self.0.send_modify(|n| *n += 1);
        let guard = Counted(self.clone());
        let (parts, body) = next.run(request).await.into_parts();
        let body = body.into_data_stream().map(move |chunk| {
            let _counted = &guard;
            chunk
        });
        Response::from_parts(parts, Body::from_stream(body))
    }

    /// Resolves when nothing is in flight.
    async fn idle(&self) {
        let _ = self.0.subscribe().wait_for(|n| *n == 0).await;
    }

    /// How many requests are in flight.
    fn count(&self) -> usize {
        *self.0.borrow()
    }
}

/// One request in flight, until dropped.
struct Counted(InFlight);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}
