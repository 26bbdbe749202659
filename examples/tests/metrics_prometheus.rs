//! A real Prometheus server scrapes a real greeter-server under load: the
//! server serves `/metrics` on `MICRO_METRICS_ADDRESS`, Prometheus (the
//! Debian package's `/usr/bin/prometheus`, or `MICRO_TEST_PROMETHEUS`)
//! scrapes it every second, and its query API reports a non-zero request
//! rate of `Greeter.Hello`. Needs the `metrics` feature.
#![cfg(feature = "metrics")]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Proc, direct_server};
use examples::pb;
use http_body_util::{BodyExt, Empty};
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{CallOptions, Client};

/// The Prometheus binary, or `None` (after `skipped: …`) when it is
/// missing, unless `MICRO_TEST_REQUIRE_BACKENDS=1`, which fails the test.
fn prometheus_binary() -> Option<String> {
    let binary =
        std::env::var("MICRO_TEST_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    if std::path::Path::new(&binary).exists() {
        return Some(binary);
    }
    let why = format!("no prometheus at {binary} (MICRO_TEST_PROMETHEUS)");
    assert!(
        std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
        "MICRO_TEST_REQUIRE_BACKENDS=1 but {why}"
    );
    println!("skipped: {why}");
    None
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "micro-metrics-{}-{:x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prometheus scraping `target` every second, its API on 127.0.0.1:`port`.
fn prometheus(binary: &str, dir: &TempDir, target: &str, port: u16) -> Proc {
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: greeter\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let proc = Proc::spawn("prometheus", cmd);
    proc.wait_stderr(
        "Server is ready to receive web requests",
        Duration::from_secs(60),
    );
    proc
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of a PromQL instant query.
async fn query(port: u16, promql: &str) -> Vec<serde_json::Value> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let uri = format!(
        "http://127.0.0.1:{port}/api/v1/query?query={}",
        encode(promql)
    );
    let rsp = client.get(uri.parse().unwrap()).await.unwrap();
    assert_eq!(rsp.status(), 200);
    let body = rsp.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `calls` Hello calls at `address`, 8 at a time.
async fn load(client: &Client, address: &str, calls: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let greeter = pb::GreeterClient::new(examples::SERVICE, client.clone());
        let options = CallOptions::new()
            .address(address)
            .timeout(Duration::from_secs(10));
        tasks.spawn(async move {
            for i in (worker..calls).step_by(8) {
                let request = pb::Request {
                    name: format!("n{i}"),
                };
                greeter.hello_with(request, options.clone()).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_request_rate_of_a_loaded_greeter() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let metrics_address = format!("127.0.0.1:{}", free_port());
    let (server, address) = direct_server(&[("MICRO_METRICS_ADDRESS", &metrics_address)]);
    let dir = TempDir::new();
    let port = free_port();
    let prometheus = prometheus(&binary, &dir, &metrics_address, port);
    let client = Client::builder()
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(Arc::new(TcpTransport::new(TcpOptions::default())))
        .build()
        .unwrap();

    // Prometheus scrapes the target at all (it answers `up` 1).
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let up = query(port, r#"up{job="greeter"}"#).await;
        if up.first().is_some_and(|s| s["value"][1] == "1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the target never came up; prometheus stderr:\n{}",
            prometheus.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Load in bounded batches, paced (a batch of 100 calls, then a pause:
    // Prometheus needs two scrapes a second apart) until Prometheus sees a
    // rate: at most 1000 batches, within 3 minutes.
    let promql = r#"rate(micro_server_requests_total{endpoint="Greeter.Hello",code="200"}[10s])"#;
    let mut seen = None;
    for _ in 0..1000 {
        load(&client, &address, 100).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let result = query(port, promql).await;
        if let Some(series) = result.first() {
            let rate: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
            if rate > 0.0 {
                seen = Some((series.clone(), rate));
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no rate within 3 minutes; prometheus stderr:\n{}",
            prometheus.stderr()
        );
    }
    let (series, rate) = seen.expect("Prometheus never saw a non-zero rate");
    println!("Prometheus: {rate:.1} Greeter.Hello/s ({series})");
    assert_eq!(series["metric"]["service"], examples::SERVICE);
    assert_eq!(series["metric"]["job"], "greeter");
    // The histogram made it too.
    let latency = query(
        port,
        r#"micro_server_request_duration_seconds_count{endpoint="Greeter.Hello"}"#,
    )
    .await;
    assert!(!latency.is_empty(), "no latency histogram in Prometheus");
    drop(prometheus);
    common::stop_server(server);
}
