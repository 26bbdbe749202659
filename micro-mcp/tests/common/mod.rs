//! Shared by the in-process tests: services on a memory registry and
//! transport, and the committed expected schemas.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use examples::{Greeter, Mirror, SERVICE};
use micro_runtime::Service;
use serde_json::Value;

/// The examples' in-process world, with the greeters these tests use.
pub struct World(examples::World);

impl std::ops::Deref for World {
    type Target = examples::World;

    fn deref(&self) -> &examples::World {
        &self.0
    }
}

impl World {
    pub fn new() -> Self {
        Self(examples::World::new())
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
