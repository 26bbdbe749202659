//! The in-memory registry: for one process and for tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Action, Event, Node, Registry, Service, Watcher, service_not_found};
use crate::{Error, Result};

/// A registry held in memory. Clones share their state;
/// [`MemoryRegistry::global`] is the process-wide instance.
#[derive(Clone, Default)]
pub struct MemoryRegistry {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// name -> version -> record
    services: BTreeMap<String, BTreeMap<String, Record>>,
    watchers: Vec<(Option<String>, mpsc::Sender<Result<Event>>)>,
}

struct Record {
    service: Service,
    nodes: HashMap<String, (Node, Instant)>,
}

impl Record {
    fn snapshot(&self) -> Service {
        let mut nodes: Vec<Node> = self.nodes.values().map(|(n, _)| n.clone()).collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Service {
            nodes,
            ..self.service.clone()
        }
    }
}

impl State {
    fn notify(&mut self, action: Action, service: Service) {
        self.watchers.retain(|(filter, tx)| {
            if filter.as_ref().is_some_and(|f| *f != service.name) {
                return !tx.is_closed();
            }
            match tx.try_send(Ok(Event {
                action,
                service: service.clone(),
            })) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // A watcher too slow to keep up is cut off; the cache
                    // behind it re-lists and watches again.
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }

    fn prune(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for versions in self.services.values_mut() {
            for record in versions.values_mut() {
                let gone: Vec<Node> = record
                    .nodes
                    .values()
                    .filter(|(_, expires)| *expires <= now)
                    .map(|(n, _)| n.clone())
                    .collect();
                for node in &gone {
                    record.nodes.remove(&node.id);
                }
                if !gone.is_empty() {
                    expired.push(Service {
                        nodes: gone,
                        ..record.service.clone()
                    });
                }
            }
            versions.retain(|_, r| !r.nodes.is_empty());
        }
        self.services.retain(|_, v| !v.is_empty());
        for service in expired {
            self.notify(Action::Delete, service);
        }
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide instance (`MICRO_REGISTRY=memory`).
    pub fn global() -> Self {
        static GLOBAL: OnceLock<MemoryRegistry> = OnceLock::new();
        GLOBAL.get_or_init(MemoryRegistry::new).clone()
    }
}

#[async_trait::async_trait]
impl Registry for MemoryRegistry {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn register(&self, service: &Service, ttl: Duration) -> Result<()> {
        if service.name.is_empty() {
            return Err(Error::bad_request("service name is empty"));
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap();
        state.prune(now);
        let versions = state.services.entry(service.name.clone()).or_default();
        let created = !versions.contains_key(&service.version);
        let record = versions
            .entry(service.version.clone())
            .or_insert_with(|| Record {
                service: Service::default(),
                nodes: HashMap::new(),
            });
        record.service = Service {
            nodes: Vec::new(),
            ..service.clone()
        };
        for node in &service.nodes {
            record
                .nodes
                .insert(node.id.clone(), (node.clone(), now + ttl));
        }
        let action = if created {
            Action::Create
        } else {
            Action::Update
        };
        state.notify(action, service.clone());
        Ok(())
    }

    async fn deregister(&self, service: &Service) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        state.prune(Instant::now());
        let mut removed = Vec::new();
        if let Some(versions) = state.services.get_mut(&service.name) {
            if let Some(record) = versions.get_mut(&service.version) {
                for node in &service.nodes {
                    if let Some((node, _)) = record.nodes.remove(&node.id) {
                        removed.push(node);
                    }
                }
                if record.nodes.is_empty() {
                    versions.remove(&service.version);
                }
            }
            if versions.is_empty() {
                state.services.remove(&service.name);
            }
        }
        if !removed.is_empty() {
            state.notify(
                Action::Delete,
                Service {
                    nodes: removed,
                    ..service.clone()
                },
            );
        }
        Ok(())
    }

    async fn get_service(&self, name: &str) -> Result<Vec<Service>> {
        let mut state = self.state.lock().unwrap();
        state.prune(Instant::now());
        match state.services.get(name) {
            Some(versions) => Ok(versions.values().map(Record::snapshot).collect()),
            None => Err(service_not_found(name)),
        }
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        let mut state = self.state.lock().unwrap();
        state.prune(Instant::now());
        Ok(state
            .services
            .values()
            .flat_map(|versions| versions.values().map(Record::snapshot))
            .collect())
    }

    async fn watch(&self, service: Option<&str>) -> Result<Watcher> {
        let (tx, watcher) = Watcher::channel(1024);
        self.state
            .lock()
            .unwrap()
            .watchers
            .push((service.map(str::to_owned), tx));
        Ok(watcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(version: &str, node: &str) -> Service {
        Service {
            name: "greeter".into(),
            version: version.into(),
            nodes: vec![Node {
                id: node.into(),
                address: format!("{node}:1"),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn register_get_deregister() {
        let reg = MemoryRegistry::new();
        reg.register(&service("1", "a"), Duration::from_secs(60))
            .await
            .unwrap();
        reg.register(&service("1", "b"), Duration::from_secs(60))
            .await
            .unwrap();
        reg.register(&service("2", "c"), Duration::from_secs(60))
            .await
            .unwrap();
        let got = reg.get_service("greeter").await.unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].nodes.len(), 2);
        reg.deregister(&service("1", "a")).await.unwrap();
        reg.deregister(&service("1", "b")).await.unwrap();
        reg.deregister(&service("2", "c")).await.unwrap();
        assert!(reg.get_service("greeter").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn watch_sees_create_update_delete() {
        let reg = MemoryRegistry::new();
        let mut watch = reg.watch(Some("greeter")).await.unwrap();
        reg.register(&service("1", "a"), Duration::from_secs(60))
            .await
            .unwrap();
        reg.register(&service("1", "b"), Duration::from_secs(60))
            .await
            .unwrap();
        reg.deregister(&service("1", "a")).await.unwrap();
        assert_eq!(watch.next().await.unwrap().action, Action::Create);
        assert_eq!(watch.next().await.unwrap().action, Action::Update);
        let delete = watch.next().await.unwrap();
        assert_eq!(delete.action, Action::Delete);
        assert_eq!(delete.service.nodes[0].id, "a");
    }

    #[tokio::test]
    async fn expired_nodes_disappear() {
        let reg = MemoryRegistry::new();
        reg.register(&service("1", "a"), Duration::ZERO)
            .await
            .unwrap();
        assert!(reg.get_service("greeter").await.unwrap_err().is_not_found());
    }
}
