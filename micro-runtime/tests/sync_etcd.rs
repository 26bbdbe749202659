//! Locks and elections on a real etcd (no mocks): `MICRO_TEST_ETCD` names
//! it (e.g. `127.0.0.1:2379`); without it the tests print `skipped: …` and
//! pass, unless `MICRO_TEST_REQUIRE_BACKENDS=1`. Each test keeps to a key
//! prefix of its own. The multi-process fault tests (kill -9, SIGSTOP) are
//! in `examples/tests/leader_election.rs` and `sync_locks.rs`.
#![cfg(feature = "etcd")]

use std::net::TcpListener;
use std::time::Duration;

use micro_runtime::sync::etcd::{EtcdSync, EtcdSyncOptions};
use micro_runtime::sync::{Elections, Locks};

const BOUND: Duration = Duration::from_secs(20);

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

fn sync(address: &str, prefix: &str, ttl: Duration) -> EtcdSync {
    EtcdSync::new(EtcdSyncOptions {
        prefix: prefix.to_owned(),
        ttl,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..EtcdSyncOptions::with_address(Some(address))
    })
    .unwrap()
}

fn prefix() -> String {
    format!(
        "/micro-test/sync-{}-{:08x}/",
        std::process::id(),
        fastrand::u32(..)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_timeouts_release_and_growing_tokens() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let a = sync(&address, &prefix, Duration::from_secs(5));
    let b = sync(&address, &prefix, Duration::from_secs(5));

    let first = a.acquire("jobs/nightly", BOUND).await.unwrap();
    assert_eq!(first.check().unwrap(), first.token());
    assert!(first.deadline().is_some());
    let busy = b
        .acquire("jobs/nightly", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(busy.is_timeout(), "{busy}");
    assert_eq!(busy.id(), "micro.sync");
    assert!(busy.detail().contains("jobs/nightly"), "{busy}");

    // A waiter gets in when the holder releases, with a larger token.
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.acquire("jobs/nightly", BOUND).await }
    });
    let first_token = first.token();
    first.release().await.unwrap();
    let second = waiter.await.unwrap().unwrap();
    assert!(second.token() > first_token);

    // A dropped guard releases too.
    let second_token = second.token();
    drop(second);
    let third = a.acquire("jobs/nightly", BOUND).await.unwrap();
    assert!(third.token() > second_token);
    third.release().await.unwrap();

    // Every key is gone: nothing is left behind by timeouts and releases.
    assert_eq!(a.leader("jobs/nightly").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_renewed_in_the_background_outlives_its_ttl() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let a = sync(&address, &prefix, Duration::from_secs(2));
    let guard = a.acquire("renewed", BOUND).await.unwrap();
    let first_deadline = guard.deadline().unwrap();
    // Wait for the deadline to move (renewals every third of the TTL).
    tokio::time::timeout(BOUND, async {
        while guard.deadline().unwrap() <= first_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the deadline moves with the renewals");
    // Past the first deadline, still held, still the leader key.
    tokio::time::sleep_until(first_deadline.into()).await;
    assert!(guard.is_held());
    assert_eq!(
        a.leader("renewed").await.unwrap().unwrap().token,
        guard.token()
    );
    guard.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_is_observed_and_handed_on() {
    let Some(address) = etcd_address() else {
        return;
    };
    let prefix = prefix();
    let a = sync(&address, &prefix, Duration::from_secs(5));
    let b = sync(&address, &prefix, Duration::from_secs(5));
    let mut observer = a.observe("leader").await.unwrap();
    assert_eq!(observer.next().await.unwrap(), None);

    let term_a = a.campaign("leader", "node-a").await.unwrap();
    let seen = tokio::time::timeout(BOUND, observer.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.value, "node-a");
    assert_eq!(seen.token, term_a.token());

    let campaign_b = tokio::spawn({
        let b = b.clone();
        async move { b.campaign("leader", "node-b").await }
    });
    // b waits: the leader stays a.
    assert_eq!(b.leader("leader").await.unwrap().unwrap().value, "node-a");
    term_a.resign().await.unwrap();
    let term_b = tokio::time::timeout(BOUND, campaign_b)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(term_b.token() > seen.token);
    let seen = loop {
        let now = tokio::time::timeout(BOUND, observer.next())
            .await
            .unwrap()
            .unwrap();
        if now.as_ref().is_some_and(|l| l.value == "node-b") {
            break now.unwrap();
        }
    };
    assert_eq!(seen.token, term_b.token());
    term_b.release().await.unwrap();
    let none = tokio::time::timeout(BOUND, observer.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(none, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_lease_fires_the_lost_signal() {
    let Some(address) = etcd_address() else {
        return;
    };
    if std::process::Command::new("etcdctl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "etcdctl is missing and MICRO_TEST_REQUIRE_BACKENDS=1"
        );
        println!("skipped: no etcdctl to revoke the lease with");
        return;
    }
    let prefix = prefix();
    let a = sync(&address, &prefix, Duration::from_secs(3));
    let guard = a.acquire("revoked", BOUND).await.unwrap();
    // The key is <prefix><name>/<lease id in hex>: revoke that lease behind
    // the holder's back, as an operator would.
    let keys = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &address,
            "get",
            "--prefix",
            "--keys-only",
            &prefix,
        ])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&keys.stdout);
    let key = keys
        .lines()
        .find(|k| !k.is_empty())
        .expect("the holder's key");
    let lease = key.rsplit('/').next().unwrap();
    let revoke = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &address, "lease", "revoke", lease])
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    // The next renewal (every third of the TTL) hears TTL 0.
    let err = tokio::time::timeout(Duration::from_secs(30), guard.lost())
        .await
        .expect("the lost signal");
    assert!(err.is_conflict(), "{err}");
    assert!(err.detail().contains("expired or was revoked"), "{err}");
    assert!(guard.check().is_err());
    // Someone else may take it now.
    a.acquire("revoked", BOUND)
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_an_unreachable_etcd() {
    // Needs no etcd: a loopback port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}");
    let s = sync(&dead, "/micro-test-dead/", Duration::from_secs(2));
    for err in [
        s.acquire("", BOUND).await.unwrap_err(),
        s.campaign("  ", "v").await.unwrap_err(),
        s.leader("").await.unwrap_err(),
        s.observe("").await.unwrap_err(),
    ] {
        assert!(err.is_bad_request(), "{err}");
        assert_eq!(err.id(), "micro.sync");
        assert!(err.detail().contains("name is empty"), "{err}");
    }
    for err in [
        s.acquire("x", BOUND).await.unwrap_err(),
        s.campaign("x", "v").await.unwrap_err(),
        s.leader("x").await.unwrap_err(),
        s.observe("x").await.unwrap_err(),
    ] {
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(err.id(), "micro.sync");
        assert!(err.detail().contains(&dead), "names the endpoint: {err}");
    }
    let zero = EtcdSync::new(EtcdSyncOptions {
        ttl: Duration::ZERO,
        ..EtcdSyncOptions::default()
    })
    .unwrap_err();
    assert!(zero.is_bad_request(), "{zero}");
    let https = EtcdSync::new(EtcdSyncOptions::with_address(Some(
        "https://127.0.0.1:2379",
    )))
    .unwrap_err();
    assert!(https.is_bad_request(), "{https}");
}
