pub mod pb {
    include!("../../../../micro-codegen/tests/golden/greeter.v1.rs");
}

use micro_runtime::{Context, Receiver, Result, Sender};

struct Greeter;

#[micro_runtime::service]
impl pb::Greeter for Greeter {
    #[micro(timeout = "2s")]
    async fn hello(&self, _ctx: Context, request: pb::Request) -> Result<pb::Response> {
        Ok(pb::Response { greeting: format!("Hello {}", request.name) })
    }

    async fn hello_stream(&self, _: Context, _: pb::Request, _: Sender<pb::Response>) -> Result<()> {
        Ok(())
    }

    async fn collect(&self, _: Context, _: Receiver<pb::Request>) -> Result<pb::Response> {
        Ok(pb::Response::default())
    }

    async fn chat(&self, _: Context, _: Receiver<pb::Request>, _: Sender<pb::Response>) -> Result<()> {
        Ok(())
    }
}

fn main() {
    let handler = micro_runtime::server::IntoHandler::into_handler(Greeter);
    let hello = handler.descriptors().find(|d| d.name == "Greeter.Hello").unwrap();
    assert_eq!(hello.timeout, Some(std::time::Duration::from_secs(2)));
    assert!(hello.idempotent, "from the .proto's idempotency_level");
}
