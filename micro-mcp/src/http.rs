//! Streamable HTTP: the MCP endpoint as an axum `Router` at `/mcp`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

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
    let mut config = StreamableHttpServerConfig::default();
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

/// Serves `router` on `listener` until `shutdown` completes.
///
/// # Errors
///
/// When accepting connections fails.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
