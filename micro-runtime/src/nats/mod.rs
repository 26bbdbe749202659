//! The NATS client connection shared by the NATS broker (`broker::nats`)
//! and the NATS transport (`transport::nats`), cargo feature `nats`: server
//! addresses, connect options, reconnection, and metadata as NATS headers.

mod connection;
mod headers;

pub(crate) use connection::Connection;
pub(crate) use headers::{can_travel, from_headers, from_headers_except, to_headers};

/// The default server address.
pub(crate) const DEFAULT_ADDRESS: &str = "nats://127.0.0.1:4222";
