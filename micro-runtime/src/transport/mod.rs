//! Transports: how calls travel between a client and a server.
//!
//! A [`Transport`] dials [`Connection`]s and listens with a [`Dispatcher`].
//! Every connection multiplexes many calls. Built in: `tcp`, the native
//! protocol (default, see [`tcp`] for the frame layout), `memory`, for one
//! process and tests, `grpc`, whose client calls gRPC servers over HTTP/2
//! ([`grpc::GrpcTransport`]), and `nats` (cargo feature `nats`): RPC as NATS
//! request/reply, for nodes that cannot accept connections.

mod advertise;
mod connection;
mod credits;
pub mod grpc;
mod head;
mod in_flight;
mod inbound;
pub mod memory;
#[cfg(feature = "nats")]
pub mod nats;
mod run;
mod stream;
pub mod tcp;

pub(crate) use advertise::advertise_address;
pub use connection::{
    Connection, Dispatcher, IncomingBody, IncomingCall, Listener, ResponseFuture, Security,
    Transport,
};
pub(crate) use credits::Credits;
pub use head::RequestHead;
pub(crate) use in_flight::{InFlight, InFlightGuard};
pub(crate) use inbound::Inbound;
pub(crate) use run::MessageRun;
pub(crate) use stream::{
    Canceller, FrameSink, InboundBudget, LOCAL_STREAM_WINDOW, RemoteStream, StreamItem, channel,
};

/// The node metadata key listing the protocols a node answers, comma
/// separated: `micro` (the native protocol) and `grpc`. A client calls a
/// node over gRPC when it lists `grpc` and not `micro`.
pub const PROTOCOLS_METADATA: &str = "protocols";

/// The node metadata key saying its port serves TLS only (`1`); see
/// [`Security`].
pub const TLS_METADATA: &str = "tls";
/// The node metadata key saying its port requires a client certificate
/// (`1`, mutual TLS).
pub const MTLS_METADATA: &str = "mtls";

pub use stream::{DEFAULT_STREAM_WINDOW, MESSAGE_OVERHEAD, RawReceiver, RawSender};
