//! The conformance suite every store backend passes: one generic function
//! per behaviour, run against each backend by [`conformance!`]. Each test
//! gets a store whose database is its own, so parallel tests (and
//! parallel runs on one server) never see each other's keys.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use micro_runtime::Error;
use micro_runtime::store::{
    DeleteOptions, Fence, ListOptions, MAX_KEY, MAX_VALUE, ReadOptions, Record, Store, WriteOptions,
};

/// A database name of one test: `t<pid><random>`.
pub fn unique_database() -> String {
    format!("t{}x{:08x}", std::process::id(), fastrand::u32(..))
}

/// Whether CI requires every backend.
pub fn require_backends() -> bool {
    std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// The address in `var`, or `None` after printing why the test is skipped.
pub fn backend(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                !require_backends(),
                "{var} is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: {var} not set");
            None
        }
    }
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn value(store: &dyn Store, key: &str) -> Result<Vec<u8>, Error> {
    let mut records = store.read(key, &ReadOptions::default()).await?;
    assert_eq!(records.len(), 1, "one record for {key:?}");
    Ok(records.remove(0).value.to_vec())
}

fn keys(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.key.as_str()).collect()
}

/// Write, read (with metadata), overwrite, delete, 404 after.
pub async fn write_read_delete(store: Arc<dyn Store>) {
    let record = Record::new("user/1", "Ada").with_metadata("role", "admin");
    store.write(record, &WriteOptions::default()).await.unwrap();
    let read = store.read("user/1", &ReadOptions::default()).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].key, "user/1");
    assert_eq!(read[0].value, "Ada");
    assert_eq!(
        read[0].metadata.get("role").map(String::as_str),
        Some("admin")
    );
    assert_eq!(read[0].expiry, None);

    store.put("user/1", "Grace").await.unwrap();
    let record = store.get("user/1").await.unwrap();
    assert_eq!(record.value, "Grace");
    assert!(
        record.metadata.is_empty(),
        "a write replaces the metadata too"
    );

    store
        .delete("user/1", &DeleteOptions::default())
        .await
        .unwrap();
    let err = store.get("user/1").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.id(), "micro.store");
    store
        .delete("user/1", &DeleteOptions::default())
        .await
        .expect("deleting a missing key succeeds");
    let err = store
        .read("never", &ReadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 404, "{err:?}");
}

/// A record with a TTL reads with its time left, then expires: read is 404,
/// prefix reads and listings leave it out. Waited on by polling, with a
/// deadline.
pub async fn ttl_expiry(store: Arc<dyn Store>) {
    let ttl = Duration::from_millis(1200);
    store
        .write(
            Record::new("ttl/short", "soon gone"),
            &WriteOptions::default().ttl(ttl),
        )
        .await
        .unwrap();
    store
        .write(
            Record::new("ttl/long", "stays"),
            &WriteOptions::default().ttl(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    store.put("ttl/none", "forever").await.unwrap();
    let read = store.get("ttl/short").await.unwrap();
    let left = read.expiry.expect("a record with a TTL has an expiry");
    assert!(left <= ttl && !left.is_zero(), "{left:?}");
    let long = store.get("ttl/long").await.unwrap().expiry.unwrap();
    assert!(long > Duration::from_secs(3000), "{long:?}");
    assert_eq!(store.get("ttl/none").await.unwrap().expiry, None);

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.get("ttl/short").await {
            Err(err) if err.is_not_found() => break,
            Err(err) => panic!("{err:?}"),
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "ttl/short did not expire within 20 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let listed = store
        .list(&ListOptions::default().prefix("ttl/"))
        .await
        .unwrap();
    assert_eq!(listed, ["ttl/long", "ttl/none"]);
    let read = store
        .read("ttl/", &ReadOptions::default().prefix())
        .await
        .unwrap();
    assert_eq!(keys(&read), ["ttl/long", "ttl/none"]);
    // Written again without a TTL, the key lives on.
    store.put("ttl/short", "back").await.unwrap();
    assert_eq!(store.get("ttl/short").await.unwrap().expiry, None);
}

/// Prefix reads and listings in key order, paged by offset and limit.
pub async fn prefix_paging(store: Arc<dyn Store>) {
    for key in ["a/3", "a/1", "a/5", "a/2", "a/4", "ab", "b/1"] {
        store.put(key, format!("v{key}")).await.unwrap();
    }
    let all = store
        .read("a/", &ReadOptions::default().prefix())
        .await
        .unwrap();
    assert_eq!(keys(&all), ["a/1", "a/2", "a/3", "a/4", "a/5"]);
    assert_eq!(all[2].value, "va/3");
    let page = store
        .read("a/", &ReadOptions::default().prefix().offset(1).limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&page), ["a/2", "a/3"]);
    let listed = store
        .list(&ListOptions::default().prefix("a/").offset(3).limit(10))
        .await
        .unwrap();
    assert_eq!(listed, ["a/4", "a/5"]);
    let listed = store
        .list(&ListOptions::default().prefix("a"))
        .await
        .unwrap();
    assert_eq!(listed, ["a/1", "a/2", "a/3", "a/4", "a/5", "ab"]);
    let everything = store.list(&ListOptions::default()).await.unwrap();
    assert_eq!(everything.len(), 7);
    let first = store.list(&ListOptions::default().limit(1)).await.unwrap();
    assert_eq!(first, ["a/1"]);
    let none = store
        .read("zz", &ReadOptions::default().prefix())
        .await
        .expect("a prefix that matches nothing is an empty list");
    assert!(none.is_empty());
    let past = store
        .list(&ListOptions::default().prefix("a/").offset(99))
        .await
        .unwrap();
    assert!(past.is_empty());
    let zero = store.list(&ListOptions::default().limit(0)).await.unwrap();
    assert!(zero.is_empty());
    // Glob and LIKE characters in a prefix are plain characters.
    store.put("odd*[x]%_?", "1").await.unwrap();
    store.put("oddly", "2").await.unwrap();
    let odd = store
        .list(&ListOptions::default().prefix("odd*[x]%_"))
        .await
        .unwrap();
    assert_eq!(odd, ["odd*[x]%_?"]);
}

/// Databases and tables do not see each other's keys or fences.
pub async fn namespaces_isolated(store: Arc<dyn Store>) {
    let other_db = unique_database();
    let write = |db: Option<&str>, table: &str, value: &str| {
        let mut options = WriteOptions::default().table(table);
        if let Some(db) = db {
            options = options.database(db);
        }
        let store = store.clone();
        let record = Record::new("shared-key", value.to_owned());
        async move { store.write(record, &options).await }
    };
    write(None, "one", "db1/one").await.unwrap();
    write(None, "two", "db1/two").await.unwrap();
    write(Some(&other_db), "one", "db2/one").await.unwrap();
    let read = |db: Option<String>, table: &str| {
        let mut options = ReadOptions::default().table(table);
        if let Some(db) = db {
            options = options.database(db);
        }
        let store = store.clone();
        async move { store.read("shared-key", &options).await }
    };
    assert_eq!(read(None, "one").await.unwrap()[0].value, "db1/one");
    assert_eq!(read(None, "two").await.unwrap()[0].value, "db1/two");
    assert_eq!(
        read(Some(other_db.clone()), "one").await.unwrap()[0].value,
        "db2/one"
    );
    assert!(
        read(Some(other_db.clone()), "two")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store.get("shared-key").await.unwrap_err().is_not_found(),
        "the default table is another one"
    );

    store
        .delete("shared-key", &DeleteOptions::default().table("one"))
        .await
        .unwrap();
    assert!(read(None, "one").await.unwrap_err().is_not_found());
    assert_eq!(
        read(Some(other_db.clone()), "one").await.unwrap()[0].value,
        "db2/one"
    );
    let listed = store
        .list(&ListOptions::default().table("two"))
        .await
        .unwrap();
    assert_eq!(listed, ["shared-key"]);
    let listed = store
        .list(&ListOptions::default().table("three"))
        .await
        .unwrap();
    assert!(listed.is_empty());

    // A fence is per namespace: token 10 in table one does not hold back
    // token 1 in table two.
    let fenced = |table: &str, token: u64| {
        let options = WriteOptions::default()
            .table(table)
            .fence(Fence::new("lock", token));
        let store = store.clone();
        async move { store.write(Record::new("f", "x"), &options).await }
    };
    fenced("one", 10).await.unwrap();
    fenced("two", 1).await.unwrap();
    assert_eq!(fenced("one", 9).await.unwrap_err().code(), 409);
}

/// Tasks writing the same and their own keys at once: every own key ends
/// with its task's last value, the shared key with some task's last value.
pub async fn concurrent_writers(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const WRITES: usize = 15;
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..WRITES {
                store
                    .put(&format!("own/{task}"), i.to_string())
                    .await
                    .unwrap();
                store.put("shared", format!("{task}-{i}")).await.unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    for task in 0..TASKS {
        let own = value(store.as_ref(), &format!("own/{task}")).await.unwrap();
        assert_eq!(own, (WRITES - 1).to_string().as_bytes(), "own/{task}");
    }
    let shared = String::from_utf8(value(store.as_ref(), "shared").await.unwrap()).unwrap();
    let (task, i) = shared.split_once('-').unwrap();
    assert!(task.parse::<usize>().unwrap() < TASKS, "{shared}");
    assert_eq!(
        i,
        (WRITES - 1).to_string(),
        "the last write applied is a task's last: {shared}"
    );
    let listed = store
        .list(&ListOptions::default().prefix("own/"))
        .await
        .unwrap();
    assert_eq!(listed.len(), TASKS);

    // Fenced writers racing with increasing tokens: the highest token's
    // value is the one that stays, and the store remembers it.
    let mut handles = Vec::new();
    for token in 1..=10u64 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let options = WriteOptions::default().fence(Fence::new("race", token));
            store
                .write(Record::new("raced", token.to_string()), &options)
                .await
        }));
    }
    let mut outcomes = Vec::new();
    for handle in handles {
        outcomes.push(handle.await.unwrap());
    }
    for outcome in &outcomes {
        if let Err(err) = outcome {
            assert_eq!(err.code(), 409, "{err:?}");
        }
    }
    assert!(outcomes[9].is_ok(), "the highest token is never refused");
    assert_eq!(value(store.as_ref(), "raced").await.unwrap(), b"10");
}

/// The largest value and key go through unchanged; one byte more is 400
/// and leaves the old value.
pub async fn large_values(store: Arc<dyn Store>) {
    let big: Vec<u8> = (0..MAX_VALUE).map(|i| (i % 251) as u8).collect();
    store.put("big", big.clone()).await.unwrap();
    assert_eq!(value(store.as_ref(), "big").await.unwrap(), big);

    let err = store
        .put("big", vec![7u8; MAX_VALUE + 1])
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err:?}");
    assert!(err.detail().contains("limit"), "{err:?}");
    assert_eq!(
        value(store.as_ref(), "big").await.unwrap(),
        big,
        "the old value stays"
    );

    let long_key = "k".repeat(MAX_KEY);
    store.put(&long_key, "long").await.unwrap();
    assert_eq!(value(store.as_ref(), &long_key).await.unwrap(), b"long");
    let err = store.put(&"k".repeat(MAX_KEY + 1), "x").await.unwrap_err();
    assert_eq!(err.code(), 400, "{err:?}");
    // Binary values, NUL bytes included.
    store.put("binary", vec![0u8, 255, 0, 1]).await.unwrap();
    assert_eq!(
        value(store.as_ref(), "binary").await.unwrap(),
        [0u8, 255, 0, 1]
    );
    store.put("empty", Vec::new()).await.unwrap();
    assert_eq!(value(store.as_ref(), "empty").await.unwrap(), b"");
}

/// Keys in any script, listed in byte order.
pub async fn unicode_keys(store: Arc<dyn Store>) {
    let keys_in = ["ключ/один", "ключ/два", "鍵/三", "emoji/😀", "café", "cafe"];
    for key in keys_in {
        store.put(key, format!("value of {key}")).await.unwrap();
    }
    for key in keys_in {
        assert_eq!(
            value(store.as_ref(), key).await.unwrap(),
            format!("value of {key}").as_bytes()
        );
    }
    let listed = store
        .list(&ListOptions::default().prefix("ключ/"))
        .await
        .unwrap();
    assert_eq!(listed, ["ключ/два", "ключ/один"]);
    let mut sorted: Vec<String> = keys_in.iter().map(|k| (*k).to_owned()).collect();
    sorted.sort();
    assert_eq!(store.list(&ListOptions::default()).await.unwrap(), sorted);
    // A key of multi-byte characters at the byte limit.
    let wide = "é".repeat(MAX_KEY / 2);
    store.put(&wide, "wide").await.unwrap();
    assert_eq!(value(store.as_ref(), &wide).await.unwrap(), b"wide");
}

/// Fencing tokens: equal or higher passes and is remembered, lower is 409
/// and changes nothing (write or delete); names are independent.
pub async fn fence_ordering(store: Arc<dyn Store>) {
    let write = |token: u64, value: &str| {
        let options = WriteOptions::default().fence(Fence::new("leader", token));
        let store = store.clone();
        let record = Record::new("state", value.to_owned());
        async move { store.write(record, &options).await }
    };
    write(5, "by 5").await.unwrap();
    write(5, "by 5 again").await.unwrap();
    let err = write(4, "by 4 (stale)").await.unwrap_err();
    assert_eq!((err.code(), err.id()), (409, "micro.store"), "{err:?}");
    assert!(
        err.detail().contains("fenced") && err.detail().contains('4'),
        "{err:?}"
    );
    assert!(err.detail().contains('5'), "names the token seen: {err:?}");
    assert_eq!(
        value(store.as_ref(), "state").await.unwrap(),
        b"by 5 again",
        "nothing written"
    );

    write(7, "by 7").await.unwrap();
    let err = write(6, "by 6").await.unwrap_err();
    assert_eq!(err.code(), 409);
    assert_eq!(value(store.as_ref(), "state").await.unwrap(), b"by 7");

    // A stale delete is refused too and leaves the record.
    let delete = |token: u64| {
        let options = DeleteOptions::default().fence(Fence::new("leader", token));
        let store = store.clone();
        async move { store.delete("state", &options).await }
    };
    assert_eq!(delete(6).await.unwrap_err().code(), 409);
    assert_eq!(value(store.as_ref(), "state").await.unwrap(), b"by 7");
    delete(8).await.unwrap();
    assert!(store.get("state").await.unwrap_err().is_not_found());
    assert_eq!(write(7, "by 7 after 8").await.unwrap_err().code(), 409);

    // Another fence name starts from nothing; tokens cover all of u64.
    let other = WriteOptions::default().fence(Fence::new("other", 0));
    store.write(Record::new("o", "0"), &other).await.unwrap();
    let max = WriteOptions::default().fence(Fence::new("wide", u64::MAX));
    store.write(Record::new("w", "max"), &max).await.unwrap();
    let below = WriteOptions::default().fence(Fence::new("wide", u64::MAX - 1));
    assert_eq!(
        store
            .write(Record::new("w", "x"), &below)
            .await
            .unwrap_err()
            .code(),
        409
    );
    assert_eq!(value(store.as_ref(), "w").await.unwrap(), b"max");
    // Writes without a fence are not held back by one.
    store.put("state", "unfenced").await.unwrap();
}

/// Bad input is 400 with a reason, and the store keeps working.
pub async fn bad_input(store: Arc<dyn Store>) {
    let cases: Vec<(&str, Result<(), Error>)> = vec![
        ("empty key", store.put("", "v").await),
        ("NUL in key", store.put("a\0b", "v").await),
        (
            "zero TTL",
            store
                .write(
                    Record::new("k", "v"),
                    &WriteOptions::default().ttl(Duration::ZERO),
                )
                .await,
        ),
        (
            "bad table",
            store
                .write(Record::new("k", "v"), &WriteOptions::default().table("a/b"))
                .await,
        ),
        (
            "bad database",
            store
                .write(Record::new("k", "v"), &WriteOptions::default().database(""))
                .await,
        ),
        (
            "huge metadata",
            store
                .write(
                    Record::new("k", "v").with_metadata("m", "x".repeat(20_000)),
                    &WriteOptions::default(),
                )
                .await,
        ),
        (
            "bad fence name",
            store
                .write(
                    Record::new("k", "v"),
                    &WriteOptions::default().fence(Fence::new("", 1)),
                )
                .await,
        ),
        (
            "delete empty key",
            store.delete("", &DeleteOptions::default()).await,
        ),
    ];
    for (what, outcome) in cases {
        let err = outcome.expect_err(what);
        assert_eq!(
            (err.code(), err.id()),
            (400, "micro.store"),
            "{what}: {err:?}"
        );
        assert!(!err.detail().is_empty(), "{what}");
    }
    let err = store.read("", &ReadOptions::default()).await.unwrap_err();
    assert_eq!(err.code(), 400);
    let err = store
        .list(&ListOptions::default().prefix("x".repeat(MAX_KEY + 1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(
        store.get("k").await.unwrap_err().is_not_found(),
        "nothing was written"
    );
    store.put("k", "fine").await.unwrap();
    assert_eq!(value(store.as_ref(), "k").await.unwrap(), b"fine");
}

/// Every case of the suite as a `#[tokio::test]`, with `$make` building a
/// store for one database name (`None`: skipped).
#[macro_export]
macro_rules! conformance {
    ($make:expr) => {
        $crate::conformance!(@cases $make;
            write_read_delete, ttl_expiry, prefix_paging, namespaces_isolated,
            concurrent_writers, large_values, unicode_keys, fence_ordering, bad_input);
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let make: fn(&str) -> Option<std::sync::Arc<dyn micro_runtime::store::Store>> = $make;
                if let Some(store) = make(&$crate::store_suite::unique_database()) {
                    $crate::store_suite::$case(store).await;
                }
            }
        )*
    };
}
