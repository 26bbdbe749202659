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
//! clamps announced TTLs to 120 s (and never lets a live instance's
//! shrink), and holds at most 1,024 nodes a service and 16,384 in all. A
//! goodbye for a live node is not taken at its word: the node is dropped
//! only if it does not announce itself within 3 s, and a node that hears a
//! goodbye for itself it did not send announces itself at once (a forged
//! goodbye drops nothing; a real one is honoured within those 3 s). Use it
//! on trusted networks; use etcd elsewhere.
//!
//! `MICRO_MDNS_INTERFACES` (comma-separated interface names, e.g. `lo`)
//! confines mDNS to those interfaces; `MICRO_MDNS_PORT` changes the port
//! (default 5353).

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
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

/// How long a live node stays after a goodbye for it, waiting for an
/// announcement that proves the goodbye forged (its own process answers a
/// goodbye it did not send at once).
const GOODBYE_GRACE: Duration = Duration::from_secs(3);

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
    /// Nodes this process registered (lower-case fullname -> what it
    /// announces, to announce it again).
    own: HashMap<String, Own>,
    watchers: Vec<(Option<String>, mpsc::Sender<Result<Event>>)>,
}

struct Known {
    service: Service,
    seen: Instant,
    ttl: Duration,
    /// When a goodbye for it came while it was alive: dropped after
    /// [`GOODBYE_GRACE`] unless it announces itself again.
    goodbye: Option<Instant>,
}

impl Known {
    fn node(&self) -> Option<&super::Node> {
        self.service.nodes.first()
    }

    fn alive(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.seen) <= self.ttl
    }

    fn gone(&self, now: Instant) -> bool {
        !self.alive(now)
            || self
                .goodbye
                .is_some_and(|at| now.saturating_duration_since(at) > GOODBYE_GRACE)
    }
}

/// A node this process announces: its record (one node) and TTL.
#[derive(Clone)]
struct Own {
    service: Service,
    ttl: Duration,
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
        let mut ttl = if own { ttl } else { ttl.min(MAX_ANNOUNCED_TTL) };
        if let Some(known) = self.nodes.get(&fullname) {
            let alive = known.alive(now);
            let same = known.node().map(|n| (&n.id, &n.address))
                == service.nodes.first().map(|n| (&n.id, &n.address));
            if !own && alive && (!same || known.service.name != service.name) {
                return Err(Refused::Conflict);
            }
            if !own && alive {
                // A node keeps its TTL while it lives: a forged record with
                // a short one would otherwise have it expire.
                ttl = ttl.max(known.ttl);
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
                goodbye: None,
            },
        ) {
            Some(_) => Action::Update,
            None => Action::Create,
        };
        Ok(action)
    }

    /// A goodbye for `fullname`: true when it may be dropped now (it is
    /// known and no longer alive); a live node is only marked, and dropped
    /// by [`Inner::expire`] unless it announces itself within the grace.
    fn goodbye(&mut self, fullname: &str, now: Instant) -> bool {
        match self.nodes.get_mut(fullname) {
            Some(known) if known.alive(now) => {
                known.goodbye.get_or_insert(now);
                false
            }
            Some(_) => true,
            None => false,
        }
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

    /// A goodbye from the network for `fullname`. Not taken at its word
    /// (anyone can send one): for a node of this process it is forged, and
    /// the node announces itself again; a live node of another process
    /// stays for [`GOODBYE_GRACE`], in which its own process announces it
    /// again if it was forged.
    fn goodbye(&self, fullname: &str) {
        let own = self
            .table
            .lock()
            .unwrap()
            .own
            .get(&fullname.to_lowercase())
            .cloned();
        if let Some(own) = own {
            self.refusals.warn(|suppressed| {
                tracing::warn!(instance = %fullname, suppressed,
                    "a goodbye for a node of this process that it did not send (forged?): \
                     announcing the node again");
            });
            if let Err(err) = self.announce(&own.service, own.ttl) {
                tracing::warn!(instance = %fullname, error = %err, "announcing the node again failed");
            }
            return;
        }
        let now = Instant::now();
        let mut table = self.table.lock().unwrap();
        if table.goodbye(fullname, now) {
            if let Some(known) = table.take(fullname) {
                self.notify(&mut table, Action::Delete, &known.service);
            }
        } else {
            tracing::debug!(instance = %fullname,
                "goodbye for a live node: dropped unless it announces itself within {GOODBYE_GRACE:?}");
        }
    }

    /// Announces `service`'s one node (again) with a fresh beat, so every
    /// peer sees a change; returns its lower-case full name.
    fn announce(&self, service: &Service, ttl: Duration) -> Result<String> {
        let node = service.nodes.first().ok_or_else(|| {
            Error::bad_request("a record without a node").with_id("micro.registry")
        })?;
        let addr = announced_addr(&node.address)?;
        let instance = instance_name(&service.name, &node.id);
        let record = txt::NodeRecord {
            service: service.clone(),
            ttl: ttl.as_secs().max(1),
            beat: self.beat.fetch_add(1, Ordering::Relaxed),
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
            None => ServiceInfo::new(SERVICE_TYPE, &instance, &host, (), 0, txt::encode(&record))
                .map(ServiceInfo::enable_addr_auto),
        }
        .map_err(|e| mdns_error("record", e))?;
        info.set_requires_probe(false);
        self.daemon
            .register(info)
            .map_err(|e| mdns_error("register", e))?;
        Ok(fullname(&instance).to_lowercase())
    }

    /// Drops nodes not heard of for their TTL (our own never expire).
    fn expire(&self) {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap();
        let expired: Vec<String> = table
            .nodes
            .iter()
            .filter(|(name, k)| !table.own.contains_key(*name) && k.gone(now))
            .map(|(name, _)| name.clone())
            .collect();
        for name in expired {
            if let Some(known) = table.take(&name) {
                tracing::info!(node = %known.service.nodes.first().map_or("", |n| n.id.as_str()),
                    goodbye = known.goodbye.is_some(),
                    "node expired: not announced within its TTL, or after its goodbye");
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
            Ok(ServiceEvent::ServiceRemoved(_, fullname)) => inner.goodbye(&fullname),
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
            let own = Own {
                service: Service {
                    nodes: vec![node.clone()],
                    ..service.clone()
                },
                ttl,
            };
            let name = inner.announce(&own.service, ttl)?;
            let record = own.service.clone();
            inner.table.lock().unwrap().own.insert(name.clone(), own);
            inner.upsert(name, record, ttl, true);
        }
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let inner = &self.inner;
        for node in &service.nodes {
            let name = fullname(&instance_name(&service.name, &node.id));
            // No longer ours before the goodbye goes out: ours, it would be
            // answered by announcing the node again.
            let key = name.to_lowercase();
            inner.table.lock().unwrap().own.remove(&key);
            inner.remove(&key);
            let status = inner
                .daemon
                .unregister(&name)
                .map_err(|e| mdns_error("unregister", e))?;
            // The goodbye packets are out once the daemon answers.
            let _ =
                tokio::task::spawn_blocking(move || status.recv_timeout(Duration::from_secs(2)))
                    .await;
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
    fn a_goodbye_for_a_live_node_waits_for_its_next_announcement() {
        let mut table = Table::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(30);
        let real = node_service("s", "n1", "10.0.0.1:1");
        table
            .admit("i".into(), real.clone(), ttl, false, now)
            .unwrap();
        // A goodbye (forged or not) only marks a live node.
        assert!(!table.goodbye("i", now));
        assert!(!table.nodes["i"].gone(now + GOODBYE_GRACE));
        // Its own announcement within the grace clears the mark...
        let soon = now + Duration::from_secs(1);
        assert_eq!(
            table.admit("i".into(), real.clone(), ttl, false, soon),
            Ok(Action::Update)
        );
        assert!(!table.nodes["i"].gone(soon + GOODBYE_GRACE * 2));
        // ...without one, the node is gone once the grace is over.
        assert!(!table.goodbye("i", soon));
        assert!(table.nodes["i"].gone(soon + GOODBYE_GRACE + Duration::from_millis(1)));
        // A goodbye for a node already past its TTL drops it at once; one
        // for an unknown instance does nothing.
        assert!(table.goodbye("i", now + ttl * 2));
        assert!(!table.goodbye("unknown", now));
    }

    #[test]
    fn a_live_node_keeps_its_ttl_whatever_a_record_claims() {
        let mut table = Table::default();
        let now = Instant::now();
        let real = node_service("s", "n1", "10.0.0.1:1");
        let admit = |t: &mut Table, ttl, at| t.admit("i".into(), real.clone(), ttl, false, at);
        admit(&mut table, Duration::from_secs(60), now).unwrap();
        admit(&mut table, Duration::from_secs(1), now).unwrap();
        assert_eq!(table.nodes["i"].ttl, Duration::from_secs(60));
        // A new life (after it expired) starts with what it announces.
        let later = now + Duration::from_secs(61);
        admit(&mut table, Duration::from_secs(5), later).unwrap();
        assert_eq!(table.nodes["i"].ttl, Duration::from_secs(5));
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
