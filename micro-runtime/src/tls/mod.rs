//! TLS and mutual TLS for the TCP listener (native protocol and gRPC on one
//! port) and for the clients that dial it (cargo feature `tls`; rustls
//! with the ring provider). The guide is `docs/tls.md` in the repository.
#![doc = include_str!("../../../docs/tls.md")]

mod client;
mod env;
mod failure;
mod pem;
mod server;
mod tap;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use client::{ClientTls, ClientTlsBuilder};
pub(crate) use failure::{dial_error, dial_result};
pub use server::{ServerTls, ServerTlsBuilder};
pub(crate) use tap::Tapped;

/// ALPN of HTTP/2: gRPC.
pub(crate) const ALPN_H2: &[u8] = b"h2";
/// ALPN of the native protocol.
pub(crate) const ALPN_MICRO: &[u8] = b"micro/1";

/// rustls with ring (which async-nats and lapin already pull in).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
