//! micro: the greeter over micro's native TCP transport (or, as the system
//! `micro-nats`, over its NATS transport), as a user builds it — a
//! `Service` (that transport, memory registry) serving a
//! `#[micro_runtime::service]` impl of the generated `Greeter` trait behind
//! one handler wrapper; a `Client` that discovers the server in a
//! `MemoryRegistry` (so every call goes through the selector and the
//! connection pool) behind one client wrapper, called through the
//! generated `GreeterClient`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::registry::{self, Registry as _};
use micro_runtime::transport::Transport;
use micro_runtime::transport::tcp::TcpTransport;
use micro_runtime::transport::{PROTOCOLS_METADATA, TLS_METADATA};
use micro_runtime::wrapper::{
    ClientNext, ClientRequest, HandlerNext, HandlerRequest, client_fn, handler_fn,
};
use micro_runtime::{Context, Receiver, Result, Sender, Service};

use crate::load::MessageClock;
use crate::payload::{self, Payload};
use crate::pb;

/// The transport a micro system runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// The native protocol over TCP.
    Tcp,
    /// NATS request/reply, through the server at [`nats_address`].
    Nats,
    /// The native protocol over TCP inside TLS: the server's certificate
    /// from `MICRO_TLS_CERT`/`MICRO_TLS_KEY`, the client trusting
    /// [`super::tls::dir`]'s CA.
    Tls,
}

/// The NATS server of the `micro-nats` system: `MICRO_TEST_NATS`
/// (host:port or URL), else `nats://127.0.0.1:4222`.
pub fn nats_address() -> String {
    match std::env::var("MICRO_TEST_NATS") {
        Ok(address) if !address.trim().is_empty() => {
            format!("nats://{}", address.trim().trim_start_matches("nats://"))
        }
        _ => "nats://127.0.0.1:4222".to_owned(),
    }
}

/// Why the `micro-nats` system cannot run: the `nats` feature is off, or
/// no server accepts connections at [`nats_address`].
pub fn nats_unavailable() -> Option<String> {
    if !cfg!(feature = "nats") {
        return Some("micro-bench was built without its `nats` feature".into());
    }
    let address = nats_address();
    let host_port = address.trim_start_matches("nats://");
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    (!reachable).then(|| format!("no NATS server answers at {address} (set MICRO_TEST_NATS)"))
}

fn transport(wire: Wire) -> Result<Arc<dyn Transport>> {
    match wire {
        Wire::Tcp => Ok(Arc::new(TcpTransport::default())),
        Wire::Nats => nats_transport(),
        Wire::Tls => Ok(Arc::new(TcpTransport::default().tls_from_env()?)),
    }
}

/// The client's transport: TLS trusting the run's CA for [`Wire::Tls`].
fn client_transport(wire: Wire) -> Result<Arc<dyn Transport>> {
    if wire != Wire::Tls {
        return transport(wire);
    }
    let ca = super::tls::dir()
        .map_err(|e| micro_runtime::Error::internal(format!("{e:#}")))?
        .join("ca.pem");
    let tls = micro_runtime::tls::ClientTls::builder()
        .ca_file(ca)
        .build()?;
    Ok(Arc::new(TcpTransport::default().client_tls(tls)))
}

#[cfg(feature = "nats")]
fn nats_transport() -> Result<Arc<dyn Transport>> {
    use micro_runtime::transport::nats::{NatsTransport, NatsTransportOptions};
    Ok(Arc::new(NatsTransport::new(NatsTransportOptions {
        address: nats_address(),
        ..NatsTransportOptions::default()
    })))
}

#[cfg(not(feature = "nats"))]
fn nats_transport() -> Result<Arc<dyn Transport>> {
    Err(micro_runtime::Error::bad_request(
        "micro-bench was built without its `nats` feature: no micro-nats row",
    ))
}

/// Installs micro's tracing (`micro_runtime::trace::init`) in this process,
/// once: spans of every traced client and service from then on.
///
/// # Errors
///
/// When a variable `init` reads does not parse.
pub fn trace() -> Result<()> {
    if TRACED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    match micro_runtime::trace::init() {
        Err(err) if err.code() != 409 => Err(err),
        _ => Ok(()),
    }
}

/// Set once [`trace`] ran in this process.
static TRACED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The name the bench registers the greeter under.
pub const SERVICE: &str = "micro.bench.greeter";

/// The bench's greeter: `Hello <name>`, and streams of as many messages as
/// the request asks for (`name*count`).
#[derive(Debug, Default)]
pub struct BenchGreeter;

#[micro_runtime::service]
impl pb::Greeter for BenchGreeter {
    async fn hello(&self, _ctx: Context, request: pb::Request) -> Result<pb::Response> {
        Ok(pb::Response {
            greeting: payload::greeting(&request.name),
        })
    }

    async fn hello_stream(
        &self,
        _ctx: Context,
        request: pb::Request,
        responses: Sender<pb::Response>,
    ) -> Result<()> {
        let (name, count) = payload::parse_stream_request(&request.name);
        let greeting = payload::greeting(name);
        for _ in 0..count {
            responses
                .send(pb::Response {
                    greeting: greeting.clone(),
                })
                .await?;
        }
        Ok(())
    }

    async fn collect(
        &self,
        _ctx: Context,
        mut requests: Receiver<pb::Request>,
    ) -> Result<pb::Response> {
        let mut names = Vec::new();
        while let Some(request) = requests.recv().await? {
            names.push(request.name);
        }
        Ok(pb::Response {
            greeting: payload::greeting(&names.join(", ")),
        })
    }

    async fn chat(
        &self,
        _ctx: Context,
        mut requests: Receiver<pb::Request>,
        responses: Sender<pb::Response>,
    ) -> Result<()> {
        while let Some(request) = requests.recv().await? {
            responses
                .send(pb::Response {
                    greeting: payload::greeting(&request.name),
                })
                .await?;
        }
        Ok(())
    }
}

/// Serves the micro variant `system` (`micro`, `micro-tls`, `micro-nats`,
/// `micro-metrics`, `micro-trace`; `tonic-micro` calls `micro`'s server)
/// on 127.0.0.1:`port`, as [`serve`] says.
///
/// # Errors
///
/// As [`serve`]; a system that is not micro's.
pub async fn serve_system(
    system: super::System,
    port: u16,
    ready: impl FnOnce(&str),
) -> anyhow::Result<()> {
    use super::System;
    match system.server() {
        System::Micro => serve(port, Wire::Tcp, ready).await?,
        System::MicroNats => serve(port, Wire::Nats, ready).await?,
        System::MicroTrace => {
            trace()?;
            serve_measured(port, ready).await?
        }
        System::MicroMetrics => serve_measured(port, ready).await?,
        System::MicroTls => serve(port, Wire::Tls, ready).await?,
        other => anyhow::bail!("{other} is not served by micro"),
    }
    Ok(())
}

/// Serves the micro service on 127.0.0.1:`port` (over NATS: on a node
/// subject), calls `ready` with the address it registered, and serves
/// until SIGTERM or SIGINT, then drains (calls in flight finish).
///
/// # Errors
///
/// When the service cannot be built or started (NATS unreachable, too).
pub async fn serve(port: u16, wire: Wire, ready: impl FnOnce(&str)) -> Result<()> {
    let service = builder(port, wire)?
        .wrap_handler(handler_fn(|req: HandlerRequest, next: HandlerNext| {
            next.run(req)
        }))
        .build()?;
    serve_service(service, ready).await
}

/// Like [`serve`] over TCP, with metrics instead of the passthrough
/// wrapper (the `micro-metrics` system).
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_measured(port: u16, ready: impl FnOnce(&str)) -> Result<()> {
    #[cfg(feature = "metrics")]
    let builder = builder(port, Wire::Tcp)?.metrics(micro_runtime::metrics::Metrics::new());
    #[cfg(not(feature = "metrics"))]
    let builder = builder(port, Wire::Tcp)?;
    serve_service(builder.build()?, ready).await
}

/// The bench service's builder, without wrappers.
fn builder(port: u16, wire: Wire) -> Result<micro_runtime::ServiceBuilder> {
    Ok(Service::builder()
        .name(SERVICE)
        .version("1.0.0")
        .address(format!("127.0.0.1:{port}"))
        .registry(Arc::new(MemoryRegistry::new()))
        .transport(transport(wire)?))
}

async fn serve_service(service: Service, ready: impl FnOnce(&str)) -> Result<()> {
    service.handle(BenchGreeter)?;
    service.start().await?;
    let address = service
        .address()
        .await
        .ok_or_else(|| micro_runtime::Error::internal("started service has no address"))?;
    ready(&address);
    micro_runtime::shutdown_signal().await;
    service.stop().await
}

/// A micro client of the bench server.
#[derive(Clone, Debug)]
pub struct Client {
    client: micro_runtime::Client,
    greeter: pb::GreeterClient,
}

impl Client {
    /// Registers `address` as a node of the service in a fresh memory
    /// registry ([`registry`]) and builds a client (with one passthrough
    /// wrapper) on it.
    ///
    /// # Errors
    ///
    /// When the registry or the client refuses.
    pub async fn connect(address: &str, wire: Wire) -> Result<Client> {
        if wire == Wire::Tls {
            let metadata = BTreeMap::from([
                ("transport".to_owned(), "tcp".to_owned()),
                (TLS_METADATA.to_owned(), "1".to_owned()),
            ]);
            return Self::connect_to(registry_with(address, metadata).await?, wire);
        }
        Self::connect_to(registry(address).await?, wire)
    }

    /// Like [`Client::connect_measured`], with the client traced too
    /// (`micro_runtime::trace::instrument`; [`trace`] installs the
    /// subscriber): the `micro-trace` system.
    ///
    /// # Errors
    ///
    /// When the registry or the client refuses.
    pub async fn connect_traced(address: &str) -> Result<Client> {
        let builder = micro_runtime::trace::instrument(micro_runtime::Client::builder());
        Self::measured(builder, address).await
    }

    /// Like [`Client::connect`] for a gRPC server (tonic's): the node is
    /// registered with `protocols=grpc` only, so the client calls it with
    /// its gRPC transport, chosen by that metadata.
    ///
    /// # Errors
    ///
    /// When the registry or the client refuses.
    pub async fn connect_grpc(address: &str) -> Result<Client> {
        let metadata = BTreeMap::from([(PROTOCOLS_METADATA.to_owned(), "grpc".to_owned())]);
        Self::connect_to(registry_with(address, metadata).await?, Wire::Tcp)
    }

    /// Like [`Client::connect`] over TCP, counted by metrics instead of
    /// the passthrough wrapper (the `micro-metrics` system).
    ///
    /// # Errors
    ///
    /// When the registry or the client refuses.
    pub async fn connect_measured(address: &str) -> Result<Client> {
        Self::measured(micro_runtime::Client::builder(), address).await
    }

    /// `builder`'s client of the server at `address` over TCP, counted by
    /// metrics (with the `metrics` feature).
    async fn measured(
        builder: micro_runtime::client::ClientBuilder,
        address: &str,
    ) -> Result<Client> {
        let client = builder
            .registry(registry(address).await?)
            .transport(transport(Wire::Tcp)?)
            .build()?;
        #[cfg(feature = "metrics")]
        let client = micro_runtime::metrics::Metrics::new().instrument(&client);
        Ok(Self::with(client))
    }

    fn connect_to(registry: Arc<MemoryRegistry>, wire: Wire) -> Result<Client> {
        let client = micro_runtime::Client::builder()
            .registry(registry)
            .transport(client_transport(wire)?)
            .wrap(client_fn(|req: ClientRequest, next: ClientNext| {
                next.run(req)
            }))
            .build()?;
        Ok(Self::with(client))
    }

    fn with(client: micro_runtime::Client) -> Client {
        let greeter = pb::GreeterClient::new(SERVICE, client.clone());
        Client { client, greeter }
    }

    /// One unary call.
    ///
    /// # Errors
    ///
    /// The call's error, or a greeting of the wrong size.
    pub async fn hello(&self, payload: &Payload) -> std::result::Result<(), String> {
        let request = pb::Request {
            name: payload.name.clone(),
        };
        let response = self
            .greeter
            .hello(request)
            .await
            .map_err(|e| e.to_string())?;
        check_len(response.greeting.len(), payload.greeting_len)
    }

    /// One stream of `count` greetings of `payload`'s name.
    ///
    /// # Errors
    ///
    /// The call's error, or fewer messages than asked for.
    pub async fn stream(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> std::result::Result<(), String> {
        let request = pb::Request {
            name: payload::stream_request(&payload.name, count),
        };
        let responses = self
            .greeter
            .hello_stream(request)
            .await
            .map_err(|e| e.to_string())?;
        read_greetings(greetings(responses), payload, count, clock).await
    }

    /// One `Collect` call of `count` requests named after `payload`;
    /// `clock` counts them when the response confirms them.
    ///
    /// # Errors
    ///
    /// The call's error, or a response that does not hold every name.
    pub async fn collect(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> std::result::Result<(), String> {
        let call = self.greeter.collect().await.map_err(|e| e.to_string())?;
        for _ in 0..count {
            let request = pb::Request {
                name: payload.name.clone(),
            };
            call.send(request).await.map_err(|e| e.to_string())?;
        }
        let response = call.close_and_recv().await.map_err(|e| e.to_string())?;
        confirm_collected(response.greeting.len(), payload, count, clock)
    }

    /// One `Chat` call: `count` requests sent while the responses are read
    /// (in the same task), `clock` ticking per response.
    ///
    /// # Errors
    ///
    /// The call's error, or fewer responses than requests.
    pub async fn chat(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> std::result::Result<(), String> {
        let (requests, responses) = self
            .greeter
            .chat()
            .await
            .map_err(|e| e.to_string())?
            .split();
        let send = async move {
            for _ in 0..count {
                let request = pb::Request {
                    name: payload.name.clone(),
                };
                requests.send(request).await.map_err(|e| e.to_string())?;
            }
            requests.close();
            Ok::<_, String>(())
        };
        let receive = read_greetings(greetings(responses), payload, count, clock);
        let (sent, received) = tokio::join!(send, receive);
        sent.and(received)
    }

    /// Connections micro's pool holds now.
    pub fn open_connections(&self) -> usize {
        self.client.open_connections()
    }
}

/// The lengths of the greetings a micro stream brings.
fn greetings(
    responses: micro_runtime::Receiver<pb::Response>,
) -> impl futures_util::Stream<Item = std::result::Result<usize, String>> {
    use futures_util::StreamExt as _;
    responses.map(|r| r.map(|r| r.greeting.len()).map_err(|e| e.to_string()))
}

/// A fresh memory registry in which the bench server at `address` is the
/// one node of [`SERVICE`], advertising `Greeter.Hello` as a unary endpoint
/// (what the gateway routes by), as its own registration would.
///
/// # Errors
///
/// When the registry refuses.
pub async fn registry(address: &str) -> Result<Arc<MemoryRegistry>> {
    let transport = if address.starts_with("nats:") {
        "nats"
    } else {
        "tcp"
    };
    let metadata = BTreeMap::from([
        ("transport".to_owned(), transport.to_owned()),
        ("protocol".to_owned(), "micro".to_owned()),
    ]);
    registry_with(address, metadata).await
}

/// Like [`registry`], the node carrying `metadata`.
///
/// # Errors
///
/// When the registry refuses.
pub async fn registry_with(
    address: &str,
    metadata: BTreeMap<String, String>,
) -> Result<Arc<MemoryRegistry>> {
    let registry = Arc::new(MemoryRegistry::new());
    let node = registry::Node {
        id: format!("{SERVICE}-bench"),
        address: address.to_owned(),
        metadata,
    };
    let hello = registry::Endpoint {
        name: "Greeter.Hello".to_owned(),
        request: "greeter.v1.Request".to_owned(),
        response: "greeter.v1.Response".to_owned(),
        metadata: BTreeMap::from([("stream".to_owned(), "unary".to_owned())]),
    };
    let record = registry::Service {
        name: SERVICE.to_owned(),
        version: "1.0.0".to_owned(),
        nodes: vec![node],
        endpoints: vec![hello],
        ..Default::default()
    };
    registry
        .register(&record, Duration::from_secs(24 * 3600))
        .await?;
    Ok(registry)
}

/// Checks a greeting's length.
pub(crate) fn check_len(got: usize, expected: usize) -> std::result::Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("greeting of {got} bytes, expected {expected}"))
    }
}

/// Reads a stream of greeting lengths to its end, each checked against
/// `payload` and ticking `clock`, then checks that `count` came.
///
/// # Errors
///
/// The stream's error, a greeting of the wrong size, or too few.
pub(crate) async fn read_greetings(
    greetings: impl futures_util::Stream<Item = std::result::Result<usize, String>>,
    payload: &Payload,
    count: u32,
    clock: &mut MessageClock,
) -> std::result::Result<(), String> {
    use futures_util::StreamExt as _;
    let mut greetings = std::pin::pin!(greetings);
    let mut received = 0;
    while let Some(len) = greetings.next().await {
        check_len(len?, payload.greeting_len)?;
        clock.tick();
        received += 1;
    }
    check_count(received, count)
}

/// Checks the one response of a `Collect` call of `count` requests named
/// after `payload`, and counts them on `clock`.
///
/// # Errors
///
/// A response that does not hold every name.
pub(crate) fn confirm_collected(
    greeting_len: usize,
    payload: &Payload,
    count: u32,
    clock: &mut MessageClock,
) -> std::result::Result<(), String> {
    check_len(greeting_len, payload::collected_len(&payload.name, count))?;
    clock.ticks(count);
    Ok(())
}

/// Checks a stream's message count.
pub(crate) fn check_count(received: u32, count: u32) -> std::result::Result<(), String> {
    if received == count {
        Ok(())
    } else {
        Err(format!("stream ended after {received} of {count} messages"))
    }
}
