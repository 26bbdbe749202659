//! `micro-bench pubsub`: publish-to-deliver messages per second through
//! micro's NATS broker against raw async-nats, on the same NATS server, with
//! the same payloads, in the same run.
//!
//! Each system publishes from one connection and receives on another (in
//! this process; the NATS server is the other process):
//!
//! - **raw**: `async_nats::Client::publish(subject, Request.encode())` and a
//!   core subscription whose task decodes each `Request` — the least any
//!   client of NATS does;
//! - **raw+headers**: the same, with the three headers micro sends
//!   (content type, a random 32-hex id, the topic) built per message and
//!   the content type checked on receipt — what an envelope costs on NATS
//!   whoever sends it;
//! - **micro**: `Client::publish(topic, &Request)` of a `Service` on a
//!   `NatsBroker` with its default options (no stream covers the topic,
//!   so a core publish), and a typed
//!   [`Subscriber`] on another `Service`, i.e. with micro's headers
//!   (content type, id, topic, metadata), its codec, its subscriber driver
//!   and acknowledgements in the path.
//!
//! The publisher keeps at most `--window` messages published but not yet
//! delivered, so neither side overruns the subscriber (core NATS drops
//! messages for a slow consumer, which would measure nothing). Places come
//! back an eighth of the window at a time: given back one by one, a full
//! window woke the publisher once per delivery, and that cross-thread
//! wake-up, the same for every system, was a third of the time measured. The rate is
//! messages over the time from the first publish to the last delivery.
//! Each payload runs every system once per round, the systems taking turns,
//! and the table shows each system's median round (single cells are noisy
//! on a shared machine).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use futures_util::StreamExt as _;
use micro_runtime::broker::{NatsBroker, NatsOptions, Subscriber};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::{Context, Service};
use prost::Message as _;
use tokio::sync::{Notify, Semaphore};

use crate::payload::{LARGE_NAME_LEN, SMALL_NAME};
use crate::pb;

/// Flags of `pubsub`.
#[derive(Debug, Args)]
pub struct PubsubArgs {
    /// The NATS server.
    #[arg(
        long,
        env = "MICRO_BENCH_NATS",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats: String,
    /// Messages per measured cell [default: 200000, 20000 with --quick].
    #[arg(long)]
    pub messages: Option<u64>,
    /// Messages published but not yet delivered, at most.
    #[arg(long, default_value_t = 1000)]
    pub window: u64,
    /// Rounds per payload [default: 5, 1 with --quick]: each round runs
    /// every system once, in turn; the table shows each system's median
    /// round (this machine's noise moves single cells by tens of percent).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Fewer messages and one round, for CI.
    #[arg(long)]
    pub quick: bool,
    /// Measure one system only (e.g. to profile it); no ratios.
    #[arg(long, value_enum)]
    pub only: Option<System>,
}

/// The systems of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum System {
    /// Raw async-nats, bare messages.
    Raw,
    /// Raw async-nats with micro's old envelope headers.
    RawHeaders,
    /// micro's NATS broker.
    Micro,
}

impl PubsubArgs {
    fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 1 } else { 5 }).max(1)
    }

    fn messages(&self) -> u64 {
        self.messages
            .unwrap_or(if self.quick { 20_000 } else { 200_000 })
            .max(1)
    }
}

/// One measured cell.
#[derive(Clone, Copy, Debug)]
struct Cell {
    messages: u64,
    elapsed: Duration,
}

impl Cell {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

/// Counts deliveries and lets the publisher go on as they arrive. Called
/// from one subscriber task at a time (every system here has one).
struct Delivered {
    count: AtomicU64,
    /// Deliveries whose window places were given back.
    released: AtomicU64,
    /// Places given back at once.
    batch: u64,
    window: Semaphore,
    target: AtomicU64,
    reached: Notify,
}

impl Delivered {
    fn new(window: u64) -> Arc<Self> {
        Arc::new(Self {
            count: AtomicU64::new(0),
            released: AtomicU64::new(0),
            batch: (window / 8).max(1),
            window: Semaphore::new(window as usize),
            target: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
        })
    }

    /// One message arrived.
    fn one(&self) {
        let n = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let target = self.target.load(Ordering::Acquire);
        if n - self.released.load(Ordering::Acquire) >= self.batch || n >= target {
            let before = self.released.swap(n, Ordering::AcqRel);
            self.window.add_permits((n - before) as usize);
        }
        if n >= target {
            self.reached.notify_one();
        }
    }

    /// Waits for a place in the window before publishing.
    async fn admit(&self) {
        self.window
            .acquire()
            .await
            .expect("the window is never closed")
            .forget();
    }

    /// Publishes `n` messages with `publish` and waits until all arrived.
    async fn run<F, Fut>(&self, n: u64, mut publish: F) -> Result<Cell>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let target = self.count.load(Ordering::Acquire) + n;
        self.target.store(target, Ordering::Release);
        let started = Instant::now();
        for _ in 0..n {
            self.admit().await;
            publish().await?;
        }
        let limit = Duration::from_secs(30) + Duration::from_micros(n * 100);
        tokio::time::timeout(limit, async {
            while self.count.load(Ordering::Acquire) < target {
                self.reached.notified().await;
            }
        })
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{} of {n} messages arrived within {limit:?}",
                n + self.count.load(Ordering::Acquire) - target
            )
        })?;
        Ok(Cell {
            messages: n,
            elapsed: started.elapsed(),
        })
    }
}

/// A topic of this run and process.
fn topic(system: &str, payload: &str) -> String {
    format!("micro-bench.{system}.{payload}.{}", std::process::id())
}

/// The two payloads: `Request { name }` with a 4-byte and a 1 KiB name.
fn payloads() -> [(&'static str, pb::Request); 2] {
    [
        (
            "small",
            pb::Request {
                name: SMALL_NAME.into(),
            },
        ),
        (
            "1KiB",
            pb::Request {
                name: "x".repeat(LARGE_NAME_LEN),
            },
        ),
    ]
}

/// The headers micro puts on a message, built the same way per message by
/// the `raw+headers` row (so the table separates what carrying an envelope
/// costs on NATS from what micro itself adds).
fn envelope(topic: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("content-type", "application/protobuf");
    headers.insert(
        "micro-id",
        format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)).as_str(),
    );
    headers.insert("micro-topic", topic);
    headers
}

async fn raw(
    args: &PubsubArgs,
    topic: &str,
    request: &pb::Request,
    with_headers: bool,
) -> Result<Cell> {
    let connect = || async {
        async_nats::connect(args.nats.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {}", args.nats))
    };
    let (publisher, subscriber) = (connect().await?, connect().await?);
    let mut subscription = subscriber.subscribe(topic.to_owned()).await?;
    subscriber.flush().await?;
    let delivered = Delivered::new(args.window);
    let counter = delivered.clone();
    let receiver = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let typed = message.headers.as_ref().is_none_or(|h| {
                h.get("content-type").map(|v| v.as_str()) == Some("application/protobuf")
            });
            if typed && pb::Request::decode(message.payload).is_ok() {
                counter.one();
            }
        }
    });
    let publish = || async {
        let body = request.encode_to_vec();
        if with_headers {
            publisher
                .publish_with_headers(topic.to_owned(), envelope(topic), body.into())
                .await?;
        } else {
            publisher.publish(topic.to_owned(), body.into()).await?;
        }
        Ok(())
    };
    let measured = measure(args, &delivered, publish).await;
    receiver.abort();
    measured
}

async fn micro(args: &PubsubArgs, topic: &str, request: &pb::Request) -> Result<Cell> {
    let service = |name: &str| {
        let broker = NatsBroker::new(NatsOptions {
            address: args.nats.clone(),
            ..NatsOptions::default()
        });
        Service::builder()
            .name(name)
            .version("1")
            .registry(Arc::new(MemoryRegistry::new()))
            .transport(Arc::new(MemoryTransport::new()))
            .broker(Arc::new(broker))
            .build()
    };
    let delivered = Delivered::new(args.window);
    let counter = delivered.clone();
    let receiving = service("micro.bench.subscriber")?;
    receiving.subscribe(Subscriber::new(
        topic,
        move |_ctx: Context, _request: pb::Request| {
            counter.one();
            async { Ok(()) }
        },
    ))?;
    receiving.start().await?;
    let publishing = service("micro.bench.publisher")?;
    publishing.start().await?;
    let client = publishing.client();
    let publish = || async {
        client.publish(topic, request).await?;
        Ok(())
    };
    let measured = measure(args, &delivered, publish).await;
    publishing.stop().await?;
    receiving.stop().await?;
    measured
}

/// Warms up with a tenth of the messages, then measures.
async fn measure<F, Fut>(args: &PubsubArgs, delivered: &Delivered, mut publish: F) -> Result<Cell>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    // A subscription is live on the server shortly after it is made: wait
    // for the first message before counting.
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            delivered.admit().await;
            publish().await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            if delivered.count.load(Ordering::Acquire) > 0 {
                return anyhow::Ok(());
            }
        }
    })
    .await;
    match first {
        Ok(result) => result?,
        Err(_) => bail!("no message arrived within 10 s"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    delivered.run(args.messages() / 10, &mut publish).await?;
    delivered.run(args.messages(), &mut publish).await
}

/// Runs one system on one payload.
async fn cell(
    args: &PubsubArgs,
    system: System,
    name: &str,
    request: &pb::Request,
) -> Result<Cell> {
    match system {
        System::Raw => raw(args, &topic("raw", name), request, false).await,
        System::RawHeaders => raw(args, &topic("rawh", name), request, true).await,
        System::Micro => micro(args, &topic("micro", name), request).await,
    }
    .with_context(|| format!("{system:?}"))
}

/// The median of `values` (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `pubsub`: prints the table and the summary line. Fails when a
/// system fails.
pub async fn run(args: &PubsubArgs) -> Result<()> {
    println!(
        "pubsub: NATS core at {}, {} messages per cell, at most {} in flight, \
         median of {} rounds; publish -> deliver, one publishing and one subscribing \
         connection each",
        args.nats,
        args.messages(),
        args.window,
        args.rounds()
    );
    println!();
    println!(
        "| payload | raw async-nats msg/s | raw+headers msg/s | micro msg/s | micro/raw | \
         micro overhead | micro/(raw+headers) | micro/raw per round |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let systems = match args.only {
        Some(system) => vec![system],
        None => vec![System::Raw, System::RawHeaders, System::Micro],
    };
    let mut ratios = Vec::new();
    for (name, request) in payloads() {
        // rates[system][round], systems taking turns within each round.
        let mut rates = vec![Vec::new(); systems.len()];
        for round in 0..args.rounds() {
            for turn in 0..systems.len() {
                let at = (round + turn) % systems.len();
                let measured = cell(args, systems[at], name, &request).await?;
                rates[at].push(measured.rate());
            }
        }
        if let Some(system) = args.only {
            println!(
                "| {name} | {system:?} only: {:.0} msg/s |",
                median(rates[0].clone())
            );
            continue;
        }
        let [raw_plain, raw_headers, micro] = [0, 1, 2].map(|at| median(rates[at].clone()));
        let per_round: Vec<String> = rates[2]
            .iter()
            .zip(&rates[0])
            .map(|(micro, raw)| format!("{:.2}", micro / raw))
            .collect();
        let ratio = micro / raw_plain;
        println!(
            "| {name} | {raw_plain:.0} | {raw_headers:.0} | {micro:.0} | {ratio:.2} | {:.0} % | {:.2} | {} |",
            (1.0 - ratio) * 100.0,
            micro / raw_headers,
            per_round.join(" ")
        );
        ratios.push((name, ratio));
    }
    println!();
    let summary: Vec<String> = ratios
        .iter()
        .map(|(name, ratio)| format!("micro/raw-nats msg/s {name} = {ratio:.2}"))
        .collect();
    println!("pubsub summary: {}", summary.join("; "));
    Ok(())
}
