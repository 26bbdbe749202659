//! Shared pieces of the runtime's integration tests: a code-first test
//! service and helpers to run it over each transport.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::transport::Transport;
use micro_runtime::transport::memory::MemoryTransport;
use micro_runtime::transport::tcp::{TcpOptions, TcpTransport};
use micro_runtime::{Client, Context, Error, Receiver, Result, Sender, Service};
use tokio::sync::Notify;

/// The message every test endpoint takes and returns.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct Msg {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(int64, tag = "2")]
    pub n: i64,
}

impl Msg {
    pub fn text(text: impl Into<String>) -> Self {
        Msg {
            text: text.into(),
            n: 0,
        }
    }
}

/// A serde-only message: JSON only.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JsonOnly {
    pub word: String,
}

/// Signals the test can wait on.
#[derive(Default)]
pub struct Signals {
    /// Notified when a `hang` handler's future is dropped.
    pub cancelled: Notify,
    /// Notified when a `hang` handler starts.
    pub started: Notify,
    pub cancellations: AtomicUsize,
    /// Messages `flood` has sent so far.
    pub flooded: AtomicUsize,
    /// Calls to `flaky`, `stall` and `stall_once` this node received.
    pub hits: AtomicUsize,
}

struct DropGuard(Arc<Signals>);
impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.cancellations.fetch_add(1, Ordering::SeqCst);
        self.0.cancelled.notify_waiters();
    }
}

pub struct Echo {
    pub signals: Arc<Signals>,
    /// Calls other services (for context propagation).
    pub client: Option<Client>,
    /// Names this node in answers.
    pub label: String,
    /// A bad node: `flaky` fails with 503, `stall*` never answer.
    pub bad: bool,
}

#[micro_runtime::service]
impl Echo {
    /// Returns the request.
    #[micro(idempotent)]
    async fn say(&self, _ctx: Context, req: Msg) -> Result<Msg> {
        Ok(req)
    }

    /// Panics.
    async fn explode(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        panic!("boom");
    }

    /// Fails with the code in `n`.
    async fn fail(&self, _ctx: Context, req: Msg) -> Result<Msg> {
        Err(Error::new(req.n as u16, req.text))
    }

    /// Never answers; notifies when dropped.
    async fn hang(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        let _guard = DropGuard(self.signals.clone());
        self.signals.started.notify_waiters();
        std::future::pending::<()>().await;
        unreachable!()
    }

    /// What the handler sees of its context: metadata `x-trace` as text,
    /// milliseconds left as `n` (-1 without deadline).
    async fn whoami(&self, ctx: Context, _req: Msg) -> Result<Msg> {
        Ok(Msg {
            text: ctx.metadata().get("x-trace").unwrap_or("").to_owned(),
            n: ctx.remaining().map_or(-1, |r| r.as_millis() as i64),
        })
    }

    /// Calls `whoami` of the service named in the request, without passing
    /// its context by hand.
    async fn relay(&self, _ctx: Context, req: Msg) -> Result<Msg> {
        let client = self.client.clone().expect("relay needs a client");
        EchoClient::new(req.text, client)
            .whoami(Msg::default())
            .await
    }

    /// Streams `n` numbered messages.
    async fn count(&self, _ctx: Context, req: Msg, tx: Sender<Msg>) -> Result<()> {
        for i in 0..req.n {
            tx.send(Msg {
                text: req.text.clone(),
                n: i,
            })
            .await?;
        }
        Ok(())
    }

    /// Streams as fast as allowed, counting what it managed to send;
    /// notifies `cancelled` when it ends.
    async fn flood(&self, _ctx: Context, req: Msg, tx: Sender<Msg>) -> Result<()> {
        let _guard = DropGuard(self.signals.clone());
        let payload = "x".repeat(req.n as usize);
        loop {
            self.signals.flooded.fetch_add(1, Ordering::SeqCst);
            tx.send(Msg::text(payload.clone())).await?;
        }
    }

    /// Sums the `n` of every request; notifies `cancelled` when it ends.
    async fn sum(&self, _ctx: Context, mut rx: Receiver<Msg>) -> Result<Msg> {
        let _guard = DropGuard(self.signals.clone());
        let mut total = 0;
        while let Some(msg) = rx.recv().await? {
            total += msg.n;
        }
        Ok(Msg {
            text: "sum".into(),
            n: total,
        })
    }

    /// Echoes each request.
    async fn echo(&self, _ctx: Context, mut rx: Receiver<Msg>, tx: Sender<Msg>) -> Result<()> {
        while let Some(msg) = rx.recv().await? {
            tx.send(msg).await?;
        }
        Ok(())
    }

    /// This node's label.
    async fn label(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        Ok(Msg::text(self.label.clone()))
    }

    /// 503 on a bad node, the label otherwise.
    async fn flaky(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        self.signals.hits.fetch_add(1, Ordering::SeqCst);
        if self.bad {
            return Err(Error::unavailable(format!("{} is broken", self.label)));
        }
        Ok(Msg::text(self.label.clone()))
    }

    /// Never answers on a bad node (the server's 100 ms default deadline
    /// turns that into 408); idempotent, so the client may retry it.
    #[micro(idempotent, timeout = "100ms")]
    async fn stall(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        self.signals.hits.fetch_add(1, Ordering::SeqCst);
        if self.bad {
            std::future::pending::<()>().await;
        }
        Ok(Msg::text(self.label.clone()))
    }

    /// Like `stall`, but not idempotent: a 408 is never retried.
    #[micro(timeout = "100ms")]
    async fn stall_once(&self, _ctx: Context, _req: Msg) -> Result<Msg> {
        self.signals.hits.fetch_add(1, Ordering::SeqCst);
        if self.bad {
            std::future::pending::<()>().await;
        }
        Ok(Msg::text(self.label.clone()))
    }

    /// JSON-only types.
    async fn shout(&self, _ctx: Context, req: JsonOnly) -> Result<JsonOnly> {
        Ok(JsonOnly {
            word: req.word.to_uppercase(),
        })
    }
}

/// The transports every behaviour is checked on.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Memory,
    Tcp,
}

pub const KINDS: [Kind; 2] = [Kind::Memory, Kind::Tcp];

pub fn transport(kind: Kind) -> Arc<dyn Transport> {
    match kind {
        Kind::Memory => Arc::new(MemoryTransport::new()),
        Kind::Tcp => Arc::new(TcpTransport::new(TcpOptions::default())),
    }
}

/// A world of services sharing a registry and a transport.
pub struct World {
    pub registry: Arc<MemoryRegistry>,
    pub transport: Arc<dyn Transport>,
    pub services: Vec<Service>,
}

impl World {
    pub fn new(kind: Kind) -> Self {
        Self {
            registry: Arc::new(MemoryRegistry::new()),
            transport: transport(kind),
            services: Vec::new(),
        }
    }

    pub fn builder(&self, name: &str) -> micro_runtime::ServiceBuilder {
        Service::builder()
            .name(name)
            .version("1")
            .address("127.0.0.1:0")
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .grace_period(Duration::from_secs(5))
    }

    /// Starts an `Echo` service called `name`.
    pub async fn echo(&mut self, name: &str) -> (Service, Arc<Signals>) {
        let service = self.builder(name).build().unwrap();
        self.add_echo(service).await
    }

    pub async fn add_echo(&mut self, service: Service) -> (Service, Arc<Signals>) {
        self.add_node(service, "echo", false).await
    }

    /// Starts an `Echo` node with a label, good or bad.
    pub async fn add_node(
        &mut self,
        service: Service,
        label: &str,
        bad: bool,
    ) -> (Service, Arc<Signals>) {
        let signals = Arc::new(Signals::default());
        service
            .handle(Echo {
                signals: signals.clone(),
                client: Some(service.client()),
                label: label.to_owned(),
                bad,
            })
            .unwrap();
        service.start().await.unwrap();
        self.services.push(service.clone());
        (service, signals)
    }

    /// A client of the world.
    pub fn client(&self) -> Client {
        self.client_with(micro_runtime::ClientOptions::default(), None)
    }

    /// A client with these options and selector.
    pub fn client_with(
        &self,
        options: micro_runtime::ClientOptions,
        selector: Option<Arc<dyn micro_runtime::selector::Selector>>,
    ) -> Client {
        let mut builder = Client::builder()
            .registry(self.registry.clone())
            .transport(self.transport.clone())
            .options(options);
        if let Some(selector) = selector {
            builder = builder.selector(selector);
        }
        builder.build().unwrap()
    }

    pub async fn stop(self) {
        for service in self.services {
            service.stop().await.unwrap();
        }
    }
}

/// Waits on `notify` for at most 10 s (a bound, not a synchronisation).
pub async fn within_10s<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 10 s"))
}
