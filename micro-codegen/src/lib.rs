//! micro-codegen: turns `.proto` service definitions into Rust, from a
//! `build.rs`, with no `protoc` on the machine (files are parsed by
//! [protox](https://docs.rs/protox)).
//!
//! For each package it writes one file, `<package>.rs` in `OUT_DIR`, holding:
//! * the messages (prost) with proto3 JSON serde support (pbjson);
//! * per service `Greeter`: the handler trait `Greeter` (one `async fn` per
//!   method), the typed client `GreeterClient`, and the endpoint descriptors
//!   `GreeterClient::ENDPOINTS` (name, types, streaming kind, docs from the
//!   proto comments, idempotency from `option idempotency_level`);
//! * `FILE_DESCRIPTOR_SET`, the package's encoded descriptor set (comments
//!   kept), and `JSON_SCHEMAS`, the JSON Schema of every top-level message
//!   (proto3 JSON mapping; see the rules below), which a running service
//!   serves from `Debug.Describe` so tools need no `.proto` file.
//!
//! # JSON Schema
//!
//! Schemas are JSON Schema 2020-12 and follow the proto3 JSON mapping that
//! micro's JSON codec speaks:
//!
//! * property names are the lowerCamelCase `json_name`s; unknown properties
//!   are refused; only proto2 `required` fields are `required`;
//! * `int64`/`uint64`/`sint64`/`fixed64`/`sfixed64` are decimal strings with a
//!   `pattern` (the codec also accepts numbers); `bytes` are base64 strings;
//!   enums are their value names;
//! * messages are `$ref`s into `$defs` keyed by full proto name (the root is
//!   inlined and referred to as `#`), so recursive messages work;
//! * a `oneof`'s members are plain properties marked `"x-oneof": "<name>"`,
//!   with `dependentSchemas` forbidding a second member;
//! * well-known types take their JSON forms (`Timestamp` a `date-time`
//!   string, `Duration` `"1.5s"`, wrappers the nullable primitive, ...);
//! * `.proto` comments become `description`s.
//!
//! # Examples
//!
//! `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     micro_codegen::compile_protos(&["proto/greeter.proto"], &["proto"])?;
//!     Ok(())
//! }
//! ```
//!
//! and in the crate:
//!
//! ```ignore
//! pub mod pb {
//!     micro_runtime::include_proto!("greeter.v1");
//! }
//! ```

#![forbid(unsafe_code)]

mod builder;
mod embed;
mod error;
mod json_schema;
mod service_gen;

pub use builder::Builder;
pub use error::Error;

use std::path::Path;

/// Compiles `protos` (searched for in `includes`) into `OUT_DIR` with the
/// default settings. See [`Builder`] for more control.
///
/// # Errors
///
/// A `.proto` that does not parse or resolve: the error names the file,
/// line and column and says why. I/O errors writing the output.
pub fn compile_protos(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Error> {
    Builder::new().compile(protos, includes)
}
