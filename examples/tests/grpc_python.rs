//! A real greeter-server (with the `Mirror` handler) called over gRPC by
//! Python's grpcio (the venv of `MICRO_TEST_PYTHON`): the four kinds of
//! call, status codes of unknown methods, services and errors (with micro's
//! error in the `micro-error-bin` trailer), a deadline, metadata reaching
//! the handler, the health service and reflection through grpcio's own
//! clients. The stubs are generated at test time with grpc_tools.protoc.

mod common;

use std::process::Command;

use common::{direct_server, python, stop_server};
use serde_json::{Value, json};

#[test]
fn grpcio_calls_a_micro_service() {
    let Some(python) = python() else {
        return;
    };
    let (server, address) = direct_server(&[("GREETER_MIRROR", "1")]);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/grpc_client.py"
        ))
        .arg(&address)
        .arg(format!("{root}/proto"))
        .output()
        .expect("running the python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python client failed: {}\nstdout: {stdout}\nserver stderr:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.stderr()
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");

    assert_eq!(seen["unary"], "Hello Ada");
    assert_eq!(
        seen["server_stream"],
        json!(["Hello Bo #1", "Hello Bo #2", "Hello Bo #3"])
    );
    assert_eq!(seen["client_stream"], "Hello A, B");
    assert_eq!(seen["bidi"], json!(["Hello X", "Hello Y", "Hello Z"]));

    for case in ["unknown_method", "unknown_service", "wrong_package"] {
        assert_eq!(
            seen[case]["code"], "UNIMPLEMENTED",
            "{case}: {}",
            seen[case]
        );
    }
    let conflict = &seen["conflict"];
    assert_eq!(conflict["code"], "ABORTED", "{conflict}");
    assert_eq!(conflict["details"], "mirror asked to fail");
    assert_eq!(conflict["micro_error"]["code"], 409, "{conflict}");
    assert_eq!(conflict["micro_error"]["id"], examples::SERVICE);
    assert_eq!(seen["server_timeout"]["code"], "DEADLINE_EXCEEDED");
    assert_eq!(seen["deadline"]["code"], "DEADLINE_EXCEEDED");
    let metadata: Vec<&str> = seen["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(metadata.contains(&"x-user=ada"), "{metadata:?}");
    assert!(
        metadata.contains(&"trace-bin=AAEC"),
        "a -bin value stays base64: {metadata:?}"
    );
    assert!(
        !metadata
            .iter()
            .any(|m| m.starts_with("grpc-") || m.starts_with("content-type")),
        "protocol headers are not metadata: {metadata:?}"
    );
    assert_eq!(seen["after_errors"], "Hello again");

    assert_eq!(
        seen["health"],
        json!({"": "SERVING", "greeter.v1.Greeter": "SERVING", "nope": "NOT_FOUND"})
    );
    assert_eq!(seen["watch_first"], "SERVING");

    assert_eq!(
        seen["reflection_services"],
        json!([
            "describe.v1.Mirror",
            "greeter.v1.Greeter",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"
        ])
    );
    assert_eq!(
        seen["reflection_methods"],
        json!(["Hello", "HelloStream", "Collect", "Chat"])
    );
    assert_eq!(seen["reflection_file"], "greeter.proto");
    assert!(seen["reflection_thing_fields"].as_u64().unwrap() >= 20);
    assert_eq!(seen["reflection_missing"], "not found");

    // Every call above went through the handler wrapper that counts calls.
    assert!(stop_server(server) > 0);
}
