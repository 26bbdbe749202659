//! The file source of `micro_runtime::config`: each format over the
//! defaults, a change seen through the file watch, a rejected change that
//! keeps the last good configuration, and bad input as clear errors.
#![cfg(feature = "config")]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_runtime::config::Config;
use serde::{Deserialize, Serialize};

/// The longest any awaited event may take (a generous bound, not a timing assertion).
const LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct App {
    name: String,
    db: Db,
    #[serde(default)]
    tags: Vec<String>,
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
        tags: Vec::new(),
    }
}

/// Replaces `path`'s content the way editors and deploy tools do: a new
/// file renamed over the old one (so no reader sees half a file).
fn replace(path: &Path, text: &str) {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

#[tokio::test]
async fn each_format_overrides_the_defaults_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "app.toml",
            "name = \"toml\"\ntags = [\"a\"]\n[db]\nport = 1001\n",
        ),
        ("app.yaml", "name: yaml\ntags: [a]\ndb:\n  port: 1001\n"),
        ("app.yml", "name: yml\ntags: [a]\ndb:\n  port: 1001\n"),
        (
            "app.json",
            r#"{"name":"json","tags":["a"],"db":{"port":1001}}"#,
        ),
    ];
    for (file, text) in files {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let app: App = Config::builder()
            .defaults(defaults())
            .file(&path)
            .load()
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(app.name, file.split('.').nth(1).unwrap(), "{file}");
        assert_eq!(app.db.port, 1001, "{file}");
        // Not in the file: the default stays.
        assert_eq!(app.db.host, "localhost", "{file}");
        assert_eq!(app.tags, ["a"], "{file}");
    }
}

#[tokio::test]
async fn a_file_change_reaches_subscribers_and_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "[db]\nport = 1\n").unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let config = Config::builder()
        .defaults(defaults())
        .file(&path)
        .on_change(move |app: &App| seen.lock().unwrap().push(app.db.port))
        .build()
        .await
        .unwrap();
    assert_eq!(config.get().db.port, 1);
    let mut changes = config.watch();

    // Written in place (a reader may catch the file truncated, between
    // two writes: wait for the final value).
    let written = Instant::now();
    std::fs::write(&path, "[db]\nport = 2\n").unwrap();
    tokio::time::timeout(LIMIT, changes.wait_for(|app| app.db.port == 2))
        .await
        .expect("the change within the limit")
        .unwrap();
    println!(
        "file change (write in place) seen after {:?}",
        written.elapsed()
    );
    assert_eq!(config.get().db.port, 2);
    assert_eq!(calls.lock().unwrap().last(), Some(&2));

    // Replaced by a rename.
    let written = Instant::now();
    replace(&path, "[db]\nport = 3\nhost = \"db3\"\n");
    tokio::time::timeout(LIMIT, changes.changed())
        .await
        .expect("the change within the limit")
        .unwrap();
    println!(
        "file change (rename over) seen after {:?}",
        written.elapsed()
    );
    let now = changes.borrow_and_update().clone();
    assert_eq!((now.db.host.as_str(), now.db.port), ("db3", 3));
    let calls = calls.lock().unwrap().clone();
    assert!(calls.ends_with(&[2, 3]), "{calls:?}");
}

/// Log lines written while a test runs (its runtime is on this thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn warnings(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("WARN"))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn an_invalid_change_is_rejected_and_the_last_good_value_stays() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, "db:\n  port: 10\n").unwrap();
    let config = Config::builder()
        .defaults(defaults())
        .file(&path)
        .validate(|app: &App| {
            if app.db.port < 10 {
                Err(format!("db.port below 10 ({})", app.db.port))
            } else {
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    let mut rejections = config.rejections();
    let mut changes = config.watch();

    // Wrong type: the value (a secret in the wrong place) is not told.
    replace(&path, "db:\n  port: hunter2-secret\n");
    let err = tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("a rejection within the limit")
        .unwrap();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("db.port"), "{err}");
    assert!(!err.detail().contains("hunter2"), "{err}");
    assert_eq!(config.get().db.port, 10);

    // Fails the user's check.
    replace(&path, "db:\n  port: 5\n");
    let err = tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("a rejection within the limit")
        .unwrap();
    assert!(err.detail().contains("db.port below 10 (5)"), "{err}");
    assert_eq!(config.get().db.port, 10);

    // Does not parse.
    replace(&path, "db: [\n");
    tokio::time::timeout(LIMIT, rejections.recv())
        .await
        .expect("a rejection within the limit")
        .unwrap();
    assert_eq!(config.get().db.port, 10);
    assert!(
        !changes.has_changed().unwrap(),
        "no rejected value was handed out"
    );

    // One warning per rejected change, naming the key, never the value.
    let warnings = logs.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(
        warnings[0].contains("configuration change rejected"),
        "{warnings:#?}"
    );
    assert!(warnings[0].contains("db.port"), "{warnings:#?}");
    assert!(
        !warnings.iter().any(|w| w.contains("hunter2")),
        "{warnings:#?}"
    );

    // A good one is taken again.
    replace(&path, "db:\n  port: 11\n");
    tokio::time::timeout(LIMIT, changes.changed())
        .await
        .expect("the change within the limit")
        .unwrap();
    assert_eq!(changes.borrow_and_update().db.port, 11);
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Config::<App>::builder()
        .defaults(defaults())
        .file(dir.path().join("absent.toml"))
        .load()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), 404, "{missing}");
    assert!(missing.detail().contains("absent.toml"), "{missing}");

    let unknown = Config::<App>::builder()
        .file(dir.path().join("app.ini"))
        .load()
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), 400, "{unknown}");
    assert!(unknown.detail().contains(".toml"), "{unknown}");

    let path = dir.path().join("app.toml");
    std::fs::write(&path, "name = \"x\"\npassword = \"s3cret-value\n").unwrap();
    let syntax = Config::<App>::builder()
        .file(&path)
        .load()
        .await
        .unwrap_err();
    assert_eq!(syntax.code(), 400, "{syntax}");
    assert!(syntax.detail().contains("app.toml"), "{syntax}");
    assert!(!syntax.detail().contains("s3cret"), "{syntax}");

    std::fs::write(&path, "name = \"x\"\n").unwrap();
    let missing_field = Config::<App>::builder()
        .file(&path)
        .load()
        .await
        .unwrap_err();
    assert_eq!(missing_field.code(), 400);
    assert!(missing_field.detail().contains("db"), "{missing_field}");

    let empty_prefix = Config::<App>::builder()
        .defaults(defaults())
        .env_prefix("")
        .load()
        .await
        .unwrap_err();
    assert_eq!(empty_prefix.code(), 400);
}
