//! Runs the benchmark binary end to end with tiny cells: it must start its
//! server processes, print the table and end with the summary line. No
//! timing is asserted.

use std::process::Command;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_micro-bench"))
}

#[test]
fn tiny_run_prints_table_json_and_summary_last() {
    let json = std::env::temp_dir().join(format!("micro-bench-test-{}.json", std::process::id()));
    let output = bench()
        .args([
            "rpc",
            "--duration",
            "100ms",
            "--warmup",
            "0s",
            "--concurrency",
            "2",
        ])
        .args(["--systems", "raw,micro", "--stream-chunk", "100", "--json"])
        .arg(&json)
        .output()
        .expect("run micro-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let lines: Vec<&str> = stdout.lines().collect();
    for system in ["raw", "micro"] {
        for workload in [
            "unary 4B",
            "unary 1KiB",
            "server stream",
            "client stream",
            "bidi stream",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("| {workload}"))
                    && l.contains(&format!("| {system} "))),
                "no {system} {workload} row in:\n{stdout}"
            );
        }
    }
    assert_eq!(
        lines.last().copied(),
        Some(
            "summary: micro/tonic rps c=64 = n/a; micro/raw rps c=64 = n/a; micro/tonic p99 c=64 = n/a; micro-nats/micro rps c=64 = n/a; micro-metrics/micro rps c=64 = n/a"
        )
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid json");
    let _ = std::fs::remove_file(&json);
    let cells = report["cells"].as_array().expect("cells");
    // raw has no client or bidi streams: n/a rows, no cells.
    assert_eq!(cells.len(), 8);
    assert!(
        cells
            .iter()
            .all(|c| c["failed"] == 0 && c["ok"].as_u64() > Some(0))
    );
}

#[test]
fn a_server_that_cannot_listen_fails_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = bench()
        .args(["serve", "raw", "--port", &port])
        .output()
        .expect("run micro-bench serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("micro-bench serve raw"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"));
}

#[test]
fn each_system_has_its_own_server_binary() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_micro-bench-server-tonic"))
        .args(["tonic", "--port", &port])
        .output()
        .expect("run micro-bench-server-tonic");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("micro-bench-server-tonic tonic"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_micro-bench-server-tonic"))
        .args(["micro", "--port", "0"])
        .output()
        .expect("run micro-bench-server-tonic");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("micro is served by micro-bench-server-micro"),
        "{stderr}"
    );
}
