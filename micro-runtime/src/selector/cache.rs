//! The registry cache: what the client selects from.
//!
//! One entry per service the client calls, filled on first use, then kept
//! current by a watch on the registry, and refreshed in full every TTL (with
//! jitter, so a fleet of clients does not refresh in step). When the
//! registry is unreachable the last known nodes keep being served (stale
//! beats nothing: the nodes themselves are usually fine). The number of
//! services cached is bounded; the least recently used one is dropped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::node::grpc_only;
use super::{NodeInfo, ServiceNodes, StatsTable};
use crate::registry::{Action, Event, Node, Registry, Service};
use crate::transport::Security;
use crate::{Error, Result};

/// Tuning of a [`RegistryCache`].
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// Full refresh interval (a random ±10 % is added).
    pub ttl: Duration,
    /// Most services kept; beyond it the least recently used is dropped.
    pub max_services: usize,
    /// Longest wait between attempts while the registry is unreachable.
    pub max_backoff: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            max_services: 1024,
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// A watched cache in front of a [`Registry`]. Cheap to clone.
#[derive(Clone)]
pub struct RegistryCache {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Arc<dyn Registry>,
    options: CacheOptions,
    entries: RwLock<HashMap<Arc<str>, Arc<Entry>>>,
    stats: StatsTable,
    epoch: Instant,
}

/// Version -> (the version's record without nodes, its nodes by id).
type Versions = BTreeMap<String, (Arc<Service>, BTreeMap<String, Node>)>;

#[derive(Clone)]
enum Fill {
    Pending,
    Ready,
    Failed(Error),
}

struct Entry {
    name: Arc<str>,
    snapshot: RwLock<Arc<ServiceNodes>>,
    versions: Mutex<Versions>,
    cursor: Arc<AtomicUsize>,
    last_used_ms: AtomicU64,
    fill: watch::Sender<Fill>,
    task: Mutex<Option<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for entry in self.entries.get_mut().unwrap().values() {
            entry.stop();
        }
    }
}

impl RegistryCache {
    /// A cache in front of `registry`.
    pub fn new(registry: Arc<dyn Registry>, options: CacheOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                options,
                entries: RwLock::default(),
                stats: StatsTable::default(),
                epoch: Instant::now(),
            }),
        }
    }

    /// The registry behind the cache.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.inner.registry
    }

    /// The nodes of `service`.
    ///
    /// # Errors
    ///
    /// 404 when the registry knows no such service; the registry's error when
    /// it cannot be reached and nothing is cached yet.
    pub async fn get(&self, service: &str) -> Result<Arc<ServiceNodes>> {
        let now_ms = self.inner.epoch.elapsed().as_millis() as u64;
        let existing = self.inner.entries.read().unwrap().get(service).cloned();
        let entry = match existing {
            Some(entry) => entry,
            None => self.insert(service),
        };
        entry.last_used_ms.store(now_ms, Ordering::Relaxed);
        if matches!(*entry.fill.borrow(), Fill::Ready) {
            return Ok(entry.snapshot());
        }
        let mut fill = entry.fill.subscribe();
        let state = fill
            .wait_for(|f| !matches!(f, Fill::Pending))
            .await
            .map(|f| f.clone())
            .unwrap_or_else(|_| Fill::Failed(Error::unavailable("registry cache closed")));
        match state {
            Fill::Ready => Ok(entry.snapshot()),
            Fill::Failed(err) => {
                self.remove(&entry);
                Err(err)
            }
            Fill::Pending => unreachable!("waited until not pending"),
        }
    }

    /// Names of the services cached now.
    pub fn cached_services(&self) -> Vec<String> {
        self.inner
            .entries
            .read()
            .unwrap()
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    fn insert(&self, service: &str) -> Arc<Entry> {
        let mut entries = self.inner.entries.write().unwrap();
        if let Some(entry) = entries.get(service) {
            return entry.clone();
        }
        if entries.len() >= self.inner.options.max_services {
            let oldest = entries
                .values()
                .min_by_key(|e| e.last_used_ms.load(Ordering::Relaxed))
                .map(|e| e.name.clone());
            if let Some(oldest) = oldest
                && let Some(evicted) = entries.remove(&oldest)
            {
                evicted.stop();
            }
        }
        let name: Arc<str> = service.into();
        let entry = Arc::new(Entry {
            name: name.clone(),
            snapshot: RwLock::new(Arc::new(ServiceNodes::empty(name.clone()))),
            versions: Mutex::default(),
            // Each client starts its rotation somewhere else, so short-lived
            // clients do not all pick the same first node.
            cursor: Arc::new(AtomicUsize::new(fastrand::usize(..))),
            last_used_ms: AtomicU64::new(0),
            fill: watch::channel(Fill::Pending).0,
            task: Mutex::new(None),
        });
        entries.insert(name, entry.clone());
        let task = tokio::spawn(maintain(Arc::downgrade(&self.inner), entry.clone()));
        *entry.task.lock().unwrap() = Some(task.abort_handle());
        entry
    }

    fn remove(&self, entry: &Arc<Entry>) {
        let mut entries = self.inner.entries.write().unwrap();
        if entries
            .get(&entry.name)
            .is_some_and(|e| Arc::ptr_eq(e, entry))
        {
            entries.remove(&entry.name);
        }
        entry.stop();
    }
}

impl Entry {
    fn snapshot(&self) -> Arc<ServiceNodes> {
        self.snapshot.read().unwrap().clone()
    }

    fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Replaces everything with a full listing.
    fn replace(&self, services: Vec<Service>, stats: &StatsTable) {
        let mut versions = self.versions.lock().unwrap();
        versions.clear();
        for service in services {
            upsert(&mut versions, service);
        }
        self.publish(&versions, stats);
    }

    fn apply(&self, event: Event, stats: &StatsTable) {
        let mut versions = self.versions.lock().unwrap();
        match event.action {
            Action::Create | Action::Update => upsert(&mut versions, event.service),
            Action::Delete => {
                if let Some((_, nodes)) = versions.get_mut(&event.service.version) {
                    for node in &event.service.nodes {
                        nodes.remove(&node.id);
                    }
                    if nodes.is_empty() {
                        versions.remove(&event.service.version);
                    }
                }
            }
        }
        self.publish(&versions, stats);
    }

    fn publish(&self, versions: &Versions, stats: &StatsTable) {
        let nodes = versions
            .values()
            .flat_map(|(service, nodes)| {
                let endpoints: Arc<HashSet<String>> =
                    Arc::new(service.endpoints.iter().map(|e| e.name.clone()).collect());
                nodes.values().map(move |node| {
                    Arc::new(NodeInfo {
                        address: node.address.as_str().into(),
                        stats: stats.get(&node.id),
                        grpc_only: grpc_only(node, service),
                        security: Security::of_node(&node.metadata),
                        node: node.clone(),
                        service: service.clone(),
                        endpoints: endpoints.clone(),
                    })
                })
            })
            .collect();
        *self.snapshot.write().unwrap() = Arc::new(ServiceNodes {
            name: self.name.clone(),
            nodes,
            cursor: self.cursor.clone(),
        });
    }
}

fn upsert(versions: &mut Versions, mut service: Service) {
    let nodes = std::mem::take(&mut service.nodes);
    let slot = versions
        .entry(service.version.clone())
        .or_insert_with(|| (Arc::new(Service::default()), BTreeMap::new()));
    slot.0 = Arc::new(service);
    for node in nodes {
        slot.1.insert(node.id.clone(), node);
    }
}

fn jittered(base: Duration) -> Duration {
    base.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// Keeps one entry current until it is dropped from the cache.
async fn maintain(cache: Weak<Inner>, entry: Arc<Entry>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(inner) = cache.upgrade() else { return };
        let registry = inner.registry.clone();
        let ttl = inner.options.ttl;
        let max_backoff = inner.options.max_backoff;
        drop(inner);

        // Watch first, then list, so no change falls between the two.
        let watcher = registry.watch(Some(&entry.name)).await;
        let listing = registry.get_service(&entry.name).await;
        let Some(inner) = cache.upgrade() else { return };
        let first = matches!(*entry.fill.borrow(), Fill::Pending);
        match listing {
            Ok(services) => entry.replace(services, &inner.stats),
            Err(err) if err.is_not_found() => {
                if first {
                    entry.fill.send_replace(Fill::Failed(err));
                    return;
                }
                entry.replace(Vec::new(), &inner.stats);
            }
            Err(err) => {
                if first {
                    entry.fill.send_replace(Fill::Failed(err));
                    return;
                }
                tracing::warn!(service = %entry.name, error = %err,
                    "registry unreachable; serving cached nodes");
            }
        }
        drop(inner);
        entry.fill.send_replace(Fill::Ready);

        let mut watcher = match watcher {
            Ok(w) => w,
            Err(err) => {
                tracing::warn!(service = %entry.name, error = %err, "registry watch failed");
                tokio::time::sleep(jittered(backoff)).await;
                backoff = (backoff * 2).min(max_backoff);
                continue;
            }
        };
        let refresh = tokio::time::sleep(jittered(ttl));
        tokio::pin!(refresh);
        loop {
            tokio::select! {
                event = watcher.next() => match event {
                    Ok(event) => {
                        backoff = Duration::from_millis(100);
                        let Some(inner) = cache.upgrade() else { return };
                        if event.service.name == *entry.name {
                            entry.apply(event, &inner.stats);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(service = %entry.name, error = %err,
                            "registry watch broke; serving cached nodes");
                        tokio::time::sleep(jittered(backoff)).await;
                        backoff = (backoff * 2).min(max_backoff);
                        break;
                    }
                },
                () = &mut refresh => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::memory::MemoryRegistry;

    fn service(node: &str) -> Service {
        Service {
            name: "greeter".into(),
            version: "1".into(),
            nodes: vec![Node {
                id: node.into(),
                address: format!("{node}:1"),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    async fn wait_for_nodes(cache: &RegistryCache, n: usize) {
        loop {
            if cache.get("greeter").await.unwrap().nodes.len() == n {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn unknown_service_is_404_and_not_kept() {
        let cache = RegistryCache::new(Arc::new(MemoryRegistry::new()), CacheOptions::default());
        let err = cache.get("nope").await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(cache.cached_services().is_empty());
    }

    #[tokio::test]
    async fn follows_the_registry_by_watch() {
        let registry = MemoryRegistry::new();
        let ttl = Duration::from_secs(60);
        registry.register(&service("a"), ttl).await.unwrap();
        let cache = RegistryCache::new(Arc::new(registry.clone()), CacheOptions::default());
        assert_eq!(cache.get("greeter").await.unwrap().nodes.len(), 1);
        registry.register(&service("b"), ttl).await.unwrap();
        wait_for_nodes(&cache, 2).await;
        registry.deregister(&service("a")).await.unwrap();
        wait_for_nodes(&cache, 1).await;
        assert_eq!(cache.get("greeter").await.unwrap().nodes[0].node.id, "b");
    }

    #[tokio::test]
    async fn bounded_by_max_services() {
        let registry = MemoryRegistry::new();
        for name in ["a", "b", "c"] {
            let mut s = service(name);
            s.name = name.into();
            registry
                .register(&s, Duration::from_secs(60))
                .await
                .unwrap();
        }
        let cache = RegistryCache::new(
            Arc::new(registry),
            CacheOptions {
                max_services: 2,
                ..Default::default()
            },
        );
        for name in ["a", "b", "c"] {
            cache.get(name).await.unwrap();
        }
        assert_eq!(cache.cached_services().len(), 2);
    }
}
