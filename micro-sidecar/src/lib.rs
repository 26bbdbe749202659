//! micro-sidecar: an HTTP application in any language made a micro
//! service, with no micro library in it.
//!
//! The sidecar registers the application as a service whose endpoints it
//! declares (an endpoints file or its OpenAPI document), forwards calls to
//! it over HTTP/JSON, delivers the topics it subscribes to, deregisters it
//! while its health check fails, and gives it an HTTP side to call other
//! services, read the registry and publish.
//!
//! # Examples
//!
//! ```no_run
//! # async fn demo() -> micro_runtime::Result<()> {
//! use micro_runtime::Service;
//! use micro_runtime::endpoint::DynamicEndpoint;
//! use micro_sidecar::{Sidecar, SidecarOptions};
//!
//! let endpoints = vec![DynamicEndpoint::new("Greeter.Hello")];
//! let mut options = SidecarOptions::new("http://127.0.0.1:5000", endpoints);
//! options.health = Some("/health".into());
//! let sidecar = Sidecar::new(Service::builder().name("py.greeter"), options.clone())?;
//! let listener = micro_sidecar::listen("127.0.0.1:8082", &options).await?;
//! sidecar.run(listener, micro_runtime::shutdown_signal()).await
//! # }
//! ```
//!
#![doc = include_str!("../docs/sidecar.md")]
#![forbid(unsafe_code)]

mod app;
pub mod endpoints;
mod failure;
mod options;
mod routes;
mod sidecar;

pub use app::{ENDPOINT_HEADER, SERVICE_HEADER, TIMEOUT_HEADER, TOPIC_HEADER};
pub use options::{SidecarOptions, Subscription};
pub use sidecar::Sidecar;

/// Listens on `address` for the sidecar's HTTP side: as
/// `micro_gateway::listen`, an address beyond loopback is refused unless
/// `options.insecure`.
///
/// # Errors
///
/// 400 for an address that does not resolve, cannot be bound, or is not
/// loopback without `insecure`.
pub async fn listen(
    address: &str,
    options: &SidecarOptions,
) -> micro_runtime::Result<tokio::net::TcpListener> {
    micro_gateway::listen(address, &options.gateway()).await
}
