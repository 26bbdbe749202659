//! The store backends against the conformance suite (`store_suite`), and
//! what each does when its server is down.
//!
//! The memory and file stores always run; Redis, PostgreSQL and etcd run
//! against the servers named by `MICRO_TEST_REDIS` (`127.0.0.1:6379`),
//! `MICRO_TEST_POSTGRES` (a connection string, e.g. `host=127.0.0.1
//! user=postgres dbname=test`) and `MICRO_TEST_ETCD` (`127.0.0.1:2379`),
//! and print `skipped: …` without them (unless
//! `MICRO_TEST_REQUIRE_BACKENDS=1`). Every test uses a database of its own.

#[macro_use]
mod store_suite;

use std::sync::Arc;

use micro_runtime::store::{Store, StoreOptions};

mod memory {
    use super::*;
    use micro_runtime::store::memory::MemoryStore;

    conformance!(|database| Some(Arc::new(
        MemoryStore::with_options(&StoreOptions::default().database(database)).unwrap()
    ) as Arc<dyn Store>));

    #[tokio::test]
    async fn the_global_store_is_shared_by_the_process() {
        let database = store_suite::unique_database();
        let options = StoreOptions::default().database(&database);
        let one: Arc<dyn Store> = Arc::new(MemoryStore::global(&options).unwrap());
        let two: Arc<dyn Store> = Arc::new(MemoryStore::global(&options).unwrap());
        one.put("k", "v").await.unwrap();
        assert_eq!(two.get("k").await.unwrap().value, "v");
        let own: Arc<dyn Store> = Arc::new(MemoryStore::with_options(&options).unwrap());
        assert!(own.get("k").await.unwrap_err().is_not_found());
    }
}

#[cfg(feature = "store-file")]
mod file {
    use super::*;
    use micro_runtime::store::file::FileStore;

    /// A fresh file per test, under the target's temp dir.
    fn path(database: &str) -> std::path::PathBuf {
        std::env::temp_dir()
            .join("micro-store-tests")
            .join(format!("{database}.redb"))
    }

    conformance!(|database| Some(Arc::new(
        FileStore::open(
            &StoreOptions::with_address(path(database).to_string_lossy()).database(database)
        )
        .unwrap()
    ) as Arc<dyn Store>));

    #[tokio::test]
    async fn records_survive_closing_and_reopening_the_file() {
        let database = store_suite::unique_database();
        let file = path(&database);
        let options = StoreOptions::with_address(file.to_string_lossy()).database(&database);
        {
            let store: Arc<dyn Store> = Arc::new(FileStore::open(&options).unwrap());
            store.put("durable", "yes").await.unwrap();
            let fenced = micro_runtime::store::WriteOptions::default()
                .fence(micro_runtime::store::Fence::new("lock", 9));
            store
                .write(micro_runtime::store::Record::new("f", "9"), &fenced)
                .await
                .unwrap();
        }
        // Every handle is gone: the file is closed and opened again.
        let store: Arc<dyn Store> = Arc::new(FileStore::open(&options).unwrap());
        assert_eq!(store.get("durable").await.unwrap().value, "yes");
        let stale = micro_runtime::store::WriteOptions::default()
            .fence(micro_runtime::store::Fence::new("lock", 8));
        let err = store
            .write(micro_runtime::store::Record::new("f", "8"), &stale)
            .await
            .unwrap_err();
        assert_eq!(err.code(), 409, "the fence survives too: {err:?}");
        drop(store);
        let _ = std::fs::remove_file(file);
    }

    #[tokio::test]
    async fn two_handles_in_one_process_share_the_file() {
        let database = store_suite::unique_database();
        let options =
            StoreOptions::with_address(path(&database).to_string_lossy()).database(&database);
        let one: Arc<dyn Store> = Arc::new(FileStore::open(&options).unwrap());
        let two: Arc<dyn Store> = Arc::new(FileStore::open(&options).unwrap());
        one.put("k", "from one").await.unwrap();
        assert_eq!(two.get("k").await.unwrap().value, "from one");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_made_is_503() {
        let blocker =
            std::env::temp_dir().join(format!("{}.notadir", store_suite::unique_database()));
        std::fs::write(&blocker, b"a file, not a folder").unwrap();
        let options = StoreOptions::with_address(blocker.join("store.redb").to_string_lossy());
        let err = FileStore::open(&options).unwrap_err();
        assert_eq!((err.code(), err.id()), (503, "micro.store"), "{err:?}");
        assert!(err.detail().contains("store.redb"), "{err:?}");
        // Not a redb file either.
        let options = StoreOptions::with_address(blocker.to_string_lossy());
        let err = FileStore::open(&options).unwrap_err();
        assert_eq!(err.code(), 503, "{err:?}");
        let _ = std::fs::remove_file(blocker);
    }
}

#[cfg(feature = "store-redis")]
mod redis {
    use super::*;
    use micro_runtime::store::redis::RedisStore;

    conformance!(
        |database| store_suite::backend("MICRO_TEST_REDIS").map(|address| {
            Arc::new(
                RedisStore::new(&StoreOptions::with_address(address).database(database)).unwrap(),
            ) as Arc<dyn Store>
        })
    );

    #[tokio::test]
    async fn a_closed_port_is_503_and_a_bad_address_400() {
        let address = format!("127.0.0.1:{}", store_suite::closed_port());
        let store: Arc<dyn Store> =
            Arc::new(RedisStore::new(&StoreOptions::with_address(&address)).unwrap());
        for err in [
            store.put("k", "v").await.unwrap_err(),
            store.get("k").await.unwrap_err(),
        ] {
            assert_eq!((err.code(), err.id()), (503, "micro.store"), "{err:?}");
            assert!(err.detail().contains(&address), "{err:?}");
        }
        let err = RedisStore::new(&StoreOptions::with_address("redis://[::1")).unwrap_err();
        assert_eq!(err.code(), 400, "{err:?}");
    }
}

#[cfg(feature = "store-postgres")]
mod postgres {
    use super::*;
    use micro_runtime::store::postgres::PostgresStore;

    conformance!(
        |database| store_suite::backend("MICRO_TEST_POSTGRES").map(|address| {
            Arc::new(
                PostgresStore::new(&StoreOptions::with_address(address).database(database))
                    .unwrap(),
            ) as Arc<dyn Store>
        })
    );

    #[tokio::test]
    async fn a_closed_port_is_503_and_a_bad_address_400() {
        let port = store_suite::closed_port();
        let address = format!("host=127.0.0.1 port={port} user=postgres password=s3cret");
        let store: Arc<dyn Store> =
            Arc::new(PostgresStore::new(&StoreOptions::with_address(&address)).unwrap());
        for err in [
            store.put("k", "v").await.unwrap_err(),
            store.get("k").await.unwrap_err(),
        ] {
            assert_eq!((err.code(), err.id()), (503, "micro.store"), "{err:?}");
            assert!(err.detail().contains(&port.to_string()), "{err:?}");
            assert!(
                !err.detail().contains("s3cret"),
                "no password in errors: {err:?}"
            );
        }
        let err =
            PostgresStore::new(&StoreOptions::with_address("host=h port=notaport")).unwrap_err();
        assert_eq!(err.code(), 400, "{err:?}");
    }
}

#[cfg(feature = "etcd")]
mod etcd {
    use super::*;
    use micro_runtime::store::etcd::EtcdStore;

    conformance!(
        |database| store_suite::backend("MICRO_TEST_ETCD").map(|address| {
            Arc::new(
                EtcdStore::new(StoreOptions::with_address(address).database(database)).unwrap(),
            ) as Arc<dyn Store>
        })
    );

    #[tokio::test]
    async fn a_closed_port_is_503_and_a_bad_address_400() {
        let address = format!("127.0.0.1:{}", store_suite::closed_port());
        let store: Arc<dyn Store> =
            Arc::new(EtcdStore::new(StoreOptions::with_address(&address)).unwrap());
        for err in [
            store.put("k", "v").await.unwrap_err(),
            store.get("k").await.unwrap_err(),
        ] {
            assert_eq!((err.code(), err.id()), (503, "micro.store"), "{err:?}");
            assert!(err.detail().contains(&address), "{err:?}");
        }
        let err = EtcdStore::new(StoreOptions::with_address("https://127.0.0.1:2379")).unwrap_err();
        assert_eq!(err.code(), 400, "{err:?}");
    }
}
