//! The mDNS registry between two daemons, confined to loopback on a port of
//! the test's own (so parallel tests and the machine's network are untouched).

use std::time::Duration;

use micro_runtime::registry::mdns::{MdnsOptions, MdnsRegistry};
use micro_runtime::registry::{Action, Endpoint, Node, Registry, Service};

fn options(port: u16) -> MdnsOptions {
    MdnsOptions {
        interfaces: vec!["lo".into()],
        port: Some(port),
    }
}

fn record(id: &str, port: u16) -> Service {
    Service {
        name: "com.example.srv.mdns-test".into(),
        version: "2.1.0".into(),
        metadata: [("team".to_owned(), "core".to_owned())].into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: "greeter.v1.Request".into(),
            response: "greeter.v1.Response".into(),
            metadata: [("idempotent".to_owned(), "true".to_owned())].into(),
        }],
        nodes: vec![Node {
            id: id.into(),
            address: format!("127.0.0.1:{port}"),
            metadata: [("transport".to_owned(), "tcp".to_owned())].into(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_get_list_watch_and_goodbye_between_daemons() {
    let port = 20000 + fastrand::u16(..20000);
    let announcer = MdnsRegistry::new(options(port)).unwrap();
    let listener = MdnsRegistry::new(options(port)).unwrap();
    let mut watch = listener
        .watch(Some("com.example.srv.mdns-test"))
        .await
        .unwrap();

    let node = record("node-a", 4001);
    announcer
        .register(&node, Duration::from_secs(30))
        .await
        .unwrap();

    let created = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("the other daemon hears the announcement")
        .unwrap();
    assert_eq!(created.action, Action::Create);
    assert_eq!(
        created.service, node,
        "version, metadata, endpoints and node survive the TXT record"
    );

    let found = listener
        .get_service("com.example.srv.mdns-test")
        .await
        .unwrap();
    assert_eq!(found, vec![node.clone()]);
    let all = listener.list_services().await.unwrap();
    assert!(all.iter().any(|s| s.name == "com.example.srv.mdns-test"));

    announcer.deregister(&node).await.unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = watch.next().await.unwrap();
            if event.action == Action::Delete {
                return event;
            }
        }
    })
    .await
    .expect("the goodbye packet removes the node");
    assert_eq!(gone.service.nodes[0].id, "node-a");
    assert!(
        listener
            .get_service("com.example.srv.mdns-test")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn unknown_services_are_404_after_the_discovery_window() {
    let registry = MdnsRegistry::new(options(20000 + fastrand::u16(..20000))).unwrap();
    let err = registry.get_service("nobody.here").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.detail().contains("nobody.here"));
}
