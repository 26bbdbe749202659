//! Typed dynamic configuration (cargo feature `config`): any
//! `serde::Deserialize` type, merged from defaults, a file, environment
//! variables and (feature `etcd`) an etcd key prefix, and followed as the
//! file and etcd change.
#![doc = include_str!("../../../docs/config.md")]

mod builder;
#[cfg(feature = "etcd")]
pub mod etcd;
mod file;
mod file_watch;
mod handle;
mod redact;
mod reload;
mod sources;

pub use builder::{ConfigBuilder, DEFAULT_DEBOUNCE};
pub use handle::Config;
