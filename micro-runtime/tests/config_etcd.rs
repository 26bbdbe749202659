//! The etcd source of `micro_runtime::config` against a real etcd (no
//! mocks): the tree read and written, a change seen through the watch, a
//! rejected change that keeps the last good configuration, and an etcd
//! that cannot be reached.
//!
//! `MICRO_TEST_ETCD` (e.g. `127.0.0.1:2379`) names the etcd; without it
//! the tests print `skipped: MICRO_TEST_ETCD not set` and pass, unless
//! `MICRO_TEST_REQUIRE_BACKENDS=1`. Each test keeps to a key prefix of its
//! own and deletes it at its end.
#![cfg(all(feature = "config", feature = "etcd"))]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use micro_runtime::config::Config;
use micro_runtime::config::etcd::{Change, EtcdConfigOptions, EtcdSource};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest any awaited event may take (a generous bound, not a timing assertion).
const LIMIT: Duration = Duration::from_secs(30);

/// The etcd to test against, or `None` (test skipped).
fn etcd_address() -> Option<String> {
    match std::env::var("MICRO_TEST_ETCD") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_ETCD is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: MICRO_TEST_ETCD not set");
            None
        }
    }
}

/// A source under a prefix no other test (nor an earlier run) uses.
fn source(address: &str, test: &str) -> EtcdSource {
    let prefix = format!(
        "/micro-test/config-{test}-{}-{:08x}/",
        std::process::id(),
        fastrand::u32(..)
    );
    EtcdSource::new(EtcdConfigOptions {
        prefix,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..EtcdConfigOptions::with_address(Some(address))
    })
    .unwrap()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct App {
    name: String,
    db: Db,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Db {
    host: String,
    port: u16,
}

fn defaults() -> App {
    App {
        name: "default".into(),
        db: Db {
            host: "localhost".into(),
            port: 5432,
        },
    }
}

#[tokio::test]
async fn the_tree_is_read_written_and_deleted() {
    let Some(address) = etcd_address() else {
        return;
    };
    let etcd = source(&address, "tree");
    assert_eq!(etcd.get("app").await.unwrap(), None);

    etcd.set("app/db/host", "db1").await.unwrap();
    etcd.set("/app/db/port/", "5432").await.unwrap();
    etcd.set("app/tags", r#"["a","b"]"#).await.unwrap();
    etcd.set("apple", "not under app").await.unwrap();
    assert_eq!(
        etcd.get("app").await.unwrap(),
        Some(json!({"db": {"host": "db1", "port": 5432}, "tags": ["a", "b"]}))
    );
    assert_eq!(etcd.get("app/db/host").await.unwrap(), Some(json!("db1")));
    assert_eq!(etcd.get("app/db/port").await.unwrap(), Some(json!(5432)));
    let paths: Vec<String> = etcd
        .list("app")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["app/db/host", "app/db/port", "app/tags"]);
    assert_eq!(etcd.list("").await.unwrap().len(), 4);

    // Bad keys.
    assert_eq!(etcd.set("", "x").await.unwrap_err().code(), 400);
    assert_eq!(etcd.set("app//db", "x").await.unwrap_err().code(), 400);
    assert_eq!(etcd.delete("/").await.unwrap_err().code(), 400);

    // A subtree goes with its key; `apple` is no part of `app`.
    assert_eq!(etcd.delete("app/db").await.unwrap(), 2);
    assert_eq!(
        etcd.get("app").await.unwrap(),
        Some(json!({"tags": ["a", "b"]}))
    );
    assert_eq!(etcd.delete("app").await.unwrap(), 1);
    assert_eq!(etcd.delete("app").await.unwrap(), 0);
    assert_eq!(
        etcd.get("apple").await.unwrap(),
        Some(json!("not under app"))
    );
    assert_eq!(etcd.delete("apple").await.unwrap(), 1);
}

#[tokio::test]
async fn a_watch_sees_puts_and_deletes_under_its_key_only() {
    let Some(address) = etcd_address() else {
        return;
    };
    let etcd = source(&address, "watch");
    let mut changes = etcd.watch("app").await.unwrap();
    etcd.set("apple", "elsewhere").await.unwrap();
    etcd.set("app/db/host", "db1").await.unwrap();
    etcd.delete("app").await.unwrap();
    let first = tokio::time::timeout(LIMIT, changes.next()).await.unwrap();
    assert_eq!(
        first.unwrap().unwrap(),
        Change {
            path: "app/db/host".into(),
            value: Some("db1".into())
        }
    );
    let second = tokio::time::timeout(LIMIT, changes.next()).await.unwrap();
    assert_eq!(
        second.unwrap().unwrap(),
        Change {
            path: "app/db/host".into(),
            value: None
        }
    );
    etcd.delete("apple").await.unwrap();
}

#[tokio::test]
async fn an_etcd_change_reaches_subscribers_and_an_invalid_one_is_rejected() {
    let Some(address) = etcd_address() else {
        return;
    };
    let etcd = source(&address, "reload");
    etcd.set("app/db/host", "db1").await.unwrap();
    let config = Config::builder()
        .defaults(defaults())
        .etcd(etcd.clone(), "app")
        .validate(|app: &App| {
            if app.db.port == 0 {
                Err("db.port is 0".into())
            } else {
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    assert_eq!(config.get().db.host, "db1");
    assert_eq!(config.get().db.port, 5432);
    let mut changes = config.watch();
    let mut rejections = config.rejections();

    let mut latencies = Vec::new();
    for port in [6001u16, 6002, 6003] {
        let set = Instant::now();
        etcd.set("app/db/port", &port.to_string()).await.unwrap();
        tokio::time::timeout(LIMIT, changes.wait_for(|app| app.db.port == port))
            .await
            .expect("the change within the limit")
            .unwrap();
        latencies.push(set.elapsed());
    }
    println!("etcd change seen by subscribers after {latencies:?}");

    // A value of the wrong type: rejected, the value not told, the last good one kept.
    etcd.set("app/db/port", "hunter2-secret").await.unwrap();
    let err = tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("a rejection within the limit")
        .unwrap();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("db.port"), "{err}");
    assert!(err.detail().contains("etcd"), "{err}");
    assert!(!err.detail().contains("hunter2"), "{err}");
    assert_eq!(config.get().db.port, 6003);

    // Failing the check: rejected too.
    etcd.set("app/db/port", "0").await.unwrap();
    let err = tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("a rejection within the limit")
        .unwrap();
    assert!(err.detail().contains("db.port is 0"), "{err}");
    assert_eq!(config.get().db.port, 6003);
    assert!(
        !changes.has_changed().unwrap(),
        "no rejected value was handed out"
    );

    // Deleted: the default is back.
    etcd.delete("app/db/port").await.unwrap();
    tokio::time::timeout(LIMIT, changes.wait_for(|app| app.db.port == 5432))
        .await
        .expect("the change within the limit")
        .unwrap();
    assert_eq!(config.get().db.host, "db1");
    etcd.delete("app").await.unwrap();
}

#[tokio::test]
async fn an_unreachable_etcd_is_a_503() {
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let etcd = EtcdSource::new(EtcdConfigOptions {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..EtcdConfigOptions::with_address(Some(&format!("127.0.0.1:{port}")))
    })
    .unwrap();
    let err = etcd.set("app/x", "1").await.unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert_eq!(err.id(), "micro.config");
    let err = Config::<App>::builder()
        .defaults(defaults())
        .etcd(etcd, "app")
        .load()
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");

    let bad =
        EtcdSource::new(EtcdConfigOptions::with_address(Some("https://127.0.0.1:1"))).unwrap_err();
    assert_eq!(bad.code(), 400);
}

/// An etcd process of the test's own on free loopback ports (the `etcd`
/// binary from `PATH`), killed and its data removed when dropped.
struct OwnEtcd {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
}

impl OwnEtcd {
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn start() -> std::io::Result<Self> {
        let mut etcd = OwnEtcd {
            child: None,
            dir: tempfile::tempdir()?,
            client_port: Self::free_port(),
            peer_port: Self::free_port(),
        };
        etcd.spawn()?;
        Ok(etcd)
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
            .open(self.dir.path().join("etcd.log"))?;
        self.child = Some(
            std::process::Command::new("etcd")
                .arg("--name=micro-config-test")
                .arg(format!(
                    "--data-dir={}",
                    self.dir.path().join("data").display()
                ))
                .arg(format!("--listen-client-urls={client}"))
                .arg(format!("--advertise-client-urls={client}"))
                .arg(format!("--listen-peer-urls={peer}"))
                .arg(format!("--initial-advertise-peer-urls={peer}"))
                .arg(format!("--initial-cluster=micro-config-test={peer}"))
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?,
        );
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) until etcd answers `source`.
    async fn ready(&self, source: &EtcdSource) {
        let answered = tokio::time::timeout(LIMIT, async {
            while source.list("").await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        if answered.is_err() {
            let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
            panic!("etcd did not become ready; its log:\n{log}");
        }
    }
}

impl Drop for OwnEtcd {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn the_etcd_watch_comes_back_after_etcd_restarts() {
    // Runs where the etcd tests run (the `etcd` binary is installed there).
    if etcd_address().is_none() {
        return;
    }
    let mut own = OwnEtcd::start().expect("the etcd binary runs");
    let etcd = source(&own.address(), "restart");
    own.ready(&etcd).await;
    etcd.set("app/db/port", "1").await.unwrap();
    let config = Config::<App>::builder()
        .defaults(defaults())
        .etcd(etcd.clone(), "app")
        .build()
        .await
        .unwrap();
    assert_eq!(config.get().db.port, 1);
    let mut changes = config.watch();
    let mut rejections = config.rejections();

    own.kill();
    own.spawn().expect("etcd restarts");
    own.ready(&etcd).await;
    let set = Instant::now();
    etcd.set("app/db/port", "2").await.unwrap();
    tokio::time::timeout(LIMIT, changes.wait_for(|app| app.db.port == 2))
        .await
        .expect("the change after the restart within the limit")
        .unwrap();
    println!(
        "first change after an etcd restart seen after {:?}",
        set.elapsed()
    );
    assert!(rejections.try_recv().is_err(), "nothing was rejected");
}
