pub mod pb {
    include!("../../../../micro-codegen/tests/golden/greeter.v1.rs");
}

use micro_runtime::{Context, Receiver, Result, Sender};

struct Greeter;

#[micro_runtime::service]
impl pb::Greeter for Greeter {
    async fn hello(&self, _ctx: Context, request: String) -> Result<pb::Response> {
        Ok(pb::Response { greeting: request })
    }

    fn hello_stream(&self, _: Context, _: pb::Request, _: Sender<pb::Response>) -> Result<()> {
        Ok(())
    }

    async fn collect(&self, _: Context, _: Receiver<pb::Request>) -> Result<pb::Response> {
        Ok(pb::Response::default())
    }

    async fn chat(&self, _: Context, _: Receiver<pb::Request>, _: Sender<pb::Response>) -> Result<()> {
        Ok(())
    }
}

fn main() {}
