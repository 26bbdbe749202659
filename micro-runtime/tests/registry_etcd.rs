//! The etcd registry against a real etcd (no mocks).
//!
//! `MICRO_TEST_ETCD` (e.g. `127.0.0.1:2379`) names the etcd the tests use;
//! without it they print `skipped: MICRO_TEST_ETCD not set` and pass,
//! unless `MICRO_TEST_REQUIRE_BACKENDS=1`. Each test keeps to a key prefix
//! and service names of its own, so they run in parallel on one etcd. The
//! lease-loss test starts (and kills, and restarts) an etcd of its own on
//! free loopback ports, with the `etcd` binary from `PATH`.
#![cfg(feature = "etcd")]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use micro_runtime::registry::etcd::{EtcdOptions, EtcdRegistry};
use micro_runtime::registry::{Action, Endpoint, Event, Node, Registry, Service, Watcher};
use micro_runtime::selector::{CacheOptions, RegistryCache};
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{Client, Error};

const BOUND: Duration = Duration::from_secs(20);

fn require_backends() -> bool {
    std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// The etcd to test against, or `None` (test skipped).
fn etcd_address() -> Option<String> {
    match std::env::var("MICRO_TEST_ETCD") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                !require_backends(),
                "MICRO_TEST_ETCD is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: MICRO_TEST_ETCD not set");
            None
        }
    }
}

/// Something unique to one test run.
fn unique(what: &str) -> String {
    format!("{what}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

fn options(address: &str, prefix: &str) -> EtcdOptions {
    EtcdOptions {
        prefix: prefix.to_owned(),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..EtcdOptions::with_address(Some(address))
    }
}

fn registry(address: &str, prefix: &str) -> EtcdRegistry {
    EtcdRegistry::new(options(address, prefix)).unwrap()
}

fn record(name: &str, version: &str, node: &str, port: u16) -> Service {
    Service {
        name: name.into(),
        version: version.into(),
        metadata: [("team".to_owned(), "core".to_owned())].into(),
        endpoints: vec![Endpoint {
            name: "Greeter.Hello".into(),
            request: "greeter.v1.Request".into(),
            response: "greeter.v1.Response".into(),
            metadata: [("idempotent".to_owned(), "true".to_owned())].into(),
        }],
        nodes: vec![Node {
            id: node.into(),
            address: format!("127.0.0.1:{port}"),
            metadata: [("transport".to_owned(), "tcp".to_owned())].into(),
        }],
    }
}

async fn next_event(watch: &mut Watcher) -> Event {
    tokio::time::timeout(BOUND, watch.next())
        .await
        .expect("a watch event within the bound")
        .expect("the watch keeps going")
}

/// Waits (bounded) for a registry event matching `want`, skipping others.
async fn wait_event(watch: &mut Watcher, want: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(BOUND, async {
        loop {
            let event = watch.next().await.expect("the watch keeps going");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the awaited watch event within the bound")
}

fn ttl() -> Duration {
    Duration::from_secs(30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_get_list_deregister() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let reg = registry(&address, &prefix);
    let name = "com.example.srv.etcd-test";
    let a = record(name, "1.0.0", "node-a", 4001);
    let b = record(name, "1.0.0", "node-b", 4002);
    let c = record(name, "2.0.0", "node-c", 4003);
    let other = record("com.example.srv.other", "1", "node-o", 4004);
    for s in [&b, &a, &c, &other] {
        reg.register(s, ttl()).await.unwrap();
    }

    // One record per version, its nodes together and sorted.
    let found = reg.get_service(name).await.unwrap();
    let mut v1 = a.clone();
    v1.nodes.extend(b.nodes.clone());
    assert_eq!(found, vec![v1, c.clone()]);

    // Another registry (another process) sees the same.
    let reader = registry(&address, &prefix);
    assert_eq!(reader.get_service(name).await.unwrap(), found);

    let listed = reader.list_services().await.unwrap();
    let versions: Vec<(&str, &str)> = listed
        .iter()
        .map(|s| (s.name.as_str(), s.version.as_str()))
        .collect();
    assert_eq!(
        versions,
        vec![
            (name, "1.0.0"),
            (name, "2.0.0"),
            ("com.example.srv.other", "1")
        ]
    );

    // A name that is a prefix of another is a different service.
    let err = reader
        .get_service("com.example.srv.etcd")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.id(), "micro.registry");

    for s in [&a, &b, &c, &other] {
        reg.deregister(s).await.unwrap();
    }
    let err = reader.get_service(name).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(reader.list_services().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_key_layout_is_what_is_read() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let reg = registry(&address, &prefix);
    let node = record("com.example.srv.layout", "1.2.3", "layout-1", 4010);
    assert_eq!(
        reg.node_key("com.example.srv.layout", "1.2.3", "layout-1"),
        format!("{prefix}com.example.srv.layout/1.2.3/layout-1")
    );
    // Written by hand (as another tool would) at the documented key...
    let key = reg.node_key("com.example.srv.layout", "1.2.3", "layout-1");
    let json = serde_json::to_string(&node).unwrap();
    let put = Command::new("etcdctl")
        .args(["--endpoints", &address, "put", &key, &json])
        .env("ETCDCTL_API", "3")
        .output();
    match put {
        Ok(out) => assert!(out.status.success(), "etcdctl put: {out:?}"),
        Err(err) if !require_backends() => {
            println!("skipped: etcdctl not runnable: {err}");
            return;
        }
        Err(err) => panic!("etcdctl not runnable: {err}"),
    }
    // ...it is found.
    assert_eq!(
        reg.get_service("com.example.srv.layout").await.unwrap(),
        vec![node.clone()]
    );
    reg.deregister(&node).await.unwrap();
    assert!(
        reg.get_service("com.example.srv.layout")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_sees_create_update_delete() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let reg = registry(&address, &prefix);
    let watcher_side = registry(&address, &prefix);
    let name = "com.example.srv.watched";
    let mut one = watcher_side.watch(Some(name)).await.unwrap();
    let mut all = watcher_side.watch(None).await.unwrap();

    let a = record(name, "1", "node-a", 4001);
    reg.register(&a, ttl()).await.unwrap();
    let created = next_event(&mut one).await;
    assert_eq!(created.action, Action::Create);
    assert_eq!(created.service, a, "the event carries the whole record");

    // Renewing an unchanged record writes nothing (no event); a changed one
    // is an update. (Were the renewal an event, the next one would be an
    // update with the old metadata.)
    reg.register(&a, ttl()).await.unwrap();
    let mut changed = a.clone();
    changed.nodes[0]
        .metadata
        .insert("weight".into(), "10".into());
    reg.register(&changed, ttl()).await.unwrap();
    let updated = next_event(&mut one).await;
    assert_eq!(updated.action, Action::Update);
    assert_eq!(updated.service, changed);

    // Another service: only the unfiltered watch sees it.
    let other = record("com.example.srv.unwatched", "1", "node-o", 4002);
    reg.register(&other, ttl()).await.unwrap();

    reg.deregister(&changed).await.unwrap();
    let deleted = next_event(&mut one).await;
    assert_eq!(deleted.action, Action::Delete);
    assert_eq!(deleted.service, changed, "prev_kv names the node that left");

    let seen: Vec<(Action, String)> = {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let e = next_event(&mut all).await;
            seen.push((e.action, e.service.nodes[0].id.clone()));
        }
        seen
    };
    assert_eq!(
        seen,
        vec![
            (Action::Create, "node-a".into()),
            (Action::Update, "node-a".into()),
            (Action::Create, "node-o".into()),
            (Action::Delete, "node-a".into()),
        ]
    );
    reg.deregister(&other).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_heartbeating_expires_with_its_lease() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let observer = registry(&address, &prefix);
    let name = "com.example.srv.mortal";
    let mut watch = observer.watch(Some(name)).await.unwrap();
    {
        // A "process" that registers once with a 2 s TTL, then goes silent.
        let dying = registry(&address, &prefix);
        let node = record(name, "1", "node-dying", 4001);
        dying.register(&node, Duration::from_secs(2)).await.unwrap();
        assert_eq!(next_event(&mut watch).await.action, Action::Create);
        assert_eq!(observer.get_service(name).await.unwrap().len(), 1);
    }
    let gone = wait_event(&mut watch, |e| e.action == Action::Delete).await;
    assert_eq!(gone.service.nodes[0].id, "node-dying");
    assert_eq!(
        gone.service.nodes[0].address, "127.0.0.1:4001",
        "the expiry event carries the node's record"
    );
    assert!(observer.get_service(name).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_deleted_under_a_live_lease_is_put_back_on_the_next_register() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let owner = registry(&address, &prefix);
    let stranger = registry(&address, &prefix);
    let name = "com.example.srv.vanishing";
    let node = record(name, "1", "node-v", 4001);
    let mut watch = stranger.watch(Some(name)).await.unwrap();
    owner.register(&node, ttl()).await.unwrap();
    assert_eq!(next_event(&mut watch).await.action, Action::Create);

    // Someone else deletes the key; the owner's lease lives on.
    stranger.deregister(&node).await.unwrap();
    assert_eq!(next_event(&mut watch).await.action, Action::Delete);
    assert!(stranger.get_service(name).await.unwrap_err().is_not_found());

    owner.register(&node, ttl()).await.unwrap();
    assert_eq!(next_event(&mut watch).await.action, Action::Create);
    assert_eq!(
        stranger.get_service(name).await.unwrap(),
        vec![node.clone()]
    );
    owner.deregister(&node).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_etcd_is_a_fast_503_naming_the_endpoint() {
    // Needs no etcd: a loopback port nobody listens on.
    let port = free_port();
    let dead = format!("127.0.0.1:{port}");
    let reg = registry(&dead, "/micro-test-dead/");
    let node = record("com.example.srv.nowhere", "1", "n", 4001);
    let started = std::time::Instant::now();
    for err in [
        reg.register(&node, ttl()).await.unwrap_err(),
        reg.get_service("com.example.srv.nowhere")
            .await
            .unwrap_err(),
        reg.list_services().await.unwrap_err(),
        reg.watch(None).await.unwrap_err(),
        reg.deregister(&node).await.unwrap_err(),
    ] {
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(err.id(), "micro.registry");
        assert!(err.detail().contains(&dead), "names the endpoint: {err}");
    }
    // Connection refused on loopback: no waiting for timeouts at all.
    assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_in_the_list_is_skipped() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let dead = format!("127.0.0.1:{}", free_port());
    let reg = registry(&format!("{dead},{address}"), &prefix);
    let node = record("com.example.srv.failover", "1", "n", 4001);
    reg.register(&node, ttl()).await.unwrap();
    assert_eq!(
        reg.get_service("com.example.srv.failover").await.unwrap(),
        vec![node.clone()]
    );
    reg.deregister(&node).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_etcd_serves_calls_end_to_end() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = format!("/{}/", unique("micro-test"));
    let registry: Arc<dyn Registry> = Arc::new(registry(&address, &prefix));
    let transport = Arc::new(TcpTransport::new(TcpOptions::default()));
    let name = unique("com.example.srv.echo");
    let service = micro_runtime::Service::builder()
        .name(&name)
        .version("1")
        .address("127.0.0.1:0")
        .registry(registry.clone())
        .transport(transport.clone())
        .register_ttl(Duration::from_secs(10))
        .register_interval(Duration::from_secs(1))
        .grace_period(Duration::from_secs(2))
        .build()
        .unwrap();
    service
        .handle(common::Echo {
            signals: Default::default(),
            client: None,
            label: "etcd".into(),
            bad: false,
        })
        .unwrap();
    service.start().await.unwrap();

    let found = registry.get_service(&name).await.unwrap();
    assert_eq!(found[0].nodes[0].metadata["registry"], "etcd");
    assert!(found[0].endpoints.iter().any(|e| e.name == "Echo.Say"));

    let client = Client::builder()
        .registry(registry.clone())
        .transport(transport)
        .build()
        .unwrap();
    let echo = common::EchoClient::new(name.clone(), client);
    let answer = tokio::time::timeout(BOUND, echo.say(common::Msg::text("over etcd")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.text, "over etcd");

    service.stop().await.unwrap();
    let err = registry.get_service(&name).await.unwrap_err();
    assert!(err.is_not_found(), "stop deregisters: {err}");
}

// ---------------------------------------------------------------------------
// Lease loss, with an etcd of the test's own.

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An etcd process on loopback; killed (and its data removed) when dropped.
struct OwnEtcd {
    child: Option<Child>,
    dir: PathBuf,
    client_port: u16,
    peer_port: u16,
}

impl OwnEtcd {
    /// Starts etcd on free loopback ports, or `None` (skipped) without the
    /// `etcd` binary.
    fn start() -> Option<Self> {
        let dir = std::env::temp_dir().join(unique("micro-etcd-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut etcd = OwnEtcd {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        match etcd.spawn() {
            Ok(()) => Some(etcd),
            Err(err) if !require_backends() => {
                println!("skipped: cannot run etcd: {err}");
                None
            }
            Err(err) => panic!("cannot run etcd: {err}"),
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("etcd.log"))?;
        let child = Command::new("etcd")
            .arg("--name=micro-test")
            .arg(format!("--data-dir={}", self.dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=micro-test={peer}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, as a crash or a pulled plug would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the etcd process.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("etcd runs").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn().expect("etcd restarts");
    }

    /// Waits (bounded) until etcd answers through `reg`.
    async fn ready(&self, reg: &EtcdRegistry) {
        tokio::time::timeout(BOUND, async {
            loop {
                if reg.list_services().await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
            panic!("etcd did not become ready; its log:\n{log}")
        });
    }
}

impl Drop for OwnEtcd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) until the cache holds exactly `ids` for `name`.
async fn cache_holds(cache: &RegistryCache, name: &str, ids: &[&str]) {
    tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(nodes) = cache.get(name).await {
                let mut got: Vec<&str> = nodes.nodes.iter().map(|n| n.node.id.as_str()).collect();
                got.sort_unstable();
                if got == ids {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the cache did not come to hold {ids:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_replaced_by_the_next_register_without_a_restart() {
    let Some(_) = etcd_address() else {
        return;
    };
    let Some(mut etcd) = OwnEtcd::start() else {
        return;
    };
    let address = etcd.address();
    let prefix = "/micro/registry/";
    // The service's registry, an observer, and a client-side cache (each
    // as another process would have).
    let service_side = registry(&address, prefix);
    let observer = registry(&address, prefix);
    etcd.ready(&observer).await;
    let name = "com.example.srv.survivor";
    let node = record(name, "1", "node-s", 4001);
    let short_ttl = Duration::from_secs(2);
    service_side.register(&node, short_ttl).await.unwrap();

    let cache = RegistryCache::new(
        Arc::new(registry(&address, prefix)),
        CacheOptions {
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        },
    );
    cache_holds(&cache, name, &["node-s"]).await;
    let mut open_watch = observer.watch(Some(name)).await.unwrap();

    // etcd dies.
    etcd.kill();

    // An open watch reports the break instead of hanging.
    let broken = tokio::time::timeout(BOUND, open_watch.next())
        .await
        .expect("the broken watch reports within the bound")
        .unwrap_err();
    assert!(broken.is_unavailable(), "{broken}");

    // The heartbeat's register fails fast with 503 naming the endpoint.
    let err: Error = tokio::time::timeout(BOUND, service_side.register(&node, short_ttl))
        .await
        .expect("register gives up within the bound")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(err.id(), "micro.registry");
    assert!(err.detail().contains(&address), "{err}");

    // The client keeps serving the nodes it knows.
    let cached = cache.get(name).await.unwrap();
    assert_eq!(cached.nodes.len(), 1);
    assert_eq!(cached.nodes[0].node.id, "node-s");

    // etcd comes back with its data; nobody renews the lease, so it runs
    // out: the registration is gone (lease lost while etcd was down).
    etcd.restart();
    etcd.ready(&observer).await;
    let mut watch = observer.watch(Some(name)).await.unwrap();
    if observer.get_service(name).await.is_ok() {
        let gone = wait_event(&mut watch, |e| e.action == Action::Delete).await;
        assert_eq!(gone.service.nodes[0].id, "node-s");
    }
    assert!(observer.get_service(name).await.unwrap_err().is_not_found());
    cache_holds(&cache, name, &[]).await;

    // The next heartbeat finds the lease gone, takes a new one and puts the
    // record again: the node is back, for watchers and caches too.
    service_side.register(&node, short_ttl).await.unwrap();
    let back = wait_event(&mut watch, |e| e.action == Action::Create).await;
    assert_eq!(back.service, node);
    assert_eq!(
        observer.get_service(name).await.unwrap(),
        vec![node.clone()]
    );
    cache_holds(&cache, name, &["node-s"]).await;

    // And the new lease works like the first: renewed by register...
    service_side.register(&node, short_ttl).await.unwrap();
    assert_eq!(
        observer.get_service(name).await.unwrap(),
        vec![node.clone()]
    );
    // ...removed by deregister.
    service_side.deregister(&node).await.unwrap();
    let left = wait_event(&mut watch, |e| e.action == Action::Delete).await;
    assert_eq!(left.service.nodes[0].id, "node-s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_etcd_times_out_and_breaks_open_watches() {
    let Some(_) = etcd_address() else {
        return;
    };
    let Some(etcd) = OwnEtcd::start() else {
        return;
    };
    let address = etcd.address();
    let reg = registry(&address, "/micro/registry/");
    etcd.ready(&reg).await;
    let name = "com.example.srv.partitioned";
    let node = record(name, "1", "node-p", 4001);
    reg.register(&node, ttl()).await.unwrap();
    let mut open_watch = reg.watch(Some(name)).await.unwrap();

    // Frozen: connections stay open, nothing answers (as over a partition).
    etcd.signal("STOP");
    let err = tokio::time::timeout(BOUND, reg.register(&node, ttl()))
        .await
        .expect("register gives up after its per-call timeout")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(err.detail().contains("no answer within"), "{err}");
    // HTTP/2 keepalive (10 s + 5 s) notices the silence; the watch errs.
    let broken = tokio::time::timeout(Duration::from_secs(40), open_watch.next())
        .await
        .expect("the watch breaks instead of hanging")
        .unwrap_err();
    assert!(broken.is_unavailable(), "{broken}");

    etcd.signal("CONT");
    reg.register(&node, ttl()).await.unwrap();
    assert_eq!(reg.get_service(name).await.unwrap(), vec![node.clone()]);
    reg.deregister(&node).await.unwrap();
}
