//! The etcd v3 client the etcd-backed building blocks share (the registry,
//! and the store, locks and leaders, and config source built on it): the
//! generated gRPC stubs (KV, Watch, Lease) and a connection to a cluster's
//! endpoints with failover and a time limit on every call.

pub(crate) mod client;
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod pb;
#[cfg(feature = "config")]
pub(crate) mod prefix;
