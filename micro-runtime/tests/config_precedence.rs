//! The documented precedence of `micro_runtime::config`, one key set in all
//! four sources: defaults < file < environment < etcd, key by key.
//!
//! One test in its own binary: it sets environment variables, which only
//! a process with no other test thread may do safely. The etcd layer needs
//! `MICRO_TEST_ETCD` (else only the first three layers are checked and the
//! skip is printed; required with `MICRO_TEST_REQUIRE_BACKENDS=1`).
#![cfg(feature = "config")]

use micro_runtime::config::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct App {
    name: String,
    level: String,
    db: Db,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Db {
    host: String,
    port: u16,
    user: String,
}

#[test]
fn defaults_then_file_then_environment_then_etcd() {
    let prefix = format!("MICRO_TEST_CFG{}_", std::process::id());
    // SAFETY: this binary's only test, before any other thread of it starts.
    unsafe {
        std::env::set_var(format!("{prefix}DB__PORT"), "3");
        std::env::set_var(format!("{prefix}LEVEL"), "from-env");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.json");
    std::fs::write(
        &file,
        r#"{"name":"from-file","level":"from-file","db":{"port":2,"host":"from-file"}}"#,
    )
    .unwrap();
    let defaults = App {
        name: "from-defaults".into(),
        level: "from-defaults".into(),
        db: Db {
            host: "from-defaults".into(),
            port: 1,
            user: "from-defaults".into(),
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let three: App = Config::builder()
            .defaults(defaults.clone())
            .file(&file)
            .env_prefix(&prefix)
            .load()
            .await
            .unwrap();
        assert_eq!(
            three,
            App {
                name: "from-file".into(),
                level: "from-env".into(),
                db: Db {
                    host: "from-file".into(),
                    port: 3,
                    user: "from-defaults".into()
                },
            }
        );

        // The same sources from the MICRO_CONFIG_* variables.
        // SAFETY: as above, no other thread reads the environment.
        unsafe {
            std::env::set_var("MICRO_CONFIG_FILE", &file);
            std::env::set_var("MICRO_CONFIG_ENV_PREFIX", &prefix);
            std::env::set_var("MICRO_CONFIG_DEBOUNCE", "soon");
        }
        let bad = micro_runtime::config::ConfigBuilder::<App>::from_env().unwrap_err();
        assert_eq!(bad.code(), 400, "{bad}");
        assert!(bad.detail().contains("MICRO_CONFIG_DEBOUNCE"), "{bad}");
        unsafe { std::env::set_var("MICRO_CONFIG_DEBOUNCE", "20ms") };
        let from_env: App = micro_runtime::config::ConfigBuilder::from_env()
            .unwrap()
            .defaults(defaults.clone())
            .load()
            .await
            .unwrap();
        assert_eq!(from_env, three);
        unsafe {
            for name in [
                "MICRO_CONFIG_FILE",
                "MICRO_CONFIG_ENV_PREFIX",
                "MICRO_CONFIG_DEBOUNCE",
            ] {
                std::env::remove_var(name);
            }
        }

        etcd_layer(defaults, &file, &prefix).await;
    });
}

#[cfg(feature = "etcd")]
async fn etcd_layer(defaults: App, file: &std::path::Path, prefix: &str) {
    use micro_runtime::config::etcd::{EtcdConfigOptions, EtcdSource};

    let address = match std::env::var("MICRO_TEST_ETCD") {
        Ok(address) if !address.trim().is_empty() => address,
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_ETCD is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped (the etcd layer): MICRO_TEST_ETCD not set");
            return;
        }
    };
    let etcd = EtcdSource::new(EtcdConfigOptions {
        prefix: format!("/micro-test/config-precedence-{}/", std::process::id()),
        ..EtcdConfigOptions::with_address(Some(&address))
    })
    .unwrap();
    etcd.set("app/db/port", "4").await.unwrap();
    etcd.set("app/db/user", "from-etcd").await.unwrap();
    let config = Config::<App>::builder()
        .defaults(defaults)
        .file(file)
        .env_prefix(prefix)
        .etcd(etcd.clone(), "app")
        .build()
        .await
        .unwrap();
    let app = config.get();
    assert_eq!(app.db.port, 4, "etcd over everything: {app:?}");
    assert_eq!(app.db.user, "from-etcd");
    assert_eq!(app.level, "from-env");
    assert_eq!(app.db.host, "from-file");
    assert_eq!(app.name, "from-file");

    // The etcd key gone: the environment's value shows through.
    let mut changes = config.watch();
    etcd.delete("app/db/port").await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        changes.wait_for(|app| app.db.port == 3),
    )
    .await
    .expect("the change within the limit")
    .unwrap();
    etcd.delete("app").await.unwrap();
}

#[cfg(not(feature = "etcd"))]
async fn etcd_layer(_: App, _: &std::path::Path, _: &str) {
    println!("skipped (the etcd layer): built without the etcd feature");
}
