//! What the gateway knows of the registry: every service with its
//! endpoints, versions and node count, kept fresh by a registry watch, so
//! a service that starts later is routable at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use micro_runtime::endpoint::CallKind;
use micro_runtime::{Client, Result};
use tokio::sync::oneshot;

/// How long a broken registry watch waits before watching again.
const REWATCH: Duration = Duration::from_secs(1);

/// One service as the registry lists it, all versions together.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    /// Endpoint name -> kind.
    pub(crate) endpoints: BTreeMap<String, CallKind>,
    /// Its versions, sorted.
    pub(crate) versions: Vec<String>,
    /// How many nodes run it.
    pub(crate) nodes: usize,
    /// The base URL of each node that serves a web app (see
    /// [`crate::web`]).
    pub(crate) web: Vec<String>,
}

/// The registry at one moment.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Service name -> entry.
    pub(crate) services: BTreeMap<String, Entry>,
}

impl Snapshot {
    /// The names of the services with at least one node.
    pub(crate) fn live(&self) -> impl Iterator<Item = &str> + Clone {
        self.services
            .iter()
            .filter(|(_, e)| e.nodes > 0)
            .map(|(name, _)| name.as_str())
    }

    /// The names of the services with at least one web node.
    pub(crate) fn web_apps(&self) -> impl Iterator<Item = &str> + Clone {
        self.services
            .iter()
            .filter(|(_, e)| !e.web.is_empty())
            .map(|(name, _)| name.as_str())
    }
}

/// The registry as the gateway sees it: a snapshot listed once and again
/// after every change the watch reports (or a miss).
pub(crate) struct Catalog {
    client: Client,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// A change was reported (or the watch is broken) since the listing.
    dirty: AtomicBool,
    /// Counts listings, so callers waiting on one do not list again.
    generation: AtomicU64,
    listing: tokio::sync::Mutex<()>,
    /// Every service name ever listed: one that left answers 503, not 404.
    seen: Mutex<BTreeSet<String>>,
    /// Dropped with the catalog, which ends the watch task.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Catalog {
    /// A catalog of `client`'s registry; nothing is listed yet.
    pub(crate) fn new(client: Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            snapshot: RwLock::new(None),
            dirty: AtomicBool::new(true),
            generation: AtomicU64::new(0),
            listing: tokio::sync::Mutex::new(()),
            seen: Mutex::default(),
            stop: Mutex::new(None),
        })
    }

    /// The current snapshot, listed anew when the registry changed.
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be listed.
    pub(crate) async fn snapshot(self: &Arc<Self>) -> Result<Arc<Snapshot>> {
        self.start_watch();
        if !self.dirty.load(Ordering::Acquire)
            && let Some(snapshot) = self.snapshot.read().unwrap().clone()
        {
            return Ok(snapshot);
        }
        self.list().await
    }

    /// A snapshot listed now (after a name was not found: the watch may
    /// not have told yet).
    ///
    /// # Errors
    ///
    /// The registry's error when it cannot be listed.
    pub(crate) async fn relisted(self: &Arc<Self>) -> Result<Arc<Snapshot>> {
        self.start_watch();
        self.list().await
    }

    /// The names of every service ever seen.
    pub(crate) fn seen_names(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().cloned().collect()
    }

    async fn list(&self) -> Result<Arc<Snapshot>> {
        let before = self.generation.load(Ordering::Acquire);
        let _listing = self.listing.lock().await;
        if self.generation.load(Ordering::Acquire) != before
            && let Some(snapshot) = self.snapshot.read().unwrap().clone()
        {
            // Someone listed while we waited.
            return Ok(snapshot);
        }
        self.dirty.store(false, Ordering::Release);
        let listed = match self.client.services().await {
            Ok(listed) => listed,
            Err(err) => {
                self.dirty.store(true, Ordering::Release);
                return Err(err);
            }
        };
        let mut snapshot = Snapshot::default();
        for version in listed {
            let entry = snapshot.services.entry(version.name).or_default();
            entry.versions.push(version.version);
            entry.nodes += version.nodes.len();
            entry
                .web
                .extend(version.nodes.iter().filter_map(crate::web::base_url));
            for endpoint in version.endpoints {
                let kind = endpoint
                    .metadata
                    .get("stream")
                    .and_then(|k| CallKind::parse(k))
                    .unwrap_or(CallKind::Unary);
                entry.endpoints.insert(endpoint.name, kind);
            }
        }
        for entry in snapshot.services.values_mut() {
            entry.versions.sort();
            entry.versions.dedup();
            entry.web.sort();
            entry.web.dedup();
        }
        self.seen
            .lock()
            .unwrap()
            .extend(snapshot.services.keys().cloned());
        let snapshot = Arc::new(snapshot);
        *self.snapshot.write().unwrap() = Some(snapshot.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(snapshot)
    }

    /// Starts the watch task once; it marks the snapshot stale on every
    /// change, and ends when the catalog is dropped.
    fn start_watch(self: &Arc<Self>) {
        let mut stop = self.stop.lock().unwrap();
        if stop.is_some() {
            return;
        }
        let (tx, mut rx) = oneshot::channel::<()>();
        *stop = Some(tx);
        let catalog = Arc::downgrade(self);
        let client = self.client.clone();
        tokio::spawn(async move {
            // Marks the snapshot stale; false once the catalog is gone.
            let mark = || match catalog.upgrade() {
                Some(c) => {
                    c.dirty.store(true, Ordering::Release);
                    true
                }
                None => false,
            };
            loop {
                let watch = tokio::select! {
                    _ = &mut rx => return,
                    watch = client.watch(None) => watch,
                };
                let Ok(mut watcher) = watch else {
                    tracing::warn!("gateway: cannot watch the registry; listing on every request");
                    if !mark() {
                        return;
                    }
                    tokio::select! {
                        _ = &mut rx => return,
                        () = tokio::time::sleep(REWATCH) => continue,
                    }
                };
                // Changes made before the watch started.
                if !mark() {
                    return;
                }
                loop {
                    let event = tokio::select! {
                        _ = &mut rx => return,
                        event = watcher.next() => event,
                    };
                    if !mark() {
                        return;
                    }
                    if event.is_err() {
                        break;
                    }
                }
                tokio::select! {
                    _ = &mut rx => return,
                    () = tokio::time::sleep(REWATCH) => {}
                }
            }
        });
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("dirty", &self.dirty.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
