//! Pub/sub with the default broker (HTTP: no broker server to run).
//!
//! ```text
//! pubsub                          # one process: subscribe, publish ten events, print each once
//! pubsub subscribe [--queue Q]    # a subscriber service printing `received <seq> <text>` lines
//! pubsub publish [--count N] [--wait-subscribers K]
//! ```
//!
//! The topic is `events` (`--topic` changes it). Like the greeter demo, the
//! one-process form keeps mDNS on loopback.

use std::sync::Arc;
use std::time::Duration;

use examples::events::Event;
use micro_runtime::broker::HttpBroker;
use micro_runtime::registry::mdns::{MdnsOptions, MdnsRegistry};
use micro_runtime::{Client, Context, Result, Service};
use tokio::sync::mpsc;

/// Prints the events it receives.
struct Printer {
    seen: mpsc::UnboundedSender<Event>,
}

#[micro_runtime::service]
impl Printer {
    /// Prints one event.
    #[subscriber(topic = "events")]
    async fn on_event(&self, _ctx: Context, event: Event) -> Result<()> {
        println!("received {} {}", event.seq, event.text);
        let _ = self.seen.send(event);
        Ok(())
    }
}

struct Args {
    mode: String,
    topic: String,
    queue: Option<String>,
    count: i64,
    wait_subscribers: usize,
}

fn parse_args() -> std::result::Result<Args, String> {
    let mut args = Args {
        mode: "demo".into(),
        topic: "events".into(),
        queue: None,
        count: 10,
        wait_subscribers: 1,
    };
    let mut it = std::env::args().skip(1).peekable();
    if let Some(mode) = it.peek().filter(|m| !m.starts_with("--")).cloned() {
        args.mode = mode;
        it.next();
    }
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--topic" => args.topic = value,
            "--queue" => args.queue = Some(value),
            "--count" => args.count = value.parse().map_err(|_| format!("bad count {value}"))?,
            "--wait-subscribers" => {
                args.wait_subscribers = value.parse().map_err(|_| format!("bad number {value}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let result = match parse_args() {
        Ok(args) => match args.mode.as_str() {
            "demo" => demo().await,
            "subscribe" => subscribe(args).await,
            "publish" => publish(args).await,
            other => Err(micro_runtime::Error::bad_request(format!(
                "unknown mode {other}"
            ))),
        },
        Err(err) => Err(micro_runtime::Error::bad_request(err)),
    };
    if let Err(err) = result {
        eprintln!("pubsub: {err}");
        std::process::exit(1);
    }
}

fn event(seq: i64) -> Event {
    Event {
        id: format!("{:016x}", fastrand::u64(..)),
        seq,
        text: format!("event number {seq}"),
    }
}

async fn demo() -> Result<()> {
    let mut mdns = MdnsOptions::from_env()?;
    if mdns.interfaces.is_empty() {
        mdns.interfaces = vec!["lo".into()];
    }
    let address = std::env::var("MICRO_SERVER_ADDRESS").unwrap_or_else(|_| "127.0.0.1:0".into());
    let service = Service::builder()
        .name("com.example.srv.pubsub")
        .address(address)
        .registry(Arc::new(MdnsRegistry::new(mdns)?))
        .build()?;
    let (seen, mut received) = mpsc::unbounded_channel();
    service.handle(Printer { seen })?;
    service.start().await?;
    let client = service.client();
    for seq in 1..=10 {
        client.publish("events", &event(seq)).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for _ in 0..10 {
        if tokio::time::timeout_at(deadline, received.recv())
            .await
            .is_err()
        {
            service.stop().await?;
            return Err(micro_runtime::Error::timeout(
                "not every event arrived within 10 s",
            ));
        }
    }
    service.stop().await
}

async fn subscribe(args: Args) -> Result<()> {
    let (seen, mut received) = mpsc::unbounded_channel::<Event>();
    let mut subscriber =
        micro_runtime::broker::Subscriber::new(&args.topic, move |_ctx: Context, event: Event| {
            let seen = seen.clone();
            async move {
                println!("received {} {}", event.seq, event.text);
                let _ = seen.send(event);
                Ok(())
            }
        })
        .concurrency(4);
    if let Some(queue) = &args.queue {
        subscriber = subscriber.queue(queue);
    }
    let service = Service::builder()
        .name("com.example.srv.subscriber")
        .build()?;
    service.subscribe(subscriber)?;
    service.start().await?;
    println!("subscribed to {}", args.topic);
    tokio::spawn(async move { while received.recv().await.is_some() {} });
    micro_runtime::shutdown_signal().await;
    service.stop().await
}

async fn publish(args: Args) -> Result<()> {
    let client = Client::from_env()?;
    // The HTTP broker's subscriptions are nodes in the registry: wait until
    // enough of them are known, so none misses the first events.
    if args.wait_subscribers > 0 {
        let subscribers = HttpBroker::subscribers_service(&args.topic);
        client
            .wait_for(&subscribers, args.wait_subscribers, Duration::from_secs(20))
            .await?;
    }
    for seq in 1..=args.count {
        client.publish(&args.topic, &event(seq)).await?;
    }
    println!("published {}", args.count);
    Ok(())
}
