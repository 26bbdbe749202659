//! The systems measured, each a server and a client: [`raw`] (the limit),
//! [`micro`] (over TCP, and as `micro-nats` over NATS), [`tonic`], [`tarpc`]
//! and [`volo`] (volo-grpc); and two crossings over gRPC: tonic's client
//! against micro's server (`tonic-micro`) and micro's client against
//! tonic's server (`micro-tonic`).

pub mod micro;
pub mod raw;
pub mod tarpc;
pub mod tls;
pub mod tonic;
pub mod volo;

use serde::Serialize;

use crate::load::{MessageClock, Streamer, Unary};
use crate::payload::Payload;
use crate::workload::Workload;

/// A system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// A minimal pipelined TCP protocol: the limit.
    Raw,
    /// micro's native TCP transport.
    Micro,
    /// micro's native TCP transport with Prometheus metrics on the server
    /// and the client (`micro_runtime::metrics`; needs the `metrics`
    /// feature): the cost of metrics against the `micro` row.
    #[value(name = "micro-metrics")]
    #[serde(rename = "micro-metrics")]
    MicroMetrics,
    /// micro's native TCP transport inside TLS (rustls), certificates made
    /// for the run.
    #[value(name = "micro-tls")]
    #[serde(rename = "micro-tls")]
    MicroTls,
    /// micro over its NATS transport (request/reply through the NATS server
    /// at `MICRO_TEST_NATS`, else 127.0.0.1:4222; a note instead of a row
    /// when none answers or the `nats` feature is off).
    MicroNats,
    /// tonic 0.14 (gRPC over HTTP/2).
    Tonic,
    /// tarpc over TCP with bincode.
    Tarpc,
    /// volo-grpc 0.12 (gRPC over HTTP/2).
    Volo,
    /// tonic's client calling micro's server over gRPC (micro's TCP port
    /// answers gRPC beside the native protocol).
    #[value(name = "tonic-micro")]
    #[serde(rename = "tonic-micro")]
    TonicMicro,
    /// micro's client calling tonic's server: the node is registered with
    /// `protocols=grpc`, so micro's client picks its gRPC transport.
    #[value(name = "micro-tonic")]
    #[serde(rename = "micro-tonic")]
    MicroTonic,
    /// micro with tracing and metrics on both sides: the `micro-metrics`
    /// row plus `micro_runtime::trace::init()` (feature `otel`), traced as
    /// the `OTEL_*` variables say: plain `tracing` spans by default, every
    /// call recorded with OpenTelemetry ids and nothing exported with
    /// `OTEL_TRACES_EXPORTER=none`, a share with `OTEL_TRACES_SAMPLER`.
    /// Measured last: it installs the bench's global subscriber.
    #[value(name = "micro-trace")]
    #[serde(rename = "micro-trace")]
    MicroTrace,
}

impl System {
    /// Every system, in the order they are measured and printed.
    pub const ALL: [System; 11] = [
        System::Raw,
        System::Micro,
        System::MicroMetrics,
        System::MicroTls,
        System::MicroNats,
        System::Tonic,
        System::Tarpc,
        System::Volo,
        System::TonicMicro,
        System::MicroTonic,
        System::MicroTrace,
    ];

    /// Its name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            System::Raw => "raw",
            System::Micro => "micro",
            System::MicroMetrics => "micro-metrics",
            System::MicroTls => "micro-tls",
            System::MicroNats => "micro-nats",
            System::Tonic => "tonic",
            System::Tarpc => "tarpc",
            System::Volo => "volo",
            System::TonicMicro => "tonic-micro",
            System::MicroTonic => "micro-tonic",
            System::MicroTrace => "micro-trace",
        }
    }

    /// The system whose server process it calls.
    pub fn server(self) -> System {
        match self {
            System::TonicMicro => System::Micro,
            System::MicroTonic => System::Tonic,
            other => other,
        }
    }

    /// The binary that serves it: `micro-bench-server-<family>`, linking
    /// only that system's code (every micro variant shares micro's).
    pub fn server_binary(self) -> &'static str {
        match self.server() {
            System::Raw => "micro-bench-server-raw",
            System::Tonic => "micro-bench-server-tonic",
            System::Tarpc => "micro-bench-server-tarpc",
            System::Volo => "micro-bench-server-volo",
            _ => "micro-bench-server-micro",
        }
    }

    /// A client of one system calling another's server: measured on small
    /// unary calls only (at c=64 when it is among the concurrencies), and
    /// its failure does not fail the run.
    pub fn is_crossing(self) -> bool {
        self.server() != self
    }

    /// Why it cannot run here (a backend it needs is absent), when it
    /// cannot: `micro-nats` without a NATS server or the `nats` feature,
    /// `micro-metrics` without the `metrics` feature; never with
    /// `MICRO_TEST_REQUIRE_BACKENDS=1`.
    pub fn unavailable(self) -> Option<String> {
        if self == System::MicroTrace && !cfg!(feature = "otel") {
            return Some("micro-bench was built without its `otel` feature".into());
        }
        if std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1") {
            return None;
        }
        match self {
            System::MicroNats => micro::nats_unavailable(),
            System::MicroMetrics if !cfg!(feature = "metrics") => {
                Some("micro-bench was built without its `metrics` feature".into())
            }
            _ => None,
        }
    }

    /// Whether it can run `workload`: tarpc streams nothing; raw's
    /// protocol has server streams only.
    pub fn supports(self, workload: Workload) -> bool {
        match self {
            System::Tarpc => !workload.is_stream(),
            System::Raw => !matches!(workload, Workload::ClientStream | Workload::Bidi),
            _ => true,
        }
    }
}

impl std::fmt::Display for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Serves `system` on 127.0.0.1:`port`; `ready` gets the address once it
/// accepts calls. Returns only on failure (or never). (What `micro-bench
/// serve` runs; `rpc` starts each system's own binary instead.)
///
/// # Errors
///
/// When the server cannot start or fails.
pub async fn serve(system: System, port: u16, ready: impl FnOnce(&str)) -> anyhow::Result<()> {
    match system.server() {
        System::Raw => raw::serve(port, ready).await?,
        System::Tonic => tonic::serve(port, ready).await?,
        System::Tarpc => tarpc::serve(port, ready).await?,
        System::Volo => volo::serve(port, ready).await?,
        _ => micro::serve_system(system, port, ready).await?,
    }
    Ok(())
}

/// Connections a micro client's pool opens at this many calls in flight,
/// with the default pool options (`PoolOptions::default()`): one per
/// `streams_per_connection` calls, at most `size`. Raw and tarpc open as
/// many, so they match micro.
pub fn pool_connections(concurrency: usize) -> usize {
    let pool = micro_runtime::client::PoolOptions::default();
    concurrency
        .div_ceil(pool.streams_per_connection.max(1))
        .clamp(1, pool.size.max(1))
}

/// A client of one system.
#[derive(Clone, Debug)]
pub enum Client {
    /// See [`raw::Client`].
    Raw(raw::Client),
    /// See [`micro::Client`].
    Micro(micro::Client),
    /// See [`tonic::Client`].
    Tonic(tonic::Client),
    /// See [`tarpc::Client`].
    Tarpc(tarpc::Client),
    /// See [`volo::Client`].
    Volo(volo::Client),
}

impl Client {
    /// Connects to the `system` server at `address`, for `concurrency`
    /// calls in flight: raw and tarpc open [`pool_connections`], micro's
    /// pool opens what it opens, tonic one channel, volo its own client;
    /// `micro-tonic` is micro's client, `tonic-micro` tonic's.
    ///
    /// # Errors
    ///
    /// When it cannot connect.
    pub async fn connect(
        system: System,
        address: &str,
        concurrency: usize,
    ) -> anyhow::Result<Client> {
        let connections = pool_connections(concurrency);
        Ok(match system {
            System::Raw => Client::Raw(raw::Client::connect(address, connections).await?),
            System::Micro => {
                Client::Micro(micro::Client::connect(address, micro::Wire::Tcp).await?)
            }
            System::MicroNats => {
                Client::Micro(micro::Client::connect(address, micro::Wire::Nats).await?)
            }
            System::MicroMetrics => Client::Micro(micro::Client::connect_measured(address).await?),
            System::MicroTls => {
                Client::Micro(micro::Client::connect(address, micro::Wire::Tls).await?)
            }
            System::Tonic | System::TonicMicro => {
                Client::Tonic(tonic::Client::connect(address).await?)
            }
            System::MicroTonic => Client::Micro(micro::Client::connect_grpc(address).await?),
            System::MicroTrace => {
                micro::trace()?;
                Client::Micro(micro::Client::connect_traced(address).await?)
            }
            System::Tarpc => Client::Tarpc(tarpc::Client::connect(address, connections).await?),
            System::Volo => Client::Volo(volo::Client::connect(address).await?),
        })
    }

    /// One unary call, on `connection` where the system lets us choose.
    ///
    /// # Errors
    ///
    /// The call's failure, as text.
    pub async fn hello(&self, connection: usize, payload: &Payload) -> Result<(), String> {
        match self {
            Client::Raw(c) => c.hello(connection, payload).await,
            Client::Micro(c) => c.hello(payload).await,
            Client::Tonic(c) => c.hello(payload).await,
            Client::Tarpc(c) => c.hello(connection, payload).await,
            Client::Volo(c) => c.hello(payload).await,
        }
    }

    /// One streaming call of `count` messages: `HelloStream` (server
    /// streaming), `Collect` (client streaming) or `Chat` (bidi), as
    /// `workload` says.
    ///
    /// # Errors
    ///
    /// The call's failure, or a system that cannot run `workload`.
    pub async fn stream(
        &self,
        workload: Workload,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> Result<(), String> {
        match (self, workload) {
            (Client::Raw(c), Workload::Stream) => c.stream(payload, count, clock).await,
            (Client::Micro(c), Workload::Stream) => c.stream(payload, count, clock).await,
            (Client::Micro(c), Workload::ClientStream) => c.collect(payload, count, clock).await,
            (Client::Micro(c), Workload::Bidi) => c.chat(payload, count, clock).await,
            (Client::Tonic(c), Workload::Stream) => c.stream(payload, count, clock).await,
            (Client::Tonic(c), Workload::ClientStream) => c.collect(payload, count, clock).await,
            (Client::Tonic(c), Workload::Bidi) => c.chat(payload, count, clock).await,
            (Client::Volo(c), Workload::Stream) => c.stream(payload, count, clock).await,
            (Client::Volo(c), Workload::ClientStream) => c.collect(payload, count, clock).await,
            (Client::Volo(c), Workload::Bidi) => c.chat(payload, count, clock).await,
            _ => Err(format!(
                "this system cannot run the {} workload",
                workload.label()
            )),
        }
    }

    /// Connections the client uses at this concurrency: what micro's pool
    /// holds (measured), one for tonic's channel and volo's client,
    /// [`pool_connections`] for raw and tarpc.
    pub fn connections(&self, concurrency: usize) -> usize {
        match self {
            Client::Micro(c) => c.open_connections(),
            Client::Tonic(_) | Client::Volo(_) => 1,
            Client::Raw(_) | Client::Tarpc(_) => pool_connections(concurrency),
        }
    }
}

/// A unary workload on one client: task `i` calls on connection
/// `i % connections` (where the system lets the caller choose).
#[derive(Debug)]
pub struct UnaryCall {
    /// The client.
    pub client: Client,
    /// The request.
    pub payload: Payload,
    /// Connections to spread the tasks over.
    pub connections: usize,
}

impl Unary for UnaryCall {
    async fn call(&self, task: usize) -> Result<(), String> {
        self.client
            .hello(task % self.connections.max(1), &self.payload)
            .await
    }
}

/// A streaming workload on one client.
#[derive(Debug)]
pub struct StreamCall {
    /// The client.
    pub client: Client,
    /// Which kind of stream.
    pub workload: Workload,
    /// The name streamed.
    pub payload: Payload,
}

impl Streamer for StreamCall {
    async fn stream(&self, count: u32, clock: &mut MessageClock) -> Result<(), String> {
        self.client
            .stream(self.workload, &self.payload, count, clock)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_connections_follow_micro_defaults() {
        assert_eq!(pool_connections(1), 1);
        assert_eq!(pool_connections(64), 1);
        assert_eq!(pool_connections(65), 2);
        assert_eq!(pool_connections(256), 2);
    }
}
