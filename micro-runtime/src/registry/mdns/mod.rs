//! The mDNS registry (the default): zero configuration on one machine or a
//! LAN, nothing to install.
//!
//! Every node is an instance of the DNS-SD type `_micro._tcp.local.` whose
//! TXT record carries its service record (deflate-compressed JSON in
//! 250-byte chunks `m0`, `m1`, …). Each process browses
//! that type continuously and keeps a table of the nodes it hears of. A node
//! re-announces on every registration heartbeat; one not heard of for its
//! TTL (a process that died without saying goodbye) is dropped from the
//! table. Deregistering sends goodbye packets, so peers drop it at once.
//!
//! mDNS is unauthenticated: anyone on the network can announce nodes. The
//! table keeps the first node seen for an instance until it expires (a
//! forged announcement of a live instance at another address is ignored),
//! clamps announced TTLs to 120 s and holds at most 1,024 nodes a service
//! and 16,384 in all. Use it on trusted networks; use etcd elsewhere.
//!
//! `MICRO_MDNS_INTERFACES` (comma-separated interface names, e.g. `lo`)
//! confines mDNS to those interfaces; `MICRO_MDNS_PORT` changes the port
//! (default 5353).

mod txt;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use tokio::sync::{Notify, mpsc};

use super::{Action, Event, Registry, Service, Watcher, service_not_found};
use crate::log::Throttled;
use crate::{Error, Result, env_vars};

/// The DNS-SD service type of micro nodes.
pub const SERVICE_TYPE: &str = "_micro._tcp.local.";

/// How long `get_service` waits for a service nobody announced yet, counted
/// from the start of browsing (answers to the first query arrive within
/// about a second).
const DISCOVERY_WAIT: Duration = Duration::from_millis(1500);

/// While still discovering, how long to keep collecting answers after the
/// first node of a service is heard of: responders answer a query after a
/// random delay of up to 120 ms, so the rest of the nodes arrive shortly.
const SETTLE: Duration = Duration::from_millis(150);

/// The longest TTL an announcement from the network may claim: a node
/// re-announces on every heartbeat, so a longer one only keeps a dead (or
/// forged) node in the table.
const MAX_ANNOUNCED_TTL: Duration = Duration::from_secs(120);

/// Nodes of one service, and nodes in all, the table keeps from the
/// network: past these, new instances are ignored (a flood of forged
/// instances does not grow the table without bound).
const MAX_NODES_PER_SERVICE: usize = 1024;
const MAX_NODES: usize = 16 * 1024;

/// Settings of the mDNS registry.
#[derive(Clone, Debug, Default)]
pub struct MdnsOptions {
    /// Interfaces to use (names); empty = all.
    pub interfaces: Vec<String>,
    /// UDP port (default 5353).
    pub port: Option<u16>,
}

impl MdnsOptions {
    /// From `MICRO_MDNS_INTERFACES` and `MICRO_MDNS_PORT`.
    ///
    /// # Errors
    ///
    /// 400 when the port does not parse.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            interfaces: env_vars::string("MICRO_MDNS_INTERFACES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            port: env_vars::number("MICRO_MDNS_PORT")?.map(|p| p as u16),
        })
    }
}

/// The mDNS registry. Clones share one daemon.
#[derive(Clone)]
pub struct MdnsRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    daemon: ServiceDaemon,
    table: Mutex<Table>,
    changed: Notify,
    started: Instant,
    beat: AtomicU64,
    refusals: Throttled,
}

#[derive(Default)]
struct Table {
    /// fullname -> what that node last announced.
    nodes: HashMap<String, Known>,
    /// service name -> its nodes in `nodes`.
    per_service: HashMap<String, usize>,
    /// Nodes this process registered (fullname -> node id).
    own: HashMap<String, String>,
    watchers: Vec<(Option<String>, mpsc::Sender<Result<Event>>)>,
}

struct Known {
    service: Service,
    seen: Instant,
    ttl: Duration,
}

impl Known {
    fn node(&self) -> Option<&super::Node> {
        self.service.nodes.first()
    }
}

/// Why an announcement from the network was not taken.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// The instance is known, alive, at another address or with another
    /// node id: the first one seen is kept until it expires.
    Conflict,
    /// The service, or the table, holds as many nodes as it may.
    Full,
}

impl Table {
    /// Takes what `fullname` announced (`own`: this process registered
    /// it), unless it conflicts with a live instance or the table is full.
    fn admit(
        &mut self,
        fullname: String,
        service: Service,
        ttl: Duration,
        own: bool,
        now: Instant,
    ) -> std::result::Result<Action, Refused> {
        let ttl = if own { ttl } else { ttl.min(MAX_ANNOUNCED_TTL) };
        if let Some(known) = self.nodes.get(&fullname) {
            let alive = now.saturating_duration_since(known.seen) <= known.ttl;
            let same = known.node().map(|n| (&n.id, &n.address))
                == service.nodes.first().map(|n| (&n.id, &n.address));
            if !own && alive && (!same || known.service.name != service.name) {
                return Err(Refused::Conflict);
            }
            let was = known.service.name.clone();
            self.forget(&was);
        } else if !own
            && (self.nodes.len() >= MAX_NODES
                || self.per_service.get(&service.name).copied().unwrap_or(0)
                    >= MAX_NODES_PER_SERVICE)
        {
            return Err(Refused::Full);
        }
        *self.per_service.entry(service.name.clone()).or_default() += 1;
        let action = match self.nodes.insert(
            fullname,
            Known {
                service,
                seen: now,
                ttl,
            },
        ) {
            Some(_) => Action::Update,
            None => Action::Create,
        };
        Ok(action)
    }

    /// Drops `fullname` from the table.
    fn take(&mut self, fullname: &str) -> Option<Known> {
        let known = self.nodes.remove(fullname)?;
        self.forget(&known.service.name);
        Some(known)
    }

    /// One node fewer of `service`.
    fn forget(&mut self, service: &str) {
        if let Some(count) = self.per_service.get_mut(service) {
            *count -= 1;
            if *count == 0 {
                self.per_service.remove(service);
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

fn mdns_error(what: &str, err: mdns_sd::Error) -> Error {
    Error::unavailable(format!("mdns {what}: {err}")).with_id("micro.registry")
}

impl MdnsRegistry {
    /// A registry with its own mDNS daemon, browsing from now on.
    ///
    /// # Errors
    ///
    /// 503 when the daemon cannot start (no usable interface or socket).
    pub fn new(options: MdnsOptions) -> Result<Self> {
        let daemon = match options.port {
            Some(port) => ServiceDaemon::new_with_port(port),
            None => ServiceDaemon::new(),
        }
        .map_err(|e| mdns_error("daemon", e))?;
        if !options.interfaces.is_empty() {
            daemon
                .disable_interface(IfKind::All)
                .map_err(|e| mdns_error("interfaces", e))?;
            for name in &options.interfaces {
                daemon
                    .enable_interface(IfKind::Name(name.clone()))
                    .map_err(|e| mdns_error("interfaces", e))?;
            }
        }
        let events = daemon
            .browse(SERVICE_TYPE)
            .map_err(|e| mdns_error("browse", e))?;
        let inner = Arc::new(Inner {
            daemon,
            table: Mutex::default(),
            changed: Notify::new(),
            started: Instant::now(),
            beat: AtomicU64::new(0),
            refusals: Throttled::new("mdns", Duration::from_secs(10)),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("micro-mdns".into())
            .spawn(move || browse_loop(weak, events))
            .map_err(|e| Error::internal(format!("mdns thread: {e}")))?;
        Ok(Self { inner })
    }

    /// The process-wide registry configured from the environment.
    ///
    /// # Errors
    ///
    /// As [`MdnsRegistry::new`].
    pub fn shared() -> Result<Self> {
        static SHARED: OnceLock<Mutex<Weak<Inner>>> = OnceLock::new();
        let slot = SHARED.get_or_init(Mutex::default);
        let mut slot = slot.lock().unwrap();
        if let Some(inner) = slot.upgrade() {
            return Ok(Self { inner });
        }
        let registry = Self::new(MdnsOptions::from_env()?)?;
        *slot = Arc::downgrade(&registry.inner);
        Ok(registry)
    }
}

/// The mDNS instance name of a node: readable, unique, within the 63-byte
/// DNS label limit, and free of characters DNS-SD would escape (so the full
/// name we compute is the one on the wire).
fn instance_name(service: &str, node_id: &str) -> String {
    let hash = node_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let prefix: String = service
        .chars()
        .take(40)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{prefix}-{hash:016x}")
}

fn fullname(instance: &str) -> String {
    format!("{instance}.{SERVICE_TYPE}")
}

/// The socket address to announce for a node address: `None` for the
/// address of a transport that names no host (`nats:<subject>`, any
/// `scheme:rest` whose rest is not a port).
fn announced_addr(address: &str) -> Result<Option<SocketAddr>> {
    match address.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphabetic())
                && rest.parse::<u16>().is_err() =>
        {
            Ok(None)
        }
        _ => socket_addr(address).map(Some),
    }
}

fn socket_addr(address: &str) -> Result<SocketAddr> {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            Error::bad_request(format!("node address {address:?} is not host:port"))
                .with_id("micro.registry")
        })
}

impl Inner {
    fn notify(&self, table: &mut Table, action: Action, service: &Service) {
        table.watchers.retain(|(filter, tx)| {
            if filter.as_ref().is_some_and(|f| *f != service.name) {
                return !tx.is_closed();
            }
            tx.try_send(Ok(Event {
                action,
                service: service.clone(),
            }))
            .is_ok()
        });
        self.changed.notify_waiters();
    }

    fn upsert(&self, fullname: String, service: Service, ttl: Duration, own: bool) {
        let mut table = self.table.lock().unwrap();
        let instance = fullname.clone();
        match table.admit(fullname, service.clone(), ttl, own, Instant::now()) {
            Ok(action) => self.notify(&mut table, action, &service),
            Err(refused) => self.refusals.warn(|suppressed| {
                tracing::warn!(%instance, service = %service.name, ?refused, suppressed,
                    "mDNS announcement ignored (mDNS is for trusted networks; use etcd elsewhere)");
            }),
        }
    }

    fn remove(&self, fullname: &str) {
        let mut table = self.table.lock().unwrap();
        if let Some(known) = table.take(fullname) {
            self.notify(&mut table, Action::Delete, &known.service);
        }
    }

    /// Drops nodes not heard of for their TTL (our own never expire).
    fn expire(&self) {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap();
        let expired: Vec<String> = table
            .nodes
            .iter()
            .filter(|(name, k)| !table.own.contains_key(*name) && now - k.seen > k.ttl)
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            if let Some(known) = table.take(&name) {
                tracing::info!(node = %known.service.nodes.first().map_or("", |n| n.id.as_str()),
                    "node expired: not announced within its TTL");
                self.notify(&mut table, Action::Delete, &known.service);
            }
        }
    }
}

fn browse_loop(inner: Weak<Inner>, events: mdns_sd::Receiver<ServiceEvent>) {
    loop {
        let event = events.recv_timeout(Duration::from_millis(250));
        let Some(inner) = inner.upgrade() else { return };
        match event {
            Ok(ServiceEvent::ServiceResolved(resolved)) => {
                let props = &resolved.txt_properties;
                match txt::decode(|key| props.get_property_val(key).flatten()) {
                    Some(record) if record.service.nodes.len() == 1 => {
                        let ttl = Duration::from_secs(record.ttl.max(1));
                        inner.upsert(resolved.fullname.clone(), record.service, ttl, false);
                    }
                    _ => tracing::debug!(instance = %resolved.fullname,
                        "ignoring an mDNS instance without a micro record"),
                }
            }
            Ok(ServiceEvent::ServiceRemoved(_, fullname)) => inner.remove(&fullname),
            Ok(_) => {}
            Err(mdns_sd::RecvTimeoutError::Timeout) => {}
            Err(mdns_sd::RecvTimeoutError::Disconnected) => return,
        }
        inner.expire();
    }
}

#[async_trait::async_trait]
impl Registry for MdnsRegistry {
    fn name(&self) -> &'static str {
        "mdns"
    }

    async fn register(&self, service: &Service, ttl: Duration) -> Result<()> {
        let inner = &self.inner;
        for node in &service.nodes {
            let addr = announced_addr(&node.address)?;
            let instance = instance_name(&service.name, &node.id);
            let record = txt::NodeRecord {
                service: Service {
                    nodes: vec![node.clone()],
                    ..service.clone()
                },
                ttl: ttl.as_secs().max(1),
                beat: inner.beat.fetch_add(1, Ordering::Relaxed),
            };
            let host = format!("{instance}.local.");
            let mut info = match addr {
                Some(addr) => ServiceInfo::new(
                    SERVICE_TYPE,
                    &instance,
                    &host,
                    addr.ip(),
                    addr.port(),
                    txt::encode(&record),
                ),
                // Not host:port (`nats:<subject>`): the record carries the
                // address; the A records are this host's interfaces.
                None => {
                    ServiceInfo::new(SERVICE_TYPE, &instance, &host, (), 0, txt::encode(&record))
                        .map(ServiceInfo::enable_addr_auto)
                }
            }
            .map_err(|e| mdns_error("record", e))?;
            info.set_requires_probe(false);
            inner
                .daemon
                .register(info)
                .map_err(|e| mdns_error("register", e))?;
            let name = fullname(&instance);
            inner
                .table
                .lock()
                .unwrap()
                .own
                .insert(name.to_lowercase(), node.id.clone());
            inner.upsert(name.to_lowercase(), record.service, ttl, true);
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let inner = &self.inner;
        for node in &service.nodes {
            let name = fullname(&instance_name(&service.name, &node.id));
            let status = inner
                .daemon
                .unregister(&name)
                .map_err(|e| mdns_error("unregister", e))?;
            // The goodbye packets are out once the daemon answers.
            let _ =
                tokio::task::spawn_blocking(move || status.recv_timeout(Duration::from_secs(2)))
                    .await;
            let key = name.to_lowercase();
            inner.table.lock().unwrap().own.remove(&key);
            inner.remove(&key);
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let inner = &self.inner;
        let deadline = inner.started + DISCOVERY_WAIT;
        let mut settle_until: Option<Instant> = None;
        loop {
            let changed = inner.changed.notified();
            let found = collect(&inner.table.lock().unwrap(), Some(name));
            if !found.is_empty() {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(found);
                }
                let until = *settle_until.get_or_insert((now + SETTLE).min(deadline));
                if now >= until {
                    return Ok(found);
                }
                let _ = tokio::time::timeout_at(until.into(), changed).await;
                continue;
            }
            if Instant::now() >= deadline {
                return Err(service_not_found(name));
            }
            let _ = tokio::time::timeout_at(deadline.into(), changed).await;
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let deadline = self.inner.started + DISCOVERY_WAIT;
        if Instant::now() < deadline {
            tokio::time::sleep_until(deadline.into()).await;
        }
        Ok(collect(&self.inner.table.lock().unwrap(), None))
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let (tx, watcher) = Watcher::channel(1024);
        self.inner
            .table
            .lock()
            .unwrap()
            .watchers
            .push((service.map(str::to_owned), tx));
        Ok(watcher)
    }
}

/// Groups known nodes into one record per service version.
fn collect(table: &Table, name: Option<&str>) -> Vec<Service> {
    let mut by_version: HashMap<(String, String), Service> = HashMap::new();
    for known in table.nodes.values() {
        let s = &known.service;
        if name.is_some_and(|n| n != s.name) {
            continue;
        }
        by_version
            .entry((s.name.clone(), s.version.clone()))
            .and_modify(|v| v.nodes.extend(s.nodes.iter().cloned()))
            .or_insert_with(|| s.clone());
    }
    let mut services: Vec<Service> = by_version.into_values().collect();
    services.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    for s in &mut services {
        s.nodes.sort_by(|a, b| a.id.cmp(&b.id));
    }
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_fit_a_dns_label() {
        let name = instance_name(&"x".repeat(200), "node-1");
        assert!(name.len() <= 63, "{name}");
        assert_ne!(instance_name("s", "a"), instance_name("s", "b"));
        assert!(!instance_name("com.example.srv", "n").contains('.'));
    }

    fn node_service(name: &str, id: &str, address: &str) -> Service {
        Service {
            name: name.into(),
            version: "1".into(),
            nodes: vec![super::super::Node {
                id: id.into(),
                address: address.into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn addresses_of_transports_without_hosts_are_announced_without_a_port() {
        assert_eq!(
            announced_addr("127.0.0.1:80").unwrap(),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(announced_addr("nats:micro.rpc.greeter.ab12").unwrap(), None);
        assert_eq!(announced_addr("not an address").unwrap_err().code(), 400);
    }

    #[test]
    fn a_live_instance_keeps_the_address_seen_first() {
        let mut table = Table::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(30);
        let real = node_service("s", "n1", "10.0.0.1:1");
        let forged = node_service("s", "n1", "10.0.0.9:1");
        let admit = |t: &mut Table, s: &Service, at| t.admit("i".into(), s.clone(), ttl, false, at);
        assert_eq!(admit(&mut table, &real, now), Ok(Action::Create));
        assert_eq!(admit(&mut table, &forged, now), Err(Refused::Conflict));
        assert_eq!(admit(&mut table, &real, now), Ok(Action::Update));
        let renamed = node_service("t", "n1", "10.0.0.1:1");
        assert_eq!(admit(&mut table, &renamed, now), Err(Refused::Conflict));
        // Once the first has expired, the instance may move.
        let later = now + ttl + Duration::from_secs(1);
        assert_eq!(admit(&mut table, &forged, later), Ok(Action::Update));
        assert_eq!(table.nodes["i"].node().unwrap().address, "10.0.0.9:1");
        assert_eq!(table.per_service["s"], 1);
        // This process's own registrations are always taken.
        assert_eq!(
            table.admit("i".into(), real.clone(), ttl, true, later),
            Ok(Action::Update)
        );
    }

    #[test]
    fn announced_ttls_are_clamped_and_the_table_is_bounded() {
        let mut table = Table::default();
        let now = Instant::now();
        let week = Duration::from_secs(7 * 24 * 3600);
        for i in 0..MAX_NODES_PER_SERVICE + 10 {
            let result = table.admit(
                format!("i{i}"),
                node_service("flood", &format!("n{i}"), "10.0.0.1:1"),
                week,
                false,
                now,
            );
            assert_eq!(result.is_ok(), i < MAX_NODES_PER_SERVICE, "node {i}");
        }
        assert_eq!(table.nodes["i0"].ttl, MAX_ANNOUNCED_TTL);
        assert_eq!(table.per_service["flood"], MAX_NODES_PER_SERVICE);
        // Other services still get in, up to the table's bound.
        for i in 0..MAX_NODES {
            let name = format!("svc{}", i % 64);
            let _ = table.admit(
                format!("o{i}"),
                node_service(&name, &format!("o{i}"), "a:1"),
                week,
                false,
                now,
            );
        }
        assert_eq!(table.nodes.len(), MAX_NODES);
        // Forgetting a node makes room again.
        assert!(table.take("i0").is_some());
        assert_eq!(table.per_service["flood"], MAX_NODES_PER_SERVICE - 1);
        let again = table.admit(
            "new".into(),
            node_service("x", "x", "a:1"),
            week,
            false,
            now,
        );
        assert_eq!(again, Ok(Action::Create));
    }
}
