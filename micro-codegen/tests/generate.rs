//! What micro-codegen generates, and how it reports a broken `.proto`.

use std::path::Path;

use micro_codegen::{Builder, Error};

/// The generated code for `proto/greeter.proto` must match the golden file:
/// a change to the generator shows up in review as a diff of this file.
/// Run with `MICRO_BLESS=1` to accept a deliberate change.
#[test]
fn greeter_code_matches_the_golden_file() {
    let files = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&["../proto/greeter.proto"], &["../proto"])
        .unwrap();
    let code = &files["greeter.v1.rs"];
    let golden = Path::new("tests/golden/greeter.v1.rs");
    if std::env::var_os("MICRO_BLESS").is_some() {
        std::fs::write(golden, code).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap();
    if *code != expected {
        let first = code
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(code.lines().count().min(expected.lines().count()));
        panic!(
            "generated code changed (first difference at line {}); review it and rerun with MICRO_BLESS=1\n\
             generated: {:?}\nexpected:  {:?}",
            first + 1,
            code.lines().nth(first),
            expected.lines().nth(first)
        );
    }
}

#[test]
fn generated_code_carries_descriptors_docs_and_idempotency() {
    let files = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&["../proto/greeter.proto"], &["../proto"])
        .unwrap();
    let code = &files["greeter.v1.rs"];
    for expected in [
        "pub trait Greeter",
        "pub struct GreeterClient",
        "name: \"Greeter.Hello\"",
        "request_type: \"greeter.v1.Request\"",
        "docs: \"Says hello to one person.\"",
        "idempotent: true",
        "kind: ::micro_runtime::endpoint::CallKind::Bidi",
        "impl serde::Serialize for Request",
        ".proto_package(\"greeter.v1\", FILE_DESCRIPTOR_SET, JSON_SCHEMAS)",
        "pub const FILE_DESCRIPTOR_SET: &[u8] = b\"",
        "(\"greeter.v1.Request\", r#\"{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\"",
    ] {
        assert!(code.contains(expected), "missing {expected:?}");
    }
}

#[test]
fn requests_from_another_package_are_described_with_the_service() {
    let dir = std::env::temp_dir().join(format!("micro-codegen-{}-cross", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.proto"),
        "syntax = \"proto3\";\npackage a;\n// A request.\nmessage Req { int64 id = 1; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.proto"),
        "syntax = \"proto3\";\npackage b;\nimport \"a.proto\";\n\
         service S { rpc Get(a.Req) returns (a.Req); }\n",
    )
    .unwrap();
    let files = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&[dir.join("b.proto")], &[&dir])
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let b = &files["b.rs"];
    assert!(b.contains(r#"("a.Req", r#"{"#), "{b}");
    assert!(b.contains(r#""description":"A request.""#), "{b}");
    assert!(files["a.rs"].contains(r#"("a.Req", r#"{"#));
}

fn broken(name: &str, text: &str) -> Error {
    let dir = std::env::temp_dir().join(format!("micro-codegen-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.proto")), text).unwrap();
    let err = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&[dir.join(format!("{name}.proto"))], &[&dir])
        .unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    err
}

#[test]
fn a_syntax_error_names_file_line_and_reason() {
    let err = broken(
        "syntax",
        "syntax = \"proto3\";\npackage p;\nmessage M {\n  string name = 1\n}\n",
    );
    let text = err.to_string();
    assert!(matches!(err, Error::Proto(_)), "{text}");
    assert!(text.contains("syntax.proto:5:1"), "{text}");
    assert!(text.contains("expected ';'"), "{text}");
    // A build script that returns the error prints the same text.
    assert_eq!(format!("{err:?}"), text);
}

#[test]
fn an_unknown_type_names_file_line_and_reason() {
    let err = broken(
        "unknown",
        "syntax = \"proto3\";\npackage p;\nservice S {\n  rpc Get(Missing) returns (Missing);\n}\n",
    );
    let text = err.to_string();
    assert!(text.contains("unknown.proto:4:"), "{text}");
    assert!(text.contains("Missing"), "{text}");
}

#[test]
fn a_missing_file_is_named() {
    let err = Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&["../proto/nope.proto"], &["../proto"])
        .unwrap_err();
    assert!(err.to_string().contains("nope.proto"), "{err}");
}
