//! micro-codegen: turns `.proto` service definitions into Rust, from a
//! `build.rs`, with no `protoc` on the machine (files are parsed by
//! [protox](https://docs.rs/protox)).
//!
//! For each package it writes one file, `<package>.rs` in `OUT_DIR`, holding:
//! * the messages (prost) with proto3 JSON serde support (pbjson);
//! * per service `Greeter`: the handler trait `Greeter` (one `async fn` per
//!   method), the typed client `GreeterClient`, and the endpoint descriptors
//!   `GreeterClient::ENDPOINTS` (name, types, streaming kind, docs from the
//!   proto comments, idempotency from `option idempotency_level`).
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
mod error;
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
