//! TLS and mutual TLS end to end, every party a real process: `micro certs
//! dev` makes the files; a greeter-server serves mutual TLS with them
//! (registered over mDNS in a private network namespace); the typed client
//! (greeter-client) calls it over the native protocol and over gRPC, `micro
//! call` too, and Python's grpcio with `ssl_channel_credentials`. Clients
//! without TLS, or without a client certificate, fail at once with an error
//! that says so, and the server keeps serving; its log holds no key material.
#![cfg(feature = "tls")]

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Place, SERVICE, greeter_client, python, run, unique};

/// A directory of its own under the system's temporary one, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("micro-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `micro certs dev` into `dir` and returns the variables it printed.
fn certs_dev(place: &Place, dir: &Path) -> Vec<(String, String)> {
    let out = place.run(&["certs", "dev", "--dir", dir.to_str().unwrap()]);
    out.ok()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn vars<'a>(all: &'a [(String, String)], names: &[&str]) -> Vec<(&'a str, &'a str)> {
    names
        .iter()
        .map(|name| {
            let (k, v) = all
                .iter()
                .find(|(k, _)| k == name)
                .unwrap_or_else(|| panic!("{name} among {all:?}"));
            (k.as_str(), v.as_str())
        })
        .collect()
}

const SERVER_VARS: [&str; 3] = ["MICRO_TLS_CERT", "MICRO_TLS_KEY", "MICRO_TLS_CLIENT_CA"];
const CLIENT_VARS: [&str; 3] = [
    "MICRO_TLS_CA",
    "MICRO_TLS_CLIENT_CERT",
    "MICRO_TLS_CLIENT_KEY",
];

/// greeter-client NAME with `env` (and `transport`, when given).
fn typed_call(place: &Place, env: &[(&str, &str)], grpc: bool, name: &str) -> support::Outcome {
    let mut cmd = place.command(greeter_client());
    cmd.arg(name).envs(env.iter().copied());
    if grpc {
        cmd.env("MICRO_TRANSPORT", "grpc");
    }
    run(cmd, None)
}

/// `micro ARGS` with `env`.
fn micro(place: &Place, env: &[(&str, &str)], args: &[&str]) -> support::Outcome {
    let mut cmd = place.micro(args);
    cmd.envs(env.iter().copied());
    run(cmd, None)
}

#[test]
fn certs_dev_writes_keys_for_the_owner_only_and_never_overwrites_unasked() {
    let place = Place::loopback();
    let tmp = TempDir::new();
    let dir = tmp.0.join("certs");
    let printed = certs_dev(&place, &dir);
    let dir = dir.canonicalize().unwrap();
    let expected: Vec<(String, String)> = [
        ("MICRO_TLS_CERT", "server.pem"),
        ("MICRO_TLS_KEY", "server-key.pem"),
        ("MICRO_TLS_CLIENT_CA", "ca.pem"),
        ("MICRO_TLS_CA", "ca.pem"),
        ("MICRO_TLS_CLIENT_CERT", "client.pem"),
        ("MICRO_TLS_CLIENT_KEY", "client-key.pem"),
    ]
    .iter()
    .map(|(k, f)| ((*k).to_owned(), dir.join(f).display().to_string()))
    .collect();
    assert_eq!(printed, expected);
    for (file, mode) in [
        ("ca.pem", None),
        ("server.pem", None),
        ("client.pem", None),
        ("server-key.pem", Some(0o600)),
        ("client-key.pem", Some(0o600)),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        match mode {
            Some(mode) => {
                assert!(text.contains("PRIVATE KEY-----"), "{file}");
                let meta = std::fs::metadata(&path).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
            }
            None => assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{file}"),
        }
    }

    let before = std::fs::read(dir.join("ca.pem")).unwrap();
    let again = place.run(&["certs", "dev", "--dir", dir.to_str().unwrap()]);
    let line = again.fails_with(409);
    assert!(
        line.contains("ca.pem exists already") && line.contains("--force"),
        "{again}"
    );
    assert_eq!(
        std::fs::read(dir.join("ca.pem")).unwrap(),
        before,
        "left alone"
    );

    let forced = place.run(&[
        "certs",
        "dev",
        "--dir",
        dir.to_str().unwrap(),
        "--force",
        "--hosts",
        "svc.local,::1",
        "-o",
        "json",
    ]);
    let report = forced.json();
    assert_eq!(report["hosts"], json!(["svc.local", "::1"]));
    assert_eq!(report["env"]["MICRO_TLS_CA"], json!(dir.join("ca.pem")));
    assert_ne!(
        std::fs::read(dir.join("ca.pem")).unwrap(),
        before,
        "replaced"
    );

    let empty = place.run(&[
        "certs",
        "dev",
        "--dir",
        dir.to_str().unwrap(),
        "--hosts",
        ",",
    ]);
    assert!(empty.fails_with(400).contains("--hosts"), "{empty}");
}

#[test]
fn mutual_tls_serves_good_clients_and_refuses_the_others_clearly() {
    let place = Place::mdns();
    let tmp = TempDir::new();
    let all = certs_dev(&place, &tmp.0);
    let server_env = vars(&all, &SERVER_VARS);
    let client = vars(&all, &CLIENT_VARS);
    let ca_only = vars(&all, &["MICRO_TLS_CA"]);
    let server = place.greeter("1.0.0", &server_env);
    let address = server.address.clone();

    // The typed client, native protocol then gRPC, with CA and certificate.
    for grpc in [false, true] {
        let out = typed_call(&place, &client, grpc, "Ada");
        assert_eq!(out.code, Some(0), "grpc={grpc}: {out}");
        assert!(out.stdout.starts_with("Hello Ada\n"), "grpc={grpc}: {out}");
    }
    let out = micro(
        &place,
        &client,
        &["call", SERVICE, "Greeter.Hello", r#"{"name":"Cy"}"#],
    );
    assert_eq!(out.json(), json!({"greeting": "Hello Cy"}));

    // A plaintext client learns from the registry that the node serves TLS
    // only; a client without a certificate that it needs one. Each failure
    // is followed by a good call: the server keeps serving.
    for grpc in [false, true] {
        let out = typed_call(&place, &[], grpc, "Plain");
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains("serve TLS only") && out.stderr.contains("MICRO_TLS_CA"),
            "grpc={grpc}: {out}"
        );
        let out = typed_call(&place, &ca_only, grpc, "NoCert");
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains("require a client certificate")
                && out.stderr.contains("MICRO_TLS_CLIENT_CERT"),
            "grpc={grpc}: {out}"
        );
        assert_eq!(typed_call(&place, &client, grpc, "Good").code, Some(0));
    }
    let out = micro(&place, &[], &["call", SERVICE, "Greeter.Hello", "{}"]);
    assert!(out.fails_with(400).contains("serve TLS only"), "{out}");
    let out = micro(&place, &ca_only, &["call", SERVICE, "Greeter.Hello", "{}"]);
    assert!(out.fails_with(401).contains("client certificate"), "{out}");

    // By address, without the registry: the wire itself says so.
    let by_address = [
        "call",
        "--address",
        &address,
        SERVICE,
        "Greeter.Hello",
        "{}",
    ];
    let out = micro(&place, &[], &by_address);
    assert!(
        out.fails_with(503).contains("this port requires TLS"),
        "{out}"
    );
    let out = micro(&place, &ca_only, &by_address);
    assert!(
        out.fails_with(401)
            .contains("requires a client certificate"),
        "{out}"
    );
    let mut grpc_ca_only = ca_only.clone();
    grpc_ca_only.push(("MICRO_TRANSPORT", "grpc"));
    let out = micro(&place, &grpc_ca_only, &by_address);
    assert!(
        out.fails_with(401)
            .contains("requires a client certificate"),
        "{out}"
    );
    let out = micro(&place, &client, &by_address);
    assert_eq!(out.json(), json!({"greeting": "Hello "}));

    // Python's grpcio: mutual TLS works; no certificate and plaintext fail.
    if let Some(python) = python() {
        let mut cmd = place.command(&python);
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/grpc_tls_client.py"
        ))
        .arg(&address)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../proto"))
        .arg(&tmp.0);
        let out = run(cmd, None);
        assert_eq!(out.code, Some(0), "{out}");
        let seen: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
        assert_eq!(seen["mutual"], json!({"greeting": "Hello Ada"}), "{seen}");
        assert_eq!(seen["no_cert"]["code"], "UNAVAILABLE", "{seen}");
        let plaintext = seen["plaintext"]["code"].as_str().unwrap_or("OK");
        assert!(
            ["UNAVAILABLE", "DEADLINE_EXCEEDED"].contains(&plaintext),
            "{seen}"
        );
        assert_eq!(seen["again"], json!({"greeting": "Hello Di"}), "{seen}");
    }

    let mut proc = server.proc;
    proc.signal("TERM");
    assert!(
        proc.wait_exit(support::LIMIT).success(),
        "{}",
        proc.stderr()
    );
    let log = proc.stderr();
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert!(log.contains("plaintext on a TLS port"), "{log}");
    for file in ["server-key.pem", "client-key.pem"] {
        let key = std::fs::read_to_string(tmp.0.join(file)).unwrap();
        let body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!log.contains("PRIVATE KEY"), "{log}");
        for line in body {
            assert!(!log.contains(line), "a line of {file} in the log");
        }
    }
}
