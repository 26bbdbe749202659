//! The in-memory store (`MICRO_STORE=memory`): for one process and for
//! tests. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;

use super::checks::{self, Namespace};
use super::{
    DeleteOptions, Fence, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use crate::Result;

/// A store held in memory. Clones share their data;
/// [`MemoryStore::global`] is the process-wide one.
#[derive(Clone)]
pub struct MemoryStore {
    defaults: Namespace,
    tables: Arc<Mutex<HashMap<Namespace, Table>>>,
}

#[derive(Default)]
struct Table {
    records: BTreeMap<String, Entry>,
    /// Fence name -> highest token seen.
    fences: HashMap<String, u64>,
}

struct Entry {
    value: Bytes,
    metadata: BTreeMap<String, String>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }

    fn record(&self, key: &str, now: Instant) -> Record {
        Record {
            key: key.to_owned(),
            value: self.value.clone(),
            metadata: self.metadata.clone(),
            expiry: self.expires.map(|at| at.saturating_duration_since(now)),
        }
    }
}

impl Table {
    /// Checks `fence` and records its token; 409 when it is behind.
    fn pass(&mut self, fence: Option<&Fence>) -> Result<()> {
        let Some(fence) = fence else { return Ok(()) };
        let highest = self.fences.entry(fence.name.clone()).or_insert(0);
        if fence.token < *highest {
            return Err(checks::fenced(fence, Some(*highest)));
        }
        *highest = fence.token;
        Ok(())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store using database and table `micro`.
    pub fn new() -> Self {
        Self {
            defaults: Namespace::new(super::DEFAULT_DATABASE, super::DEFAULT_TABLE)
                .expect("the default names are valid"),
            tables: Arc::default(),
        }
    }

    /// An empty store with the database and table of `options` (its
    /// address is not used).
    ///
    /// # Errors
    ///
    /// 400 for a bad database or table name.
    pub fn with_options(options: &StoreOptions) -> Result<Self> {
        Ok(Self {
            defaults: options.namespace()?,
            tables: Arc::default(),
        })
    }

    /// The process-wide store (what `MICRO_STORE=memory` gives), seen
    /// through the database and table of `options`.
    ///
    /// # Errors
    ///
    /// 400 for a bad database or table name.
    pub fn global(options: &StoreOptions) -> Result<Self> {
        static TABLES: OnceLock<Arc<Mutex<HashMap<Namespace, Table>>>> = OnceLock::new();
        Ok(Self {
            defaults: options.namespace()?,
            tables: TABLES.get_or_init(Arc::default).clone(),
        })
    }

    fn with_table<T>(&self, namespace: Namespace, f: impl FnOnce(&mut Table) -> T) -> T {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        f(tables.entry(namespace).or_default())
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>> {
        let namespace = self.defaults.of(&options.scope)?;
        let now = Instant::now();
        if !options.prefix {
            checks::key(key)?;
            return self.with_table(namespace.clone(), |table| {
                match table.records.get(key).filter(|e| e.live(now)) {
                    Some(entry) => Ok(vec![entry.record(key, now)]),
                    None => Err(checks::not_found(key, &namespace)),
                }
            });
        }
        checks::prefix(key)?;
        let records = self.with_table(namespace, |table| {
            table
                .records
                .range(key.to_owned()..)
                .take_while(|(k, _)| k.starts_with(key))
                .filter(|(_, e)| e.live(now))
                .skip(options.offset)
                .take(options.limit.unwrap_or(usize::MAX))
                .map(|(k, e)| e.record(k, now))
                .collect()
        });
        Ok(records)
    }

    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::write(&record, options.ttl, options.fence.as_ref())?;
        let expires = options.ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        self.with_table(namespace, |table| {
            table.pass(options.fence.as_ref())?;
            if table.records.len() % 256 == 255 {
                let now = Instant::now();
                table.records.retain(|_, e| e.live(now));
            }
            table.records.insert(
                record.key,
                Entry {
                    value: record.value,
                    metadata: record.metadata,
                    expires,
                },
            );
            Ok(())
        })
    }

    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::key(key)?;
        if let Some(fence) = &options.fence {
            checks::name("fence", &fence.name)?;
        }
        self.with_table(namespace, |table| {
            table.pass(options.fence.as_ref())?;
            table.records.remove(key);
            Ok(())
        })
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<String>> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::prefix(&options.prefix)?;
        let now = Instant::now();
        Ok(self.with_table(namespace, |table| {
            table
                .records
                .range(options.prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&options.prefix))
                .filter(|(_, e)| e.live(now))
                .skip(options.offset)
                .take(options.limit.unwrap_or(usize::MAX))
                .map(|(k, _)| k.clone())
                .collect()
        }))
    }
}
