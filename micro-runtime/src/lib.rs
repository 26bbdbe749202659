//! micro-runtime: everything that runs in a micro service.
//!
//! Discovery ([`registry`]), selection ([`selector`]), calls ([`client`]),
//! serving ([`server`], [`service`](mod@service)), the wire ([`transport`], [`codec`]),
//! middleware ([`wrapper`]; [`auth`] and [`resilience`] among them), the
//! call [`Context`] and the one [`Error`] model;
//! what a service says about itself to tools ([`debug`], [`schema`]).
//!
//! # Examples
//!
//! A code-first service and its generated client, in one process:
//!
//! ```
//! use micro_runtime::{Context, Result, Service};
//!
//! #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
//! pub struct Sum { #[prost(int64, repeated, tag = "1")] pub terms: Vec<i64> }
//! #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
//! pub struct Total { #[prost(int64, tag = "1")] pub value: i64 }
//!
//! pub struct Calculator;
//!
//! #[micro_runtime::service]
//! impl Calculator {
//!     /// Adds the terms.
//!     async fn add(&self, _ctx: Context, req: Sum) -> Result<Total> {
//!         Ok(Total { value: req.terms.iter().sum() })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let registry = std::sync::Arc::new(micro_runtime::registry::memory::MemoryRegistry::new());
//! let transport = std::sync::Arc::new(micro_runtime::transport::memory::MemoryTransport::new());
//! let service = Service::builder()
//!     .name("calculator")
//!     .registry(registry)
//!     .transport(transport)
//!     .build()?;
//! service.handle(Calculator)?;
//! service.start().await?;
//!
//! let calc = CalculatorClient::new("calculator", service.client());
//! assert_eq!(calc.add(Sum { terms: vec![1, 2, 3] }).await?.value, 6);
//! service.stop().await
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod auth;
pub mod broker;
mod chain;
pub mod client;
pub mod codec;
#[cfg(feature = "config")]
pub mod config;
mod context;
pub mod debug;
pub mod defaults;
pub mod endpoint;
mod env_vars;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod log;
mod metadata;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "nats")]
mod nats;
pub mod registry;
pub mod resilience;
pub mod schema;
pub mod selector;
pub mod server;
pub mod service;
pub mod store;
mod streaming;
pub mod sync;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
pub mod transport;
pub mod wrapper;

pub use broker::Subscriber;
pub use client::{CallOptions, Client, ClientOptions};
pub use context::Context;
pub use env_vars::parse_duration;
pub use error::{Error, Result};
pub use metadata::Metadata;
pub use micro_macros::{service, subscriber};
pub use service::{Service, ServiceBuilder, shutdown_signal};
pub use streaming::{BidiStream, ClientStreaming, Receiver, Sender};

/// Re-exports for generated code. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::probe::{Probe, ViaProst, ViaProstSerde, ViaSerde};
    pub use crate::schema::probe::{ViaAnything, ViaJsonSchema};
    pub use ::bytes;
    pub use ::pbjson;
    pub use ::pbjson_types;
    pub use ::prost;
    pub use ::serde;
}

/// Includes the code `micro-codegen` generated for a proto package.
///
/// # Examples
///
/// ```ignore
/// pub mod pb {
///     micro_runtime::include_proto!("greeter.v1");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}
