//! One trace across three services (see `docs/tracing.md`).
//!
//! ```text
//! trace-demo front   # serves Front.Greet: calls the greeter, publishes `greeted`
//! trace-demo audit   # consumes `greeted`, printing `audited <greeting>`
//! ```
//!
//! Each prints `listening on <address>` once serving and stops on SIGINT or
//! SIGTERM (flushing its spans). Configuration comes from the `MICRO_*`,
//! `RUST_LOG`, `MICRO_LOG_FORMAT` and `OTEL_*` environment.

use std::io::Write;

use examples::events::Event;
use examples::pb::{self, GreeterClient};
use micro_runtime::{Client, Context, Result, Service};

/// The topic the front publishes each greeting on.
const TOPIC: &str = "greeted";

/// Greets through the greeter and tells the auditors.
struct Front {
    greeter: GreeterClient,
    client: Client,
}

#[micro_runtime::service]
impl Front {
    /// Asks the greeter, then publishes the greeting.
    async fn greet(&self, _ctx: Context, request: pb::Request) -> Result<pb::Response> {
        tracing::info!(name = %request.name, "greeting");
        let response = self.greeter.hello(request).await?;
        let event = Event {
            id: String::new(),
            seq: 1,
            text: response.greeting.clone(),
        };
        self.client.publish(TOPIC, &event).await?;
        Ok(response)
    }
}

/// Prints every greeting published.
struct Audit;

#[micro_runtime::service]
impl Audit {
    /// Prints one greeting.
    #[subscriber(topic = "greeted")]
    async fn on_greeted(&self, _ctx: Context, event: Event) -> Result<()> {
        tracing::info!(greeting = %event.text, "audited");
        println!("audited {}", event.text);
        let _ = std::io::stdout().flush();
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let mode = std::env::args().nth(1).unwrap_or_default();
    if let Err(err) = run(&mode).await {
        eprintln!("trace-demo: {err}");
        std::process::exit(1);
    }
}

async fn run(mode: &str) -> Result<()> {
    let service = match mode {
        "front" => {
            let service = Service::builder().name("com.example.srv.front").build()?;
            service.handle(Front {
                greeter: GreeterClient::new(examples::SERVICE, service.client()),
                client: service.client(),
            })?;
            service
        }
        "audit" => {
            let service = Service::builder().name("com.example.srv.audit").build()?;
            service.handle(Audit)?;
            service
        }
        other => {
            return Err(micro_runtime::Error::bad_request(format!(
                "unknown mode {other:?} (front or audit)"
            )));
        }
    };
    let signal = micro_runtime::shutdown_signal();
    service.start().await?;
    println!(
        "listening on {}",
        service.address().await.unwrap_or_default()
    );
    let _ = std::io::stdout().flush();
    signal.await;
    service.stop().await
}
