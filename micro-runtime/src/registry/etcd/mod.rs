//! The etcd registry (`MICRO_REGISTRY=etcd`, cargo feature `etcd`): service
//! discovery across machines, backed by an etcd v3 cluster (3.4 or later).
//!
//! `MICRO_REGISTRY_ADDRESS` names the cluster: one or more comma-separated
//! endpoints, `host:port` or `http://host:port` (default `127.0.0.1:2379`).
//! A call goes to the endpoint that answered last and moves on to the next
//! one when it cannot be reached.
//!
//! # Key layout
//!
//! One key per node:
//!
//! ```text
//! /micro/registry/<service>/<version>/<node id>  ->  JSON of a registry::Service
//! ```
//!
//! The value is the [`Service`] record (name, version, metadata, endpoints)
//! holding exactly that node, e.g. under
//! `/micro/registry/com.example.srv.greeter/1.0.0/com.example.srv.greeter-5f0c…`:
//!
//! ```json
//! {"name":"com.example.srv.greeter","version":"1.0.0",
//!  "endpoints":[{"name":"Greeter.Hello","request":"greeter.v1.Request","response":"greeter.v1.Response","metadata":{"stream":"unary"}}],
//!  "nodes":[{"id":"com.example.srv.greeter-5f0c…","address":"10.0.0.7:41234","metadata":{"registry":"etcd","transport":"tcp"}}]}
//! ```
//!
//! Each path segment has `%` escaped as `%25` and `/` as `%2F`, so
//! `/micro/registry/<service>/` holds exactly that service's nodes;
//! [`get_service`](Registry::get_service) reads that prefix and groups the
//! nodes by version. The prefix can be changed with [`EtcdOptions::prefix`]
//! (to share one etcd between environments). Other tools can read the
//! registry with `etcdctl get --prefix /micro/registry/`.
//!
//! # Leases
//!
//! A node's key is attached to a lease of the registration TTL. Each
//! `register` of the node (the service's heartbeat, every
//! `MICRO_REGISTER_INTERVAL`) renews it, so a process that stops
//! heartbeating disappears when the TTL runs out. A lease lost some other
//! way (it expired while etcd was unreachable, etcd lost its data) is
//! replaced on the next heartbeat: new lease, key put again; the service
//! keeps running throughout. See `lease.rs`.
//!
//! # Failures
//!
//! Every call to etcd is bounded ([`EtcdOptions::request_timeout`], default
//! 3 s; connecting: [`EtcdOptions::connect_timeout`], default 2 s). An etcd
//! that cannot be reached gives 503 (`micro.registry`) naming the endpoints
//! and why; the service keeps serving and the client keeps using its cached
//! nodes. A watch whose stream breaks yields an error, after which the
//! cache lists and watches again.

mod keys;
mod lease;
mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Registry, Service, Watcher, service_not_found};
use crate::etcd::client::Client;
use crate::etcd::pb::etcdserverpb::RangeRequest;
use crate::{Error, Result, env_vars};

/// The endpoint used when none is configured.
pub const DEFAULT_ADDRESS: &str = crate::etcd::client::DEFAULT_ADDRESS;

/// Settings of the etcd registry.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Endpoints: `host:port` or `http://host:port`.
    pub endpoints: Vec<String>,
    /// Key prefix of the registry (default `/micro/registry/`).
    pub prefix: String,
    /// Longest wait to connect to one endpoint.
    pub connect_timeout: Duration,
    /// Longest wait for one call to one endpoint.
    pub request_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            endpoints: vec![DEFAULT_ADDRESS.to_owned()],
            prefix: keys::DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
        }
    }
}

impl EtcdOptions {
    /// The defaults with the endpoints of a comma-separated `address`
    /// (`None` or empty: `127.0.0.1:2379`).
    pub fn with_address(address: Option<&str>) -> Self {
        Self {
            endpoints: crate::etcd::client::endpoints(address),
            ..Self::default()
        }
    }

    /// From `MICRO_REGISTRY_ADDRESS`.
    pub fn from_env() -> Self {
        Self::with_address(env_vars::string("MICRO_REGISTRY_ADDRESS").as_deref())
    }
}

/// The etcd registry. Clones share their connections and leases.
///
/// Connections are made on first use, so creating one needs no running
/// etcd (nor a Tokio runtime).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> micro_runtime::Result<()> {
/// use std::sync::Arc;
/// use micro_runtime::registry::etcd::{EtcdOptions, EtcdRegistry};
///
/// let registry = EtcdRegistry::new(EtcdOptions::with_address(Some("127.0.0.1:2379")))?;
/// let service = micro_runtime::Service::builder()
///     .name("com.example.srv.greeter")
///     .registry(Arc::new(registry))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    /// Held across the calls of one register or deregister, so a heartbeat
    /// and a deregistration never interleave.
    leases: tokio::sync::Mutex<lease::Leases>,
}

impl std::fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("endpoints", &self.inner.client.addresses())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdRegistry {
    /// A registry over the cluster at `options.endpoints`.
    ///
    /// # Errors
    ///
    /// 400 when no endpoint is given, or one is not a URI or uses `https://`
    /// (TLS is not supported yet).
    pub fn new(options: EtcdOptions) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: Client::new(
                    "micro.registry",
                    &options.endpoints,
                    options.connect_timeout,
                    options.request_timeout,
                )?,
                prefix: keys::normalize_prefix(&options.prefix),
                leases: tokio::sync::Mutex::default(),
            }),
        })
    }

    /// The registry configured by `MICRO_REGISTRY_ADDRESS`.
    ///
    /// # Errors
    ///
    /// As [`EtcdRegistry::new`].
    pub fn from_env() -> Result<Self> {
        Self::new(EtcdOptions::from_env())
    }

    /// The key a node of `service` is stored under.
    pub fn node_key(&self, service: &str, version: &str, node_id: &str) -> String {
        keys::node_key(&self.inner.prefix, service, version, node_id)
    }

    /// Every node record under `key_prefix`, grouped into one service per
    /// (name, version), sorted.
    async fn read(&self, key_prefix: &str) -> Result<Vec<Service>> {
        let request = RangeRequest {
            key: key_prefix.as_bytes().to_vec(),
            range_end: keys::range_end(key_prefix.as_bytes()),
            ..Default::default()
        };
        let (answer, _) = self
            .inner
            .client
            .call("get", |stubs| {
                let request = request.clone();
                async move { stubs.kv().range(request).await }
            })
            .await?;
        let mut grouped: BTreeMap<(String, String), Service> = BTreeMap::new();
        for kv in answer.into_inner().kvs {
            let Some(record) = watch::record(&kv.value) else {
                tracing::debug!(key = %String::from_utf8_lossy(&kv.key),
                    "ignoring a key that is not a service record");
                continue;
            };
            grouped
                .entry((record.name.clone(), record.version.clone()))
                .and_modify(|s| s.nodes.extend(record.nodes.iter().cloned()))
                .or_insert(record);
        }
        let mut services: Vec<Service> = grouped.into_values().collect();
        for service in &mut services {
            service.nodes.sort_by(|a, b| a.id.cmp(&b.id));
        }
        Ok(services)
    }
}

fn check(service: &Service) -> Result<()> {
    if service.name.is_empty() {
        return Err(Error::bad_request("service name is empty").with_id("micro.registry"));
    }
    if let Some(node) = service.nodes.iter().find(|n| n.id.is_empty()) {
        return Err(Error::bad_request(format!(
            "a node of {} at {:?} has no id",
            service.name, node.address
        ))
        .with_id("micro.registry"));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Registry for EtcdRegistry {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn register(&self, service: &Service, ttl: Duration) -> Result<()> {
        check(service)?;
        let ttl = lease::ttl_secs(ttl);
        let mut leases = self.inner.leases.lock().await;
        for node in &service.nodes {
            let key = self.node_key(&service.name, &service.version, &node.id);
            let record = Service {
                nodes: vec![node.clone()],
                ..service.clone()
            };
            let value = serde_json::to_vec(&record)
                .map_err(|e| Error::internal(format!("encoding the service record: {e}")))?;
            lease::register(&self.inner.client, &mut leases, &key, &value, ttl).await?;
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        check(service)?;
        let mut leases = self.inner.leases.lock().await;
        for node in &service.nodes {
            let key = self.node_key(&service.name, &service.version, &node.id);
            lease::deregister(&self.inner.client, &mut leases, &key).await?;
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let mut services = self
            .read(&keys::service_prefix(&self.inner.prefix, name))
            .await?;
        services.retain(|s| s.name == name && !s.nodes.is_empty());
        if services.is_empty() {
            return Err(service_not_found(name));
        }
        Ok(services)
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        self.read(&self.inner.prefix).await
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let key_prefix = match service {
            Some(name) => keys::service_prefix(&self.inner.prefix, name),
            None => self.inner.prefix.clone(),
        };
        watch::watch(&self.inner.client, &self.inner.prefix, &key_prefix).await
    }
}
