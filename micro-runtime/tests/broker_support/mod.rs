//! Shared pieces of the broker backend tests (`broker_nats.rs`,
//! `broker_rabbitmq.rs`, `broker_kafka.rs`): the event type, recording
//! subscribers, services on a memory registry, the scenarios every backend
//! runs, and guards for processes the tests start.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_runtime::broker::{Broker, Message, Subscriber};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::wrapper::subscriber_fn;
use micro_runtime::{Client, Context, Error, Service};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The event every test publishes.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct Event {
    #[prost(int64, tag = "1")]
    pub n: i64,
    #[prost(string, tag = "2")]
    pub text: String,
}

/// The backend address from `var`; `None` (after printing `skipped: …`)
/// when unset, unless `MICRO_TEST_REQUIRE_BACKENDS=1`, which fails the test.
pub fn backend_address(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(address) if !address.trim().is_empty() => Some(address.trim().to_owned()),
        _ => {
            let why = format!("{var} is not set (host:port) to reach {what}");
            if std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1") {
                panic!("MICRO_TEST_REQUIRE_BACKENDS=1 but {why}");
            }
            println!("skipped: {why}");
            None
        }
    }
}

/// Logs to the test output when `RUST_LOG` is set (once per process).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// A name unique to this run: `<prefix>-<random>`.
pub fn unique(prefix: &str) -> String {
    init_logs();
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

/// Waits for `fut` at most `secs` seconds (a bound, not a synchronisation).
pub async fn within<F: Future>(secs: u64, what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {secs} s"))
}

/// What a subscriber saw: how often each event number arrived, and the
/// metadata of the last one.
#[derive(Clone)]
pub struct Recorder {
    counts: Arc<Mutex<HashMap<i64, usize>>>,
    last: Arc<Mutex<Option<(Event, micro_runtime::Metadata)>>>,
    distinct: watch::Sender<usize>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            counts: Arc::default(),
            last: Arc::default(),
            distinct: watch::channel(0).0,
        }
    }
}

impl Recorder {
    pub fn record(&self, ctx: &Context, event: Event) {
        let mut counts = self.counts.lock().unwrap();
        *counts.entry(event.n).or_default() += 1;
        let distinct = counts.len();
        drop(counts);
        *self.last.lock().unwrap() = Some((event, ctx.metadata().clone()));
        self.distinct.send_replace(distinct);
    }

    /// A typed subscriber of `topic` recording into this recorder.
    pub fn subscriber(&self, topic: &str) -> Subscriber {
        let recorder = self.clone();
        Subscriber::new(topic, move |ctx: Context, event: Event| {
            let recorder = recorder.clone();
            async move {
                recorder.record(&ctx, event);
                Ok(())
            }
        })
    }

    /// Waits until `n` distinct events arrived (at most `secs` seconds).
    pub async fn wait_distinct(&self, n: usize, secs: u64, what: &str) {
        let mut rx = self.distinct.subscribe();
        let waited =
            tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|d| *d >= n)).await;
        if waited.is_err() {
            panic!(
                "{what}: {} of {n} distinct events within {secs} s",
                self.distinct()
            );
        }
    }

    /// Waits at most `timeout` until `done` holds for the counts; whether
    /// it did.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&HashMap<i64, usize>) -> bool,
    ) -> bool {
        let mut rx = self.distinct.subscribe();
        let counts = self.counts.clone();
        tokio::time::timeout(timeout, rx.wait_for(|_| done(&counts.lock().unwrap())))
            .await
            .is_ok()
    }

    pub fn distinct(&self) -> usize {
        self.counts.lock().unwrap().len()
    }

    /// Deliveries in all (duplicates included).
    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }

    pub fn count(&self, n: i64) -> usize {
        self.counts.lock().unwrap().get(&n).copied().unwrap_or(0)
    }

    pub fn has_all(&self, range: Range<i64>) -> bool {
        let counts = self.counts.lock().unwrap();
        range.clone().all(|n| counts.contains_key(&n))
    }

    pub fn missing(&self, range: Range<i64>) -> Vec<i64> {
        let counts = self.counts.lock().unwrap();
        range.filter(|n| !counts.contains_key(n)).collect()
    }

    pub fn counts(&self) -> HashMap<i64, usize> {
        self.counts.lock().unwrap().clone()
    }

    pub fn last(&self) -> Option<(Event, micro_runtime::Metadata)> {
        self.last.lock().unwrap().clone()
    }
}

/// A service builder on its own memory registry and transport, with `broker`.
pub fn service(name: &str, broker: Arc<dyn Broker>) -> micro_runtime::ServiceBuilder {
    Service::builder()
        .name(name)
        .version("1")
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(MemoryTransport::new()))
        .grace_period(Duration::from_secs(5))
        .broker(broker)
}

/// A started service running `subscribers`.
pub async fn start_with(
    name: &str,
    broker: Arc<dyn Broker>,
    subscribers: Vec<Subscriber>,
) -> Service {
    let service = service(name, broker).build().unwrap();
    for subscriber in subscribers {
        service.subscribe(subscriber).unwrap();
    }
    service.start().await.unwrap();
    service
}

/// Publishes events `range` to `topic`, `concurrency` at a time; each
/// publish that fails is retried (bounded), so a publish that returned is
/// one the broker took. Returns how many attempts failed.
pub async fn publish_range(
    client: &Client,
    topic: &str,
    range: Range<i64>,
    concurrency: usize,
) -> usize {
    let failures = watch::channel(0).0;
    publish_range_counting(client, topic, range, concurrency, &failures).await;
    *failures.borrow()
}

/// As [`publish_range`], counting failed attempts in `failures` as they
/// happen.
pub async fn publish_range_counting(
    client: &Client,
    topic: &str,
    range: Range<i64>,
    concurrency: usize,
    failures: &watch::Sender<usize>,
) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for n in range {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (client, topic, failures) = (client.clone(), topic.to_owned(), failures.clone());
        tasks.spawn(async move {
            let _permit = permit;
            publish_counting(&client, &topic, n, &failures).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// Publishes event `n`, retrying failures for up to 60 s; returns the
/// number of failed attempts.
pub async fn publish_retrying(client: &Client, topic: &str, n: i64) -> usize {
    let failures = watch::channel(0).0;
    publish_counting(client, topic, n, &failures).await;
    *failures.borrow()
}

async fn publish_counting(client: &Client, topic: &str, n: i64, failures: &watch::Sender<usize>) {
    let started = Instant::now();
    loop {
        let event = Event {
            n,
            text: format!("event {n}"),
        };
        match client.publish(topic, &event).await {
            Ok(()) => return,
            Err(err) => {
                failures.send_modify(|f| *f += 1);
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "publishing {n} to {topic} kept failing: {err}"
                );
                // Backoff between attempts of a failing publish (the broker
                // is down): not a synchronisation.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Typed publish/subscribe through real services: the event arrives
/// decoded, with the publisher's metadata and the message headers, whether
/// published as protobuf or JSON. `queue`: the subscriber's queue group.
pub async fn typed_round_trip(broker: Arc<dyn Broker>, topic: &str, queue: Option<&str>) {
    let recorder = Recorder::default();
    let mut subscriber_of_topic = recorder.subscriber(topic);
    if let Some(queue) = queue {
        subscriber_of_topic = subscriber_of_topic.queue(queue);
    }
    let subscriber = start_with("typed-sub", broker.clone(), vec![subscriber_of_topic]).await;
    let publisher = service("typed-pub", broker.clone()).build().unwrap();
    let ctx = Context::new().with_metadata("x-trace", "trace-42");
    let event = Event {
        n: 7,
        text: "hello".into(),
    };
    ctx.clone()
        .scope(publisher.client().publish(topic, &event))
        .await
        .unwrap();
    recorder.wait_distinct(1, 20, "the typed event").await;
    let (got, metadata) = recorder.last().unwrap();
    assert_eq!(got, event);
    assert_eq!(metadata.get("x-trace"), Some("trace-42"), "{metadata:?}");
    assert_eq!(metadata.get("content-type"), Some("application/protobuf"));
    assert_eq!(metadata.get("micro-topic"), Some(topic));
    let first_id = metadata.get("micro-id").unwrap().to_owned();
    assert_eq!(first_id.len(), 32, "{metadata:?}");

    // The same without metadata, as JSON: the content type travels.
    let json = Event {
        n: 8,
        text: "as json".into(),
    };
    publisher.client().publish_json(topic, &json).await.unwrap();
    recorder.wait_distinct(2, 20, "the JSON event").await;
    let (got, metadata) = recorder.last().unwrap();
    assert_eq!(got, json);
    assert_eq!(metadata.get("x-trace"), None, "{metadata:?}");
    assert_eq!(metadata.get("content-type"), Some("application/json"));
    assert_eq!(metadata.get("micro-topic"), Some(topic));
    let second_id = metadata.get("micro-id").unwrap();
    assert_eq!(second_id.len(), 32);
    assert_ne!(second_id, first_id, "each message has its own id");
    subscriber.stop().await.unwrap();
}

/// A handler that publishes on: the next event carries the caller's
/// metadata, but its own envelope (topic, id), not that of the message
/// being handled.
pub async fn forwarded_event_has_its_own_envelope(
    broker: Arc<dyn Broker>,
    first: &str,
    second: &str,
) {
    let (handled, forwarded) = (Recorder::default(), Recorder::default());
    let sink = start_with(
        "forward-sink",
        broker.clone(),
        vec![forwarded.subscriber(second)],
    )
    .await;
    let forwarder = service("forwarder", broker.clone()).build().unwrap();
    let (client, recorder, next) = (forwarder.client(), handled.clone(), second.to_owned());
    forwarder
        .subscribe(Subscriber::new(first, move |ctx: Context, event: Event| {
            let (client, recorder, next) = (client.clone(), recorder.clone(), next.clone());
            async move {
                recorder.record(&ctx, event.clone());
                client.publish(&next, &event).await
            }
        }))
        .unwrap();
    forwarder.start().await.unwrap();
    let publisher = service("forward-pub", broker).build().unwrap();
    let event = Event {
        n: 1,
        text: "on".into(),
    };
    Context::new()
        .with_metadata("x-trace", "trace-7")
        .scope(publisher.client().publish(first, &event))
        .await
        .unwrap();
    forwarded.wait_distinct(1, 20, "the forwarded event").await;
    let (_, before) = handled.last().unwrap();
    let (got, after) = forwarded.last().unwrap();
    assert_eq!(got, event);
    assert_eq!(after.get("x-trace"), Some("trace-7"), "{after:?}");
    assert_eq!(before.get("micro-topic"), Some(first));
    assert_eq!(after.get("micro-topic"), Some(second), "{after:?}");
    assert_eq!(after.get("content-type"), Some("application/protobuf"));
    assert_ne!(after.get("micro-id"), before.get("micro-id"));
    forwarder.stop().await.unwrap();
    sink.stop().await.unwrap();
}

/// Three members of a queue group: each of 3,000 events handled exactly
/// once overall. Three subscribers without a group: each gets all of them.
/// Returns (seconds to publish, seconds until all handled).
pub async fn group_and_broadcast(
    group_broker: impl Fn() -> Arc<dyn Broker>,
    broadcast_broker: impl Fn() -> Arc<dyn Broker>,
    publisher: Arc<dyn Broker>,
    topic: &str,
    with_broadcast: bool,
) -> (f64, f64) {
    const N: i64 = 3000;
    let group = Recorder::default();
    let mut members = Vec::new();
    let mut per_member = Vec::new();
    for i in 0..3 {
        let mine = Recorder::default();
        let (all, me) = (group.clone(), mine.clone());
        let subscriber = Subscriber::new(topic, move |ctx: Context, event: Event| {
            let (all, me) = (all.clone(), me.clone());
            async move {
                me.record(&ctx, event.clone());
                all.record(&ctx, event);
                Ok(())
            }
        })
        .queue("workers")
        .concurrency(4);
        members.push(start_with(&format!("member-{i}"), group_broker(), vec![subscriber]).await);
        per_member.push(mine);
    }
    let mut broadcast = Vec::new();
    let mut everyone = Vec::new();
    if with_broadcast {
        for i in 0..3 {
            let recorder = Recorder::default();
            everyone.push(
                start_with(
                    &format!("listener-{i}"),
                    broadcast_broker(),
                    vec![recorder.subscriber(topic)],
                )
                .await,
            );
            broadcast.push(recorder);
        }
    }
    let client = service("publisher", publisher).build().unwrap().client();
    let started = Instant::now();
    let failures = publish_range(&client, topic, 0..N, 64).await;
    assert_eq!(failures, 0, "no publish failed");
    let published = started.elapsed().as_secs_f64();
    group.wait_distinct(N as usize, 120, "the group").await;
    for (i, recorder) in broadcast.iter().enumerate() {
        recorder
            .wait_distinct(N as usize, 120, &format!("broadcast subscriber {i}"))
            .await;
    }
    let handled = started.elapsed().as_secs_f64();
    let duplicates: Vec<(i64, usize)> = group
        .counts()
        .into_iter()
        .filter(|(_, c)| *c != 1)
        .collect();
    assert!(
        duplicates.is_empty(),
        "handled more than once: {duplicates:?}"
    );
    assert_eq!(group.total(), N as usize);
    let shares: Vec<usize> = per_member.iter().map(Recorder::total).collect();
    assert_eq!(shares.iter().sum::<usize>(), N as usize, "{shares:?}");
    println!("group shares: {shares:?}");
    for recorder in &broadcast {
        assert_eq!(
            recorder.total(),
            N as usize,
            "every broadcast subscriber gets each once"
        );
    }
    for service in members.into_iter().chain(everyone) {
        service.stop().await.unwrap();
    }
    (published, handled)
}

/// A message that does not decode is reported (400 to the subscriber
/// wrappers), moved to `<topic>.dead-letter`, and the next one is handled.
pub async fn poison_is_dead_lettered(broker: Arc<dyn Broker>, topic: &str, durable: bool) {
    let dead_topic = micro_runtime::broker::dead_letter_topic(topic);
    let mut dead = broker
        .subscribe(
            &dead_topic,
            micro_runtime::broker::SubscribeOptions::default(),
        )
        .await
        .unwrap();
    let recorder = Recorder::default();
    let (reported_tx, mut reported) = tokio::sync::mpsc::unbounded_channel::<Error>();
    let mut subscriber = recorder.subscriber(topic);
    if durable {
        subscriber = subscriber.queue("poison");
    }
    let service = service("poison-sub", broker.clone())
        .wrap_subscriber(subscriber_fn(move |req, next| {
            let reported = reported_tx.clone();
            async move {
                let result = next.run(req).await;
                if let Err(err) = &result {
                    let _ = reported.send(err.clone());
                }
                result
            }
        }))
        .build()
        .unwrap();
    service.subscribe(subscriber).unwrap();
    service.start().await.unwrap();

    let garbage = bytes::Bytes::from_static(b"\xff\xff\xff\xff\xff not protobuf");
    broker
        .publish(
            topic,
            Message::new(garbage.clone()).with_header("content-type", "application/protobuf"),
        )
        .await
        .unwrap();
    let client = service.client();
    client
        .publish(
            topic,
            &Event {
                n: 1,
                text: "after the poison".into(),
            },
        )
        .await
        .unwrap();

    let err = within(20, "the poison report", reported.recv())
        .await
        .unwrap();
    assert_eq!(err.code(), 400, "{err:?}");
    recorder
        .wait_distinct(1, 20, "the event after the poison")
        .await;
    assert_eq!(recorder.count(1), 1);
    let moved = within(20, "the dead letter", dead.next()).await.unwrap();
    assert_eq!(moved.message.body, garbage);
    assert_eq!(moved.topic(), dead_topic);
    moved.ack().await.unwrap();
    service.stop().await.unwrap();
    dead.unsubscribe().await.unwrap();
}

/// A handler that fails (503) twice gets the message a third time, marked
/// redelivered; one that always fails (500) has it dead-lettered after 5
/// deliveries.
pub async fn failures_are_redelivered_then_dead_lettered(
    broker: Arc<dyn Broker>,
    topic: &str,
    durable: bool,
) {
    let dead_topic = micro_runtime::broker::dead_letter_topic(topic);
    let mut dead = broker
        .subscribe(
            &dead_topic,
            micro_runtime::broker::SubscribeOptions::default(),
        )
        .await
        .unwrap();
    // n -> (deliveries, redelivered flags)
    let seen: Arc<Mutex<HashMap<i64, Vec<bool>>>> = Arc::default();
    let handled = Recorder::default();
    let (seen_in, handled_in) = (seen.clone(), handled.clone());
    let mut subscriber = Subscriber::new(topic, move |ctx: Context, event: Event| {
        let (seen, handled) = (seen_in.clone(), handled_in.clone());
        async move {
            let deliveries = seen.lock().unwrap().get(&event.n).map_or(0, Vec::len);
            match event.n {
                1 if deliveries < 2 => Err(Error::unavailable("not yet")),
                2 => Err(Error::internal("never")),
                _ => {
                    handled.record(&ctx, event);
                    Ok(())
                }
            }
        }
    });
    if durable {
        subscriber = subscriber.queue("retry");
    }
    let seen_wrapper = seen.clone();
    let service = service("retry-sub", broker.clone())
        .wrap_subscriber(subscriber_fn(move |req, next| {
            let seen = seen_wrapper.clone();
            async move {
                let n =
                    prost::Message::decode(req.message().body.clone()).map_or(-1, |e: Event| e.n);
                let redelivered = req.redelivered();
                let result = next.run(req).await;
                seen.lock().unwrap().entry(n).or_default().push(redelivered);
                result
            }
        }))
        .build()
        .unwrap();
    service.subscribe(subscriber).unwrap();
    service.start().await.unwrap();
    let client = service.client();
    for n in [1, 2] {
        client
            .publish(
                topic,
                &Event {
                    n,
                    text: "flaky".into(),
                },
            )
            .await
            .unwrap();
    }
    handled
        .wait_distinct(1, 30, "the event that failed twice")
        .await;
    let moved = within(30, "the dead letter", dead.next()).await.unwrap();
    let event: Event = prost::Message::decode(moved.message.body.clone()).unwrap();
    assert_eq!(event.n, 2);
    moved.ack().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[&1], vec![false, true, true], "{seen:?}");
    assert_eq!(
        seen[&2].len(),
        5,
        "dead-lettered on the 5th delivery: {seen:?}"
    );
    assert!(seen[&2][1..].iter().all(|r| *r), "{seen:?}");
    service.stop().await.unwrap();
    dead.unsubscribe().await.unwrap();
}

/// Durability: the only member of a durable group stops; 1,000 events are
/// published meanwhile; a new service (new broker, new connection: as a
/// restarted process would) joins the group and gets all 1,000.
/// Returns (seconds to publish while down, seconds to drain after restart).
pub async fn durable_while_down(
    broker: impl Fn() -> Arc<dyn Broker>,
    topic: &str,
    group: &str,
) -> (f64, f64) {
    const N: i64 = 1000;
    let first = Recorder::default();
    let before = start_with(
        "durable-sub",
        broker(),
        vec![first.subscriber(topic).queue(group)],
    )
    .await;
    let client = service("durable-pub", broker()).build().unwrap().client();
    publish_retrying(&client, topic, -1).await;
    first
        .wait_distinct(1, 20, "the event before the stop")
        .await;
    before.stop().await.unwrap();

    let started = Instant::now();
    assert_eq!(publish_range(&client, topic, 0..N, 32).await, 0);
    let published = started.elapsed().as_secs_f64();
    assert_eq!(
        first.distinct(),
        1,
        "nothing reached the stopped subscriber"
    );

    let second = Recorder::default();
    let started = Instant::now();
    let after = start_with(
        "durable-sub",
        broker(),
        vec![second.subscriber(topic).queue(group)],
    )
    .await;
    second
        .wait_distinct(N as usize, 60, "the events published while down")
        .await;
    let drained = started.elapsed().as_secs_f64();
    assert!(second.has_all(0..N), "missing: {:?}", second.missing(0..N));
    after.stop().await.unwrap();
    (published, drained)
}

/// Kills the child process (and waits for it) when dropped.
pub struct ChildGuard(pub Option<std::process::Child>);

impl ChildGuard {
    pub fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy to `target` on loopback whose connections can be cut, to
/// show a client surviving the loss of its connection.
pub struct Proxy {
    pub address: String,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (target, tracked) = (target.to_owned(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(task);
            }
        });
        Self {
            address,
            connections,
            accept,
        }
    }

    /// Drops every connection open now (new ones are accepted).
    pub fn cut(&self) -> usize {
        let open: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        let count = open.iter().filter(|t| !t.is_finished()).count();
        for task in open {
            task.abort();
        }
        count
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    init_logs();
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
