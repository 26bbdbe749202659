//! The two server processes and the client that finds them: node `steady`
//! runs for the whole soak (its memory is what is judged), node `cycled`
//! is restarted the way a deployment does it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use micro_runtime::registry::memory::MemoryRegistry;
use micro_runtime::registry::{Node, Registry as _, Service};
use micro_runtime::transport::tcp::TcpTransport;

use crate::pb;
use crate::proc::ServerProcess;
use crate::systems::micro::SERVICE;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the client's registry cache gets to drop a deregistered node
/// before that node is stopped (stragglers are retried on the other node).
const DEREGISTER_SETTLE: Duration = Duration::from_secs(1);

/// How long a stopping node may drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The servers and the client.
pub(super) struct Fleet {
    registry: Arc<MemoryRegistry>,
    greeter: pb::GreeterClient,
    steady: ServerProcess,
    cycled: Option<ServerProcess>,
    generation: u32,
}

impl Fleet {
    /// Starts both nodes and registers them in the client's registry.
    pub(super) async fn start() -> anyhow::Result<Fleet> {
        let registry = Arc::new(MemoryRegistry::new());
        let client = micro_runtime::Client::builder()
            .registry(registry.clone())
            .transport(Arc::new(TcpTransport::default()))
            .build()
            .context("building the client")?;
        let steady = start_server().await?;
        register(&registry, "steady", steady.address()).await?;
        let cycled = start_server().await?;
        register(&registry, "cycled-0", cycled.address()).await?;
        Ok(Fleet {
            registry,
            greeter: pb::GreeterClient::new(SERVICE, client),
            steady,
            cycled: Some(cycled),
            generation: 0,
        })
    }

    /// The typed client over the discovering, balancing client.
    pub(super) fn client(&self) -> &pb::GreeterClient {
        &self.greeter
    }

    /// The process id of the node that runs throughout.
    pub(super) fn steady_pid(&self) -> u32 {
        self.steady.pid()
    }

    /// Replaces the cycled node: deregister, let the client notice, SIGTERM
    /// (it drains), then start and register its successor.
    pub(super) async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(old) = self.cycled.take() {
            deregister(
                &self.registry,
                &format!("cycled-{}", self.generation),
                old.address(),
            )
            .await?;
            tokio::time::sleep(DEREGISTER_SETTLE).await;
            tokio::task::spawn_blocking(move || old.terminate(DRAIN_TIMEOUT))
                .await
                .context("stopping the cycled node")??;
        }
        self.generation += 1;
        let next = start_server().await?;
        register(
            &self.registry,
            &format!("cycled-{}", self.generation),
            next.address(),
        )
        .await?;
        self.cycled = Some(next);
        Ok(())
    }

    /// Kills both servers.
    pub(super) fn stop(self) {
        drop(self.cycled);
        drop(self.steady);
    }
}

async fn start_server() -> anyhow::Result<ServerProcess> {
    tokio::task::spawn_blocking(|| {
        ServerProcess::start(crate::systems::System::Micro, START_TIMEOUT)
    })
    .await
    .context("starting a server")?
}

fn record(id: &str, address: &str) -> Service {
    Service {
        name: SERVICE.to_owned(),
        version: "1.0.0".to_owned(),
        nodes: vec![Node {
            id: format!("{SERVICE}-{id}"),
            address: address.to_owned(),
            metadata: BTreeMap::from([
                ("transport".to_owned(), "tcp".to_owned()),
                ("protocol".to_owned(), "micro".to_owned()),
            ]),
        }],
        ..Default::default()
    }
}

async fn register(registry: &MemoryRegistry, id: &str, address: &str) -> anyhow::Result<()> {
    registry
        .register(&record(id, address), Duration::from_secs(24 * 3600))
        .await
        .with_context(|| format!("registering node {id}"))
}

async fn deregister(registry: &MemoryRegistry, id: &str, address: &str) -> anyhow::Result<()> {
    registry
        .deregister(&record(id, address))
        .await
        .with_context(|| format!("deregistering node {id}"))
}
