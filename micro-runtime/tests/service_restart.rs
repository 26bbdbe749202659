//! A service stopped and started again serves its handlers and subscribers
//! again (they used to be gone after the first start).

mod broker_support;

use std::sync::Arc;

use broker_support::{Event, Recorder, service, within};
use micro_runtime::broker::MemoryBroker;

struct Ping;

#[micro_runtime::service]
impl Ping {
    /// Answers with the event.
    async fn ping(&self, _ctx: micro_runtime::Context, req: Event) -> micro_runtime::Result<Event> {
        Ok(req)
    }
}

#[tokio::test]
async fn restarted_service_keeps_its_endpoints_and_subscribers() {
    let broker = Arc::new(MemoryBroker::new());
    let recorder = Recorder::default();
    let svc = service("restartable", broker.clone()).build().unwrap();
    svc.handle(Ping).unwrap();
    svc.subscribe(recorder.subscriber("restart.topic")).unwrap();
    svc.start().await.unwrap();
    svc.stop().await.unwrap();
    svc.start().await.unwrap();

    let client = svc.client();
    let event = Event {
        n: 1,
        text: "again".into(),
    };
    let back = PingClient::new("restartable", client.clone())
        .ping(event.clone())
        .await
        .unwrap();
    assert_eq!(back, event);
    client.publish("restart.topic", &event).await.unwrap();
    within(
        10,
        "the event after the restart",
        recorder.wait_distinct(1, 10, "restart"),
    )
    .await;
    let registered = svc.registration().await.unwrap();
    assert!(
        registered.endpoints.iter().any(|e| e.name == "Ping.Ping"),
        "{registered:?}"
    );
    assert!(
        registered
            .endpoints
            .iter()
            .any(|e| e.name == "Subscriber.restart.topic")
    );
    svc.stop().await.unwrap();
}

#[tokio::test]
async fn adding_is_refused_while_running_only() {
    let broker = Arc::new(MemoryBroker::new());
    let recorder = Recorder::default();
    let svc = service("adding", broker).build().unwrap();
    svc.subscribe(recorder.subscriber("adding.topic")).unwrap();
    svc.start().await.unwrap();
    let err = svc.handle(Ping).unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = svc
        .subscribe(recorder.subscriber("adding.other"))
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    svc.stop().await.unwrap();
    // Stopped: it may be changed before the next start.
    svc.handle(Ping).unwrap();
}
