//! Serves the greeter until SIGINT or SIGTERM.
//!
//! Prints `listening on <address>` once registered and serving, and
//! `served <n> calls` when it stops. Configuration comes from the
//! `MICRO_*` environment; `GREETER_VERSION` sets the version (default
//! 1.0.0), `GREETER_NAME` the service name (default
//! `com.example.srv.greeter`), `GREETER_DELAY_MS` makes every call take
//! that long and `GREETER_MIRROR=1` serves the `Mirror` handler too (the
//! describe test proto's, with every shape of message).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use examples::{Greeter, Mirror, SERVICE};
use micro_runtime::wrapper::{HandlerNext, HandlerRequest, handler_fn};
use micro_runtime::{Result, Service};

#[tokio::main]
async fn main() {
    examples::init_logging();
    if let Err(err) = run().await {
        eprintln!("greeter-server: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let version = std::env::var("GREETER_VERSION").unwrap_or_else(|_| "1.0.0".into());
    let delay = std::env::var("GREETER_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();

    let name = std::env::var("GREETER_NAME").unwrap_or_else(|_| SERVICE.into());
    let service = Service::builder()
        .name(name)
        .version(version)
        .wrap_handler(handler_fn(move |req: HandlerRequest, next: HandlerNext| {
            let counter = counter.clone();
            async move {
                let result = next.run(req).await;
                counter.fetch_add(1, Ordering::Relaxed);
                result
            }
        }))
        .build()?;
    service.handle(Greeter::with_delay(delay))?;
    if std::env::var("GREETER_MIRROR").as_deref() == Ok("1") {
        service.handle(Mirror)?;
    }
    // Installed before registering: SIGTERM from then on stops gracefully.
    let signal = micro_runtime::shutdown_signal();
    service.start().await?;
    println!(
        "listening on {}",
        service.address().await.unwrap_or_default()
    );
    let _ = std::io::stdout().flush();

    signal.await;
    service.stop().await?;
    println!("served {} calls", served.load(Ordering::Relaxed));
    Ok(())
}
