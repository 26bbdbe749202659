//! `micro new`: the crate it writes builds and its test passes; bad input
//! is a 400 and writes nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const MICRO: &str = env!("CARGO_BIN_EXE_micro");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Every file of a new crate named `orders`.
const FILES: [&str; 8] = [
    "Cargo.toml",
    "README.md",
    ".gitignore",
    "build.rs",
    "proto/orders.proto",
    "src/lib.rs",
    "src/main.rs",
    "tests/call.rs",
];

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("micro-new-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `micro args` in `cwd`.
fn micro(cwd: &Path, args: &[&str]) -> Output {
    Command::new(MICRO)
        .args(args)
        .current_dir(cwd)
        .env_remove("MICRO_OUTPUT")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The checkout's root, canonical.
fn root() -> PathBuf {
    Path::new(ROOT).canonicalize().unwrap()
}

/// The target directory this test was built in (`<target>/debug/micro`).
fn target_dir() -> PathBuf {
    Path::new(MICRO)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_owned()
}

#[test]
fn the_new_crate_builds_and_its_test_passes() {
    let tmp = TempDir::new("build");
    let dir = tmp.0.join("orders");
    let dir_arg = dir.to_str().unwrap();
    let out = micro(
        &tmp.0,
        &["new", "orders", "--path", dir_arg, "--micro-path", ROOT],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for file in FILES {
        assert!(dir.join(file).is_file(), "{file} is missing");
        assert!(stdout.contains(file), "{file} is not listed:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("cd {dir_arg} && cargo test")),
        "{stdout}"
    );
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let runtime = root().join("micro-runtime");
    assert!(
        manifest.contains(&format!("path = \"{}\"", runtime.display())),
        "{manifest}"
    );

    // The workspace's lock file pins the same versions, so the crates this
    // target directory already holds are reused.
    let lock = root().join("Cargo.lock");
    if lock.is_file() {
        fs::copy(lock, dir.join("Cargo.lock")).unwrap();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let test = Command::new(cargo)
        .arg("test")
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    println!("cargo test of the new crate took {:.1?}", started.elapsed());
    let report = format!("{}{}", text(&test.stdout), text(&test.stderr));
    assert!(test.status.success(), "{report}");
    assert!(
        report.contains("test call_answers_with_a_greeting ... ok"),
        "{report}"
    );
}

#[test]
fn json_lists_the_files_and_the_default_path_is_the_name() {
    let tmp = TempDir::new("json");
    let out = micro(&tmp.0, &["--output", "json", "new", "orders"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = tmp.0.join("orders").canonicalize().unwrap();
    assert_eq!(json["name"], "orders");
    assert_eq!(json["path"], dir.to_str().unwrap());
    // Built from this checkout: it is found without `--micro-path`.
    assert_eq!(json["micro"]["path"], root().to_str().unwrap());
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files, FILES);
    for file in FILES {
        assert!(dir.join(file).is_file(), "{file} is missing");
    }
}

/// Asserts a 400 on one line of stderr and nothing written in `tmp`
/// (which held `before`).
fn assert_bad_request(out: &Output, tmp: &TempDir, before: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("micro: bad request (400): "), "{stderr}");
    assert_eq!(tmp.entries(), before);
}

#[test]
fn bad_names_are_refused_and_write_nothing() {
    let tmp = TempDir::new("names");
    for name in [
        "",
        "Orders",
        "my orders",
        "1orders",
        "orders!",
        "fn",
        "test",
        "micro-runtime",
    ] {
        let out = micro(&tmp.0, &["new", name, "--path", "x"]);
        assert_bad_request(&out, &tmp, &[]);
        let out = micro(&tmp.0, &["new", name]);
        assert_bad_request(&out, &tmp, &[]);
    }
}

#[test]
fn an_occupied_directory_is_left_alone() {
    let tmp = TempDir::new("occupied");
    let dir = tmp.0.join("orders");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("Cargo.toml"), "mine").unwrap();
    let out = micro(&tmp.0, &["new", "orders"]);
    assert_bad_request(&out, &tmp, &["orders"]);
    assert!(text(&out.stderr).contains("not empty"));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    assert_eq!(fs::read_to_string(dir.join("Cargo.toml")).unwrap(), "mine");

    fs::write(tmp.0.join("file"), "").unwrap();
    let out = micro(&tmp.0, &["new", "orders", "--path", "file"]);
    assert_bad_request(&out, &tmp, &["file", "orders"]);

    let out = micro(
        &tmp.0,
        &["new", "orders", "--path", "x", "--micro-path", "."],
    );
    assert_bad_request(&out, &tmp, &["file", "orders"]);
    assert!(text(&out.stderr).contains("not a checkout"));
}
