//! micro services as [Model Context Protocol](https://modelcontextprotocol.io)
//! tools, so AI agents can call them, over stdio and Streamable HTTP, with
//! the official Rust SDK, [`rmcp`].
//!
//! Every endpoint of every registered service is a tool, described by the
//! service itself (`Debug.Describe`):
//!
//! * the name is `<service>_<Endpoint>` made safe for clients that accept
//!   only `^[a-zA-Z0-9_-]{1,64}$` ([`tool_names`]);
//! * the description is the endpoint's documentation and its service;
//! * `inputSchema` is the full JSON Schema (2020-12) of the request,
//!   `outputSchema` that of the response, and results carry structured
//!   content; `readOnlyHint` and `idempotentHint` follow the endpoint's
//!   idempotency;
//! * streams are collected into JSON arrays: a server-streaming tool
//!   answers `{"items": [...], "truncated": bool}` (up to
//!   [`McpOptions::max_stream_items`] messages, reporting progress when the
//!   client asks for it), a client or bidi streaming tool takes
//!   `{"messages": [...]}`;
//! * an RPC error is a tool result with `isError` and the text
//!   `<status> (<code>): <detail>` (the fields also in `_meta`), never a
//!   protocol error;
//! * a service starting or stopping sends `notifications/tools/list_changed`.
//!
//! # Examples
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use micro_mcp::{McpOptions, McpServer};
//!
//! let server = McpServer::new(micro_runtime::Client::from_env()?, McpOptions::default());
//! // Streamable HTTP at /mcp, mountable in any axum app:
//! let app = micro_mcp::router(server.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
#![doc = include_str!("../docs/tools.md")]
#![forbid(unsafe_code)]

mod http;
mod naming;
mod options;
mod schemas;
mod server;
mod tools;

pub use http::{HttpOptions, Stopped, router, router_with, serve_http};
pub use naming::{MAX_NAME, tool_names};
pub use options::{Filter, McpOptions};
pub use rmcp;
pub use server::{Listing, McpServer};

use rmcp::ServiceExt;

/// Serves `server` over stdin and stdout until the client closes them.
///
/// # Errors
///
/// When the client does not initialize the session, or the session task
/// fails.
///
/// # Cancel safety
///
/// Dropping the future ends the session.
pub async fn serve_stdio(server: McpServer) -> std::io::Result<()> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
