//! Service discovery: where the nodes of a service are.
//!
//! [`Registry`] is the backend interface (memory, mdns (default), etcd with
//! the cargo feature `etcd`);
//! the client never asks it per call: a cache filled by watch
//! ([`crate::selector::RegistryCache`]) stands in front of every registry.

#[cfg(feature = "etcd")]
pub mod etcd;
mod keepalive;
pub mod mdns;
pub mod memory;
mod types;
mod watcher;

use std::time::Duration;

pub(crate) use keepalive::keep_alive;
pub use types::{Action, Endpoint, Event, Node, Service};
pub use watcher::Watcher;

use crate::Result;

/// A service registry backend.
#[async_trait::async_trait]
pub trait Registry: Send + Sync + 'static {
    /// Short name, e.g. `mdns`.
    fn name(&self) -> &'static str;

    /// Registers (or refreshes) the nodes of `service`; each expires after
    /// `ttl` unless registered again.
    ///
    /// # Errors
    ///
    /// 503 when the backend is unreachable.
    async fn register(&self, service: &Service, ttl: Duration) -> Result<()>;

    /// Removes the nodes of `service`.
    ///
    /// # Errors
    ///
    /// 503 when the backend is unreachable.
    async fn deregister(&self, service: &Service) -> Result<()>;

    /// Every version of the service named `name`, with their live nodes.
    ///
    /// # Errors
    ///
    /// 404 when no node of it is registered; 503 when the backend is unreachable.
    async fn get_service(&self, name: &str) -> Result<Vec<Service>>;

    /// Every registered service version (nodes may be omitted).
    ///
    /// # Errors
    ///
    /// 503 when the backend is unreachable.
    async fn list_services(&self) -> Result<Vec<Service>>;

    /// Changes from now on, of one service or (with `None`) of all.
    ///
    /// # Errors
    ///
    /// 503 when the backend is unreachable.
    async fn watch(&self, service: Option<&str>) -> Result<Watcher>;
}

/// The error for a service with no registered node.
pub(crate) fn service_not_found(name: &str) -> crate::Error {
    crate::Error::not_found(format!("service {name} not found in the registry"))
        .with_id("micro.registry")
}
