//! What a package's generated file embeds so that a running service can
//! describe it: the encoded descriptor set (with comments) and the JSON Schema
//! of every top-level message and of every request and response of its
//! services.

use std::collections::BTreeSet;

use prost::Message;
use prost_types::FileDescriptorSet;

use crate::json_schema::SchemaIndex;

/// The Rust items appended to the generated file of `package`:
/// `FILE_DESCRIPTOR_SET` and `JSON_SCHEMAS`.
pub(crate) fn package_items(
    package: &str,
    fds: &FileDescriptorSet,
    index: &SchemaIndex<'_>,
) -> String {
    let own = package_set(package, fds);
    let bytes = own.encode_to_vec();
    let mut schemas = String::new();
    for name in described_messages(package, fds) {
        if let Some(schema) = index.schema(&name) {
            let text = serde_json::to_string(&schema).expect("a JSON value serializes");
            schemas.push_str(&format!("    ({name:?}, {}),\n", raw_string(&text)));
        }
    }
    format!(
        "/// The encoded `google.protobuf.FileDescriptorSet` of this package's\n\
         /// `.proto` files and everything they import, comments included: what\n\
         /// `Debug.Describe` hands to tools, which need no `.proto` file.\n\
         pub const FILE_DESCRIPTOR_SET: &[u8] = {};\n\n\
         /// The JSON Schema (2020-12, proto3 JSON mapping) of every top-level\n\
         /// message of this package and every request and response of its\n\
         /// services, by full proto name.\n\
         pub const JSON_SCHEMAS: &[(&str, &str)] = &[\n{schemas}];\n",
        byte_string(&bytes)
    )
}

/// The top-level messages of `package`, then the requests and responses of
/// its services that other packages define.
fn described_messages(package: &str, fds: &FileDescriptorSet) -> Vec<String> {
    let files: Vec<_> = fds.file.iter().filter(|f| f.package() == package).collect();
    let mut names: Vec<String> = files
        .iter()
        .flat_map(|f| &f.message_type)
        .map(|m| match package {
            "" => m.name().to_owned(),
            _ => format!("{package}.{}", m.name()),
        })
        .collect();
    let methods = files
        .iter()
        .flat_map(|f| &f.service)
        .flat_map(|s| &s.method);
    for ty in methods.flat_map(|m| [m.input_type(), m.output_type()]) {
        let ty = ty.trim_start_matches('.');
        if !names.iter().any(|n| n == ty) {
            names.push(ty.to_owned());
        }
    }
    names
}

/// The files of `package` and, transitively, the files they import, in the
/// order of `fds` (dependencies first, as protox lists them).
fn package_set(package: &str, fds: &FileDescriptorSet) -> FileDescriptorSet {
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    let mut pending: Vec<&str> = fds
        .file
        .iter()
        .filter(|f| f.package() == package)
        .map(|f| f.name())
        .collect();
    while let Some(name) = pending.pop() {
        if !wanted.insert(name) {
            continue;
        }
        if let Some(file) = fds.file.iter().find(|f| f.name() == name) {
            pending.extend(file.dependency.iter().map(String::as_str));
        }
    }
    FileDescriptorSet {
        file: fds
            .file
            .iter()
            .filter(|f| wanted.contains(f.name()))
            .cloned()
            .collect(),
    }
}

/// `bytes` as a Rust byte string literal.
fn byte_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 3);
    out.push_str("b\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// `text` as a Rust raw string literal with enough `#`s.
fn raw_string(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let fence = "#".repeat(hashes);
    format!("r{fence}\"{text}\"{fence}")
}

#[cfg(test)]
mod tests {
    use super::{byte_string, raw_string};

    #[test]
    fn literals_escape_what_they_must() {
        assert_eq!(byte_string(b"a\"\\\n\xff"), r#"b"a\"\\\x0a\xff""#);
        assert_eq!(
            raw_string(r##"{"$ref":"#"}"##),
            r###"r##"{"$ref":"#"}"##"###
        );
        assert_eq!(raw_string("{}"), "r#\"{}\"#");
    }
}
