//! Shared by the in-process tests: services on a memory registry and
//! transport, and the committed expected schemas.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;

use examples::{Greeter, Mirror, SERVICE};
use micro_runtime::registry::Registry;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::Transport;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{Client, Service};
use serde_json::Value;

/// A registry and a transport that services and clients share.
pub struct World {
    pub registry: Arc<dyn Registry>,
    pub transport: Arc<dyn Transport>,
}

impl World {
    pub fn new() -> Self {
        Self {
            registry: Arc::new(MemoryRegistry::new()),
            transport: Arc::new(MemoryTransport::new()),
        }
    }

    /// A started service named `name`, with the handlers `handle` adds.
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

    /// A greeter named `name` (the greeter's handler only).
    pub async fn greeter_named(&self, name: &str) -> Service {
        self.service(name, |s| s.handle(Greeter::default()).unwrap())
            .await
    }

    /// The greeter, serving `Greeter` and `Mirror`.
    pub async fn greeter(&self) -> Service {
        self.service(SERVICE, |s| {
            s.handle(Greeter::default()).unwrap();
            s.handle(Mirror).unwrap();
        })
        .await
    }

    pub fn client(&self) -> Client {
        Client::builder()
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .build()
            .unwrap()
    }
}

/// `micro-mcp/tests/expected`: the JSON Schemas the greeter's tools must
/// have, exactly. `tools.json` names, per tool, the files of its
/// `inputSchema` and `outputSchema`; the Python SDK test reads them too.
pub fn expected_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expected"))
}

/// The JSON document `file` of the expected directory.
pub fn expected(file: &str) -> Value {
    let path = expected_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
