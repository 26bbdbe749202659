//! gRPC over HTTP/2 beside the native protocol: what the gRPC server (the
//! TCP listener's HTTP/2 side) and the gRPC client transport share: status
//! codes mapped to micro's error codes and back, `grpc-timeout` values and
//! the length-prefixed message framing; and the gRPC server. What follows
//! is `docs/grpc.md` in the repository.
#![doc = include_str!("../../../../docs/grpc.md")]

mod client;
mod client_body;
mod client_conn;
mod client_response;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod message;
pub(crate) mod server;
mod status;
mod timeout;

pub use client::{GrpcOptions, GrpcTransport};
pub(crate) use message::{MessageDecoder, encode_message};
pub use status::{ERROR_HEADER, code_from_grpc, grpc_from_code};
pub(crate) use status::{ErrorTrailers, error_from_status};
pub(crate) use timeout::{format_timeout, parse_timeout};
