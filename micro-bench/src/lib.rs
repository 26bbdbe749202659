//! micro-bench: measures micro's RPC against the limit of a minimal TCP
//! protocol ("raw"), tonic, tarpc and volo-grpc, with client and server in
//! separate processes on loopback.
//!
//! `micro-bench gateway` measures micro-gateway with wrk against a bare
//! axum handler ([`gateway`]).
//!
//! The binary (`micro-bench rpc`) starts the server of each system as a
//! process of its own (`micro-bench-server-<system> <system> --port 0`, a
//! binary linking only that system: [`server`]), drives it with the
//! workloads of [`workload`], and prints the table of [`report`].

#![forbid(unsafe_code)]

pub mod cli;
pub mod gateway;
pub mod load;
pub mod payload;
pub mod proc;
#[cfg(feature = "nats")]
pub mod pubsub;
pub mod report;
pub mod runner;
pub mod server;
pub mod soak;
pub mod systems;
pub mod workload;

/// Code micro-codegen generated from `proto/greeter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    micro_runtime::include_proto!("greeter.v1");
}

/// Code tonic-prost-build generated from `proto/greeter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod tonic_pb {
    include!(concat!(env!("OUT_DIR"), "/tonic/greeter.v1.rs"));
}

/// Code volo-build generated from `proto/greeter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod volo_pb {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}
