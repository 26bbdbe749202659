//! Typed pub/sub through services, on the memory and HTTP brokers.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Msg, World, within_10s};
use micro_runtime::broker::http::HttpBrokerOptions;
use micro_runtime::broker::{
    Broker, HttpBroker, MemoryBroker, Message, SubscribeOptions, Subscriber,
};
use micro_runtime::wrapper::{SubscriberNext, SubscriberRequest, subscriber_fn};
use micro_runtime::{Context, Error, Service};
use tokio::sync::mpsc;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Http,
}

const BACKENDS: [Backend; 2] = [Backend::Memory, Backend::Http];

fn broker(world: &World, backend: Backend) -> Arc<dyn Broker> {
    match backend {
        Backend::Memory => Arc::new(MemoryBroker::new()),
        Backend::Http => Arc::new(HttpBroker::new(
            world.registry.clone(),
            HttpBrokerOptions {
                address: "127.0.0.1:0".into(),
                ..HttpBrokerOptions::default()
            },
        )),
    }
}

/// A service subscribed to `topic` whose handler reports each event's `n`.
async fn subscriber_service(
    world: &mut World,
    broker: &Arc<dyn Broker>,
    name: &str,
    topic: &str,
    queue: Option<&str>,
) -> (Service, mpsc::UnboundedReceiver<i64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut subscriber = Subscriber::new(topic, move |_ctx: Context, event: Msg| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(event.n);
            Ok(())
        }
    })
    .concurrency(4);
    if let Some(queue) = queue {
        subscriber = subscriber.queue(queue);
    }
    let service = world.builder(name).broker(broker.clone()).build().unwrap();
    service.subscribe(subscriber).unwrap();
    service.start().await.unwrap();
    world.services.push(service.clone());
    (service, rx)
}

/// A publishing client sharing the world's registry and `broker`.
fn publisher(world: &World, broker: &Arc<dyn Broker>) -> micro_runtime::Client {
    micro_runtime::Client::builder()
        .registry(world.registry.clone())
        .transport(world.transport.clone())
        .broker(broker.clone())
        .build()
        .unwrap()
}

async fn receive(rx: &mut mpsc::UnboundedReceiver<i64>, n: usize) -> Vec<i64> {
    within_10s("deliveries", async {
        let mut got = Vec::new();
        while got.len() < n {
            got.push(rx.recv().await.unwrap());
        }
        got
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_events_reach_the_subscriber_once_each() {
    for backend in BACKENDS {
        let mut world = World::new(common::Kind::Tcp);
        let broker = broker(&world, backend);
        let (_, mut rx) = subscriber_service(&mut world, &broker, "sub", "events", None).await;
        let client = publisher(&world, &broker);
        for n in 0..10 {
            client
                .publish(
                    "events",
                    &Msg {
                        text: "e".into(),
                        n,
                    },
                )
                .await
                .unwrap();
        }
        let mut got = receive(&mut rx, 10).await;
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<_>>(), "{backend:?}");
        world.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_group_shares_and_broadcast_copies() {
    for backend in BACKENDS {
        let mut world = World::new(common::Kind::Tcp);
        let broker = broker(&world, backend);
        let mut grouped = Vec::new();
        for i in 0..3 {
            grouped.push(
                subscriber_service(
                    &mut world,
                    &broker,
                    &format!("worker{i}"),
                    "jobs",
                    Some("workers"),
                )
                .await
                .1,
            );
        }
        let mut everyone = Vec::new();
        for i in 0..3 {
            everyone.push(
                subscriber_service(&mut world, &broker, &format!("audit{i}"), "jobs", None)
                    .await
                    .1,
            );
        }
        let client = publisher(&world, &broker);
        const N: i64 = 3000;
        for n in 0..N {
            client
                .publish(
                    "jobs",
                    &Msg {
                        text: String::new(),
                        n,
                    },
                )
                .await
                .unwrap();
        }
        // Every broadcast subscriber gets all of them.
        for rx in &mut everyone {
            let mut got = receive(rx, N as usize).await;
            got.sort_unstable();
            assert_eq!(got, (0..N).collect::<Vec<_>>(), "{backend:?}");
        }
        // The group handles each exactly once overall.
        let mut seen: HashMap<i64, usize> = HashMap::new();
        let mut per_member = Vec::new();
        let mut total = 0;
        within_10s("group deliveries", async {
            while total < N as usize {
                for rx in &mut grouped {
                    while let Ok(n) = rx.try_recv() {
                        *seen.entry(n).or_default() += 1;
                        total += 1;
                    }
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        for rx in &mut grouped {
            per_member.push(std::iter::from_fn(|| rx.try_recv().ok()).count());
        }
        assert_eq!(seen.len(), N as usize, "{backend:?}");
        assert!(seen.values().all(|&c| c == 1), "{backend:?}: duplicates");
        assert!(
            per_member.iter().all(|&extra| extra == 0),
            "{backend:?}: {per_member:?}"
        );
        world.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_does_not_decode_is_moved_aside_and_the_next_is_handled() {
    for backend in BACKENDS {
        let mut world = World::new(common::Kind::Tcp);
        let broker = broker(&world, backend);
        let (_, mut rx) = subscriber_service(&mut world, &broker, "sub", "orders", None).await;
        let mut dead = broker
            .subscribe("orders.dead-letter", SubscribeOptions::default())
            .await
            .unwrap();
        let garbage = Message::new(vec![0x0a, 0xff, 0xff])
            .with_header("content-type", "application/protobuf");
        broker.publish("orders", garbage).await.unwrap();
        let client = publisher(&world, &broker);
        client
            .publish(
                "orders",
                &Msg {
                    text: "fine".into(),
                    n: 7,
                },
            )
            .await
            .unwrap();
        assert_eq!(receive(&mut rx, 1).await, vec![7], "{backend:?}");
        let moved = within_10s("dead letter", dead.next()).await.unwrap();
        assert_eq!(&moved.message.body[..], &[0x0a, 0xff, 0xff], "{backend:?}");
        world.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_gets_the_message_again() {
    for backend in BACKENDS {
        let mut world = World::new(common::Kind::Tcp);
        let broker = broker(&world, backend);
        let attempts = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let counter = attempts.clone();
        let subscriber = Subscriber::new("flaky", move |_ctx: Context, event: Msg| {
            let (tx, counter) = (tx.clone(), counter.clone());
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    return Err(Error::unavailable("not yet"));
                }
                let _ = tx.send(event.n);
                Ok(())
            }
        });
        let service = world.builder("sub").broker(broker.clone()).build().unwrap();
        service.subscribe(subscriber).unwrap();
        service.start().await.unwrap();
        world.services.push(service);
        publisher(&world, &broker)
            .publish(
                "flaky",
                &Msg {
                    text: String::new(),
                    n: 3,
                },
            )
            .await
            .unwrap();
        assert_eq!(receive(&mut rx, 1).await, vec![3], "{backend:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        world.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_wrappers_run_and_subscriptions_are_advertised() {
    let mut world = World::new(common::Kind::Tcp);
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let service = world
        .builder("sub")
        .broker(broker.clone())
        .wrap_subscriber(subscriber_fn(
            move |req: SubscriberRequest, next: SubscriberNext| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(format!(
                        "{} {} {}",
                        req.topic(),
                        req.subscriber(),
                        req.context().metadata().get("x-trace").unwrap_or("-")
                    ));
                    next.run(req).await
                }
            },
        ))
        .build()
        .unwrap();
    service
        .subscribe(
            Subscriber::new("audit", move |_ctx: Context, event: Msg| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event.n);
                    Ok(())
                }
            })
            .queue("auditors"),
        )
        .unwrap();
    service.start().await.unwrap();
    world.services.push(service.clone());
    let ctx = Context::new().with_metadata("x-trace", "t1");
    ctx.scope(publisher(&world, &broker).publish("audit", &Msg::default()))
        .await
        .unwrap();
    receive(&mut rx, 1).await;
    assert_eq!(*seen.lock().unwrap(), vec!["audit Subscriber.audit t1"]);

    let record = service.registration().await.unwrap();
    let endpoint = record
        .endpoints
        .iter()
        .find(|e| e.name == "Subscriber.audit")
        .unwrap();
    assert_eq!(endpoint.metadata["topic"], "audit");
    assert_eq!(endpoint.metadata["subscriber"], "true");
    assert_eq!(endpoint.metadata["queue"], "auditors");
    assert_eq!(endpoint.request, "Msg");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_broker_reports_what_it_drops() {
    let mut world = World::new(common::Kind::Tcp);
    let broker = Arc::new(HttpBroker::new(
        world.registry.clone(),
        HttpBrokerOptions {
            address: "127.0.0.1:0".into(),
            max_attempts: 2,
            ..HttpBrokerOptions::default()
        },
    ));
    let dyn_broker: Arc<dyn Broker> = broker.clone();
    let service = world
        .builder("sub")
        .broker(dyn_broker.clone())
        .build()
        .unwrap();
    service
        .subscribe(Subscriber::new(
            "doomed",
            |_ctx: Context, _event: Msg| async { Err(Error::unavailable("always failing")) },
        ))
        .unwrap();
    service.start().await.unwrap();
    world.services.push(service);
    publisher(&world, &dyn_broker)
        .publish("doomed", &Msg::default())
        .await
        .unwrap();
    within_10s("the drop", async {
        while broker.stats().dropped == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let stats = broker.stats();
    assert_eq!(
        (stats.published, stats.delivered, stats.dropped),
        (1, 0, 1),
        "{stats:?}"
    );
    assert!(stats.retried >= 1, "{stats:?}");
    world.stop().await;
}

/// Code-first subscriber methods.
struct Notifier {
    tx: mpsc::UnboundedSender<i64>,
}

#[micro_runtime::service]
impl Notifier {
    /// Reports each signup.
    #[subscriber(topic = "user.signup", queue = "notifier")]
    async fn on_signup(&self, _ctx: Context, event: Msg) -> micro_runtime::Result<()> {
        let _ = self.tx.send(event.n);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_methods_of_a_service() {
    let mut world = World::new(common::Kind::Tcp);
    let broker: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let service = world
        .builder("notifier")
        .broker(broker.clone())
        .build()
        .unwrap();
    service.handle(Notifier { tx }).unwrap();
    service.start().await.unwrap();
    world.services.push(service.clone());
    publisher(&world, &broker)
        .publish(
            "user.signup",
            &Msg {
                text: String::new(),
                n: 42,
            },
        )
        .await
        .unwrap();
    assert_eq!(receive(&mut rx, 1).await, vec![42]);
    let record = service.registration().await.unwrap();
    let endpoint = record
        .endpoints
        .iter()
        .find(|e| e.name == "Notifier.OnSignup")
        .unwrap();
    assert_eq!(endpoint.metadata["queue"], "notifier");
    world.stop().await;
}
