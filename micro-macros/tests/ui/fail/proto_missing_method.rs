pub mod pb {
    include!("../../../../micro-codegen/tests/golden/greeter.v1.rs");
}

use micro_runtime::{Context, Result};

struct Greeter;

#[micro_runtime::service]
impl pb::Greeter for Greeter {
    async fn hello(&self, _ctx: Context, request: pb::Request) -> Result<pb::Response> {
        Ok(pb::Response { greeting: request.name })
    }
}

fn main() {}
