//! One process's worth of services for in-process tests: a memory registry
//! and transport that services and clients share.

use std::sync::Arc;

use micro_runtime::registry::Registry;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::Transport;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{Client, Service};

/// The registry and transport every service and client of a test shares.
#[derive(Clone)]
pub struct World {
    /// Where the services register.
    pub registry: Arc<dyn Registry>,
    /// How clients reach them.
    pub transport: Arc<dyn Transport>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// An empty world.
    pub fn new() -> Self {
        Self {
            registry: Arc::new(MemoryRegistry::new()),
            transport: Arc::new(MemoryTransport::new()),
        }
    }

    /// A started service `name` at version 1.0.0 serving what `handle` adds.
    ///
    /// # Panics
    ///
    /// When the service does not build or start (a test's mistake).
    pub async fn service(&self, name: &str, handle: impl FnOnce(&Service)) -> Service {
        let service = Service::builder()
            .name(name)
            .version("1.0.0")
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .build()
            .unwrap();
        handle(&service);
        service.start().await.unwrap();
        service
    }

    /// A client of this world.
    ///
    /// # Panics
    ///
    /// Never in practice: a client on a registry and transport builds.
    pub fn client(&self) -> Client {
        Client::builder()
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .build()
            .unwrap()
    }
}
