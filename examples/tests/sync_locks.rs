//! Distributed locks with real processes on a real etcd: `lock-holder`
//! processes contend for one lock; the test itself (an `EtcdSync` in this
//! process) is one more contender. Needs `MICRO_TEST_ETCD` (skipped without
//! it, unless `MICRO_TEST_REQUIRE_BACKENDS=1`).
#![cfg(feature = "etcd")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Proc;
use micro_runtime::sync::Locks;
use micro_runtime::sync::etcd::{EtcdSync, EtcdSyncOptions};

const HOLDER: &str = env!("CARGO_BIN_EXE_lock-holder");
const BOUND: Duration = Duration::from_secs(30);
const TTL: Duration = Duration::from_secs(2);

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

fn prefix() -> String {
    format!(
        "/micro-test/locks-{}-{:08x}/",
        std::process::id(),
        fastrand::u32(..)
    )
}

fn holder(address: &str, prefix: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new(HOLDER);
    cmd.args(args)
        .env("MICRO_SYNC_ADDRESS", address)
        .env("MICRO_SYNC_PREFIX", prefix)
        .env("MICRO_SYNC_TTL", format!("{}s", TTL.as_secs()))
        .env("RUST_LOG", "warn");
    Proc::spawn(&format!("lock-holder {}", args.join(" ")), cmd)
}

fn local(address: &str, prefix: &str) -> EtcdSync {
    EtcdSync::new(EtcdSyncOptions {
        prefix: prefix.to_owned(),
        ttl: TTL,
        ..EtcdSyncOptions::with_address(Some(address))
    })
    .unwrap()
}

/// `acquired <token> <ns>` -> (token, ns).
fn acquired(line: &str) -> (u64, u128) {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"acquired"), "{line}");
    (words[1].parse().unwrap(), words[2].parse().unwrap())
}

#[test]
fn two_processes_take_turns_with_growing_tokens() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let args = [
        "shared",
        "--times",
        "8",
        "--hold",
        "20ms",
        "--timeout",
        "20s",
    ];
    let mut a = holder(&address, &prefix, &args);
    let mut b = holder(&address, &prefix, &args);
    for p in [&mut a, &mut b] {
        assert!(p.wait_exit(BOUND).success(), "{}", p.stderr());
    }
    // (token, acquired, released) of every turn of both processes.
    let mut turns = Vec::new();
    for p in [&a, &b] {
        let lines = p.rest();
        assert_eq!(lines.len(), 16, "{lines:?}");
        for pair in lines.chunks(2) {
            let (token, start) = acquired(&pair[0]);
            let end: Vec<&str> = pair[1].split_whitespace().collect();
            assert_eq!(end[0], "released", "{pair:?}");
            assert_eq!(end[1].parse::<u64>().unwrap(), token);
            turns.push((token, start, end[2].parse::<u128>().unwrap()));
        }
    }
    turns.sort_by_key(|t| t.1);
    for pair in turns.windows(2) {
        assert!(
            pair[1].0 > pair[0].0,
            "tokens grow with every acquisition: {turns:?}"
        );
        assert!(pair[0].2 <= pair[1].1, "one holder at a time: {turns:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_times_out_then_a_release_lets_the_waiter_in() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let held = holder(&address, &prefix, &["busy", "--hold", "forever"]);
    let line = tokio::task::block_in_place(|| held.wait_line("acquired ", BOUND));
    let (token, _) = acquired(&line);
    let sync = local(&address, &prefix);
    let err = sync
        .acquire("busy", Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.code(), 408);
    // SIGTERM: the holder releases and says so; the waiter gets in.
    let waiter = tokio::spawn({
        let sync = sync.clone();
        async move { sync.acquire("busy", BOUND).await }
    });
    held.signal("TERM");
    let line = tokio::task::block_in_place(|| held.wait_line("released ", BOUND));
    assert!(line.starts_with(&format!("released {token} ")), "{line}");
    let guard = waiter.await.unwrap().unwrap();
    assert!(guard.token() > token);
    guard.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_with_sigkill_frees_the_lock_within_the_ttl() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let mut held = holder(&address, &prefix, &["crash", "--hold", "forever"]);
    let line = tokio::task::block_in_place(|| held.wait_line("acquired ", BOUND));
    let (token, _) = acquired(&line);
    let sync = local(&address, &prefix);
    let killed = Instant::now();
    held.signal("KILL");
    tokio::task::block_in_place(|| held.wait_exit(BOUND));
    // The holder cannot release: the lock frees when etcd expires its lease.
    let guard = sync.acquire("crash", BOUND).await.unwrap();
    let took = killed.elapsed();
    assert!(guard.token() > token);
    println!(
        "lock free again {} ms after kill -9 (TTL {} s)",
        took.as_millis(),
        TTL.as_secs()
    );
    guard.release().await.unwrap();
}

#[test]
fn an_empty_name_is_400_and_an_unreachable_etcd_503() {
    // Needs no etcd: a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}");
    for (name, code) in [("", "400"), ("x", "503")] {
        let mut p = holder(&dead, "/micro-test-dead/", &[name]);
        assert!(!p.wait_exit(BOUND).success());
        let line = p.rest().join("\n");
        assert!(line.starts_with(&format!("error {code} ")), "{line}");
        if code == "503" {
            assert!(line.contains(&dead), "names the endpoint: {line}");
        }
    }
}
