//! The file store (`MICRO_STORE=file`, the default; cargo feature
//! `store-file`, on by default): records in one [redb](https://www.redb.org)
//! file, durable across restarts, with no server.
//!
//! `MICRO_STORE_ADDRESS` is the file's path (default `.micro/store.redb`
//! in the working directory; missing folders are created). Each write is
//! one redb transaction committed to disk before it returns: the fence
//! check, the token and the record together, or nothing. redb locks the
//! file, so one process uses it at a time (another gets 503 naming it);
//! inside a process every [`FileStore`] of a path shares one open file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::checks::{self, Namespace};
use super::envelope;
use super::{
    DeleteOptions, Fence, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use crate::{Error, Result};

/// The file used when no address is configured.
pub const DEFAULT_PATH: &str = ".micro/store.redb";

/// `<database>/<table>/<key>` -> the record's envelope.
const RECORDS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("records");
/// `<database>/<table>/<fence name>` -> the highest token seen.
const FENCES: TableDefinition<'_, &str, u64> = TableDefinition::new("fences");

/// Every how many writes a namespace's expired records are swept.
const SWEEP_EVERY: u32 = 256;

/// A store in one redb file. Clones share the open file.
#[derive(Clone)]
pub struct FileStore {
    db: Arc<Database>,
    path: PathBuf,
    defaults: Namespace,
    writes: Arc<AtomicU32>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The files this process has open, by canonical path.
fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<Database>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Database>>>> = OnceLock::new();
    OPEN.get_or_init(Mutex::default)
}

impl FileStore {
    /// Opens (or creates) the file at `options.address` (default
    /// [`DEFAULT_PATH`]).
    ///
    /// # Errors
    ///
    /// 400 for a bad database or table name; 503 when the file cannot be
    /// created or opened (another process has it open, no permission, not
    /// a redb file).
    pub fn open(options: &StoreOptions) -> Result<Self> {
        let defaults = options.namespace()?;
        let path = PathBuf::from(options.address.as_deref().unwrap_or(DEFAULT_PATH));
        let path = canonical(&path)?;
        let mut files = open_files().lock().unwrap_or_else(|e| e.into_inner());
        files.retain(|_, db| db.strong_count() > 0);
        let db = match files.get(&path).and_then(Weak::upgrade) {
            Some(db) => db,
            None => {
                let db = Arc::new(Database::create(&path).map_err(|e| {
                    let why = match e {
                        redb::DatabaseError::DatabaseAlreadyOpen => {
                            "another process has it open (the file store serves one process; \
                             use redis, postgres or etcd to share a store)"
                                .to_owned()
                        }
                        other => other.to_string(),
                    };
                    checks::unavailable(format!(
                        "cannot open the store file {}: {why}",
                        path.display()
                    ))
                })?);
                files.insert(path.clone(), Arc::downgrade(&db));
                db
            }
        };
        Ok(Self {
            db,
            path,
            defaults,
            writes: Arc::default(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a blocking thread: redb's calls block on the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| {
                Error::internal(format!("the store task failed: {e}")).with_id(checks::ID)
            })?
    }
}

/// `path` made absolute with its folder created, so two spellings of one
/// file share it.
fn canonical(path: &Path) -> Result<PathBuf> {
    let cannot = |e: std::io::Error| {
        checks::unavailable(format!(
            "cannot create the store file {}: {e}",
            path.display()
        ))
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(cannot)?;
    let name = path
        .file_name()
        .ok_or_else(|| checks::bad(format!("the store path {} names no file", path.display())))?;
    Ok(parent.canonicalize().map_err(cannot)?.join(name))
}

fn storage(e: impl std::fmt::Display) -> Error {
    checks::unavailable(format!("the store file failed: {e}"))
}

fn prefix_of(namespace: &Namespace) -> String {
    format!("{}/{}/", namespace.database, namespace.table)
}

/// The live records whose key starts with `prefix` (after the namespace),
/// in key order, after `offset`, at most `limit`.
fn scan(
    db: &Database,
    namespace: &Namespace,
    prefix: &str,
    offset: usize,
    limit: Option<usize>,
) -> Result<Vec<Record>> {
    let mut skip = offset;
    let limit = limit.unwrap_or(usize::MAX);
    let txn = db.begin_read().map_err(storage)?;
    let table = match txn.open_table(RECORDS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let strip = prefix_of(namespace);
    let start = format!("{strip}{prefix}");
    let now = checks::now_ms();
    let mut records = Vec::new();
    for entry in table.range(start.as_str()..).map_err(storage)? {
        if records.len() >= limit {
            break;
        }
        let (key, value) = entry.map_err(storage)?;
        let Some(key) = key.value().strip_prefix(strip.as_str()) else {
            break;
        };
        if !key.starts_with(prefix) {
            break;
        }
        if let Some(record) = envelope::decode(key, value.value(), now)? {
            if skip > 0 {
                skip -= 1;
            } else {
                records.push(record);
            }
        }
    }
    Ok(records)
}

/// Checks `fence` and stores its token, inside the write transaction.
fn pass(txn: &redb::WriteTransaction, namespace: &Namespace, fence: Option<&Fence>) -> Result<()> {
    let Some(fence) = fence else { return Ok(()) };
    let mut fences = txn.open_table(FENCES).map_err(storage)?;
    let key = format!("{}{}", prefix_of(namespace), fence.name);
    let highest = fences
        .get(key.as_str())
        .map_err(storage)?
        .map(|v| v.value());
    if let Some(highest) = highest.filter(|h| fence.token < *h) {
        return Err(checks::fenced(fence, Some(highest)));
    }
    fences.insert(key.as_str(), fence.token).map_err(storage)?;
    Ok(())
}

/// Removes the namespace's expired records.
fn sweep(txn: &redb::WriteTransaction, namespace: &Namespace) -> Result<()> {
    let mut table = txn.open_table(RECORDS).map_err(storage)?;
    let strip = prefix_of(namespace);
    let now = checks::now_ms();
    let mut expired = Vec::new();
    for entry in table.range(strip.as_str()..).map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        let key = key.value();
        if !key.starts_with(strip.as_str()) {
            break;
        }
        if envelope::decode(key, value.value(), now)?.is_none() {
            expired.push(key.to_owned());
        }
    }
    for key in expired {
        table.remove(key.as_str()).map_err(storage)?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>> {
        let namespace = self.defaults.of(&options.scope)?;
        if options.prefix {
            checks::prefix(key)?;
        } else {
            checks::key(key)?;
        }
        let (key, prefix, offset, limit) = (
            key.to_owned(),
            options.prefix,
            options.offset,
            options.limit,
        );
        self.blocking(move |db| {
            if prefix {
                return scan(db, &namespace, &key, offset, limit);
            }
            let txn = db.begin_read().map_err(storage)?;
            let table = match txn.open_table(RECORDS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    return Err(checks::not_found(&key, &namespace));
                }
                Err(e) => return Err(storage(e)),
            };
            let full = format!("{}{key}", prefix_of(&namespace));
            let found = table.get(full.as_str()).map_err(storage)?;
            match found {
                Some(value) => match envelope::decode(&key, value.value(), checks::now_ms())? {
                    Some(record) => Ok(vec![record]),
                    None => Err(checks::not_found(&key, &namespace)),
                },
                None => Err(checks::not_found(&key, &namespace)),
            }
        })
        .await
    }

    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::write(&record, options.ttl, options.fence.as_ref())?;
        let fence = options.fence.clone();
        let full = format!("{}{}", prefix_of(&namespace), record.key);
        let value = envelope::encode(record, checks::deadline_ms(options.ttl));
        let sweep_now =
            self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(storage)?;
            // Dropping the transaction on an error aborts it: nothing written.
            pass(&txn, &namespace, fence.as_ref())?;
            if sweep_now {
                sweep(&txn, &namespace)?;
            }
            {
                let mut table = txn.open_table(RECORDS).map_err(storage)?;
                table
                    .insert(full.as_str(), value.as_slice())
                    .map_err(storage)?;
            }
            txn.commit().map_err(storage)
        })
        .await
    }

    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::key(key)?;
        if let Some(fence) = &options.fence {
            checks::name("fence", &fence.name)?;
        }
        let fence = options.fence.clone();
        let full = format!("{}{key}", prefix_of(&namespace));
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(storage)?;
            pass(&txn, &namespace, fence.as_ref())?;
            {
                let mut table = txn.open_table(RECORDS).map_err(storage)?;
                table.remove(full.as_str()).map_err(storage)?;
            }
            txn.commit().map_err(storage)
        })
        .await
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<String>> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::prefix(&options.prefix)?;
        let (prefix, offset, limit) = (options.prefix.clone(), options.offset, options.limit);
        self.blocking(move |db| {
            let records = scan(db, &namespace, &prefix, offset, limit)?;
            Ok(records.into_iter().map(|r| r.key).collect())
        })
        .await
    }
}
