//! The etcd source (cargo features `config` and `etcd`): configuration kept
//! as a tree of keys under a prefix, read, written and watched.
//!
//! `<prefix><path>/db/host` holds the field `db.host` of the configuration
//! at `<path>` (default prefix `/micro/config/`); a value is JSON when it
//! parses as JSON (`5432`, `true`, `["a"]`), else a string (`db1`).
//! `micro config get|set|delete|list|watch` works on the same keys.

mod provider;
pub(crate) mod tree;

use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use serde_json::Value;

use crate::etcd::client::Client;
use crate::etcd::prefix;
use crate::{Error, Result, env_vars};

pub(crate) use provider::EtcdProvider;

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "/micro/config/";
/// The endpoint used when none is configured.
pub const DEFAULT_ADDRESS: &str = crate::etcd::client::DEFAULT_ADDRESS;

/// Settings of the etcd source.
#[derive(Clone, Debug)]
pub struct EtcdConfigOptions {
    /// Endpoints: `host:port` or `http://host:port`.
    pub endpoints: Vec<String>,
    /// Key prefix under which configurations live (default `/micro/config/`).
    pub prefix: String,
    /// Longest wait to connect to one endpoint.
    pub connect_timeout: Duration,
    /// Longest wait for one call to one endpoint.
    pub request_timeout: Duration,
}

impl Default for EtcdConfigOptions {
    fn default() -> Self {
        Self {
            endpoints: vec![DEFAULT_ADDRESS.to_owned()],
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
        }
    }
}

impl EtcdConfigOptions {
    /// The defaults with the endpoints of a comma-separated `address`
    /// (`None` or empty: `127.0.0.1:2379`).
    pub fn with_address(address: Option<&str>) -> Self {
        Self {
            endpoints: crate::etcd::client::endpoints(address),
            ..Self::default()
        }
    }

    /// From `MICRO_CONFIG_ADDRESS` (else `MICRO_REGISTRY_ADDRESS`, so one
    /// etcd serves both) and `MICRO_CONFIG_PREFIX`.
    pub fn from_env() -> Self {
        let address = env_vars::string("MICRO_CONFIG_ADDRESS")
            .or_else(|| env_vars::string("MICRO_REGISTRY_ADDRESS"));
        let mut options = Self::with_address(address.as_deref());
        if let Some(prefix) = env_vars::string("MICRO_CONFIG_PREFIX") {
            options.prefix = prefix;
        }
        options
    }
}

/// One stored key and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key's path under the prefix (`app/db/host`).
    pub path: String,
    /// The value as stored.
    pub value: String,
}

/// A change of a watched key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The key's path under the prefix (`app/db/host`).
    pub path: String,
    /// The new value as stored; `None` when the key was deleted.
    pub value: Option<String>,
}

/// Configuration trees in etcd. Clones share their connections, which
/// are made on first use (creating one needs no running etcd).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> micro_runtime::Result<()> {
/// use micro_runtime::config::etcd::{EtcdConfigOptions, EtcdSource};
///
/// let etcd = EtcdSource::new(EtcdConfigOptions::with_address(Some("127.0.0.1:2379")))?;
/// etcd.set("app/db/host", "db1").await?;
/// etcd.set("app/db/port", "5432").await?;
/// assert_eq!(
///     etcd.get("app/db").await?,
///     Some(serde_json::json!({"host": "db1", "port": 5432}))
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdSource {
    client: Arc<Client>,
    root: String,
}

impl std::fmt::Debug for EtcdSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSource")
            .field("endpoints", &self.client.addresses())
            .field("prefix", &self.root)
            .finish_non_exhaustive()
    }
}

impl EtcdSource {
    /// A source over the cluster at `options.endpoints`.
    ///
    /// # Errors
    ///
    /// 400 when no endpoint is given, or one is not a URI or uses `https://`.
    pub fn new(options: EtcdConfigOptions) -> Result<Self> {
        Ok(Self {
            client: Arc::new(Client::new(
                "micro.config",
                &options.endpoints,
                options.connect_timeout,
                options.request_timeout,
            )?),
            root: tree::normalize_root(&options.prefix),
        })
    }

    /// The source configured by `MICRO_CONFIG_ADDRESS` (or
    /// `MICRO_REGISTRY_ADDRESS`) and `MICRO_CONFIG_PREFIX`.
    ///
    /// # Errors
    ///
    /// As [`EtcdSource::new`].
    pub fn from_env() -> Result<Self> {
        Self::new(EtcdConfigOptions::from_env())
    }

    /// The key prefix, starting and ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.root
    }

    /// The full key of `path` (checked and canonical).
    fn base(&self, path: &str) -> Result<(String, String)> {
        let path = tree::normalize_path(path)?;
        Ok((tree::key(&self.root, &path), path))
    }

    /// The path of a full key under the prefix.
    fn relative<'k>(&self, key: &'k str) -> &'k str {
        key.strip_prefix(&self.root).unwrap_or(key)
    }

    /// Every key at or under `path` (`""`: all), sorted.
    ///
    /// # Errors
    ///
    /// 400 for a malformed path; 503 when etcd cannot be reached.
    pub async fn list(&self, path: &str) -> Result<Vec<Entry>> {
        let (base, _) = self.base(path)?;
        let pairs = prefix::range_prefix(&self.client, &base).await?;
        Ok(pairs
            .into_iter()
            .filter(|(key, _)| tree::within(&base, &self.root, key))
            .map(|(key, value)| Entry {
                path: self.relative(&key).to_owned(),
                value: String::from_utf8_lossy(&value).into_owned(),
            })
            .collect())
    }

    /// The tree under `path` as JSON (`{"db": {"host": "db1"}}`), or the
    /// value of `path` itself when no key lies below it; `None` when there
    /// is neither.
    ///
    /// # Errors
    ///
    /// As [`EtcdSource::list`].
    pub async fn get(&self, path: &str) -> Result<Option<Value>> {
        let (_, path) = self.base(path)?;
        let entries = self.list(&path).await?;
        if entries.is_empty() {
            return Ok(None);
        }
        if let [only] = entries.as_slice()
            && only.path == path
            && !path.is_empty()
        {
            return Ok(Some(tree::parse_value(only.value.as_bytes())));
        }
        Ok(Some(self.subtree(&path, &entries)))
    }

    /// The tree below `path` (the keys under it; `path` itself ignored).
    fn subtree(&self, path: &str, entries: &[Entry]) -> Value {
        let skip = if path.is_empty() { 0 } else { path.len() + 1 };
        tree::build(
            entries
                .iter()
                .filter(|e| e.path.len() > skip)
                .map(|e| (&e.path[skip..], tree::parse_value(e.value.as_bytes()))),
        )
    }

    /// The configuration tree at `path`: an object (empty when nothing is
    /// stored), for the figment provider.
    pub(crate) async fn tree(&self, path: &str) -> Result<Value> {
        let (_, path) = self.base(path)?;
        let entries = self.list(&path).await?;
        Ok(self.subtree(&path, &entries))
    }

    /// Stores `value` (as given: JSON or plain text) at `path`.
    ///
    /// # Errors
    ///
    /// 400 for an empty or malformed path; 503 when etcd cannot be reached.
    pub async fn set(&self, path: &str, value: &str) -> Result<()> {
        let (key, path) = self.base(path)?;
        if path.is_empty() {
            return Err(Error::bad_request("config key is empty").with_id("micro.config"));
        }
        prefix::put(&self.client, &key, value.as_bytes()).await
    }

    /// Deletes `path` and every key under it; returns how many keys were
    /// deleted (0 when there was none).
    ///
    /// # Errors
    ///
    /// 400 for an empty or malformed path (deleting everything takes
    /// naming it); 503 when etcd cannot be reached.
    pub async fn delete(&self, path: &str) -> Result<u64> {
        let (key, path) = self.base(path)?;
        if path.is_empty() {
            return Err(Error::bad_request("config key is empty").with_id("micro.config"));
        }
        prefix::delete(&self.client, &key, Some(&format!("{key}/"))).await
    }

    /// The changes of every key at or under `path` from now on; the stream
    /// yields an error (503) and ends when the watch breaks.
    ///
    /// # Errors
    ///
    /// 400 for a malformed path; 503 when etcd cannot be reached.
    pub async fn watch(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Change>> + Send + Unpin + 'static> {
        let (base, _) = self.base(path)?;
        let rx = prefix::watch_prefix(&self.client, &base).await?;
        let root = self.root.clone();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            Some((item, rx))
        });
        Ok(Box::pin(futures_util::StreamExt::flat_map(
            stream,
            move |item| {
                let changes: Vec<Result<Change>> = match item {
                    Ok(events) => events
                        .into_iter()
                        .filter(|event| tree::within(&base, &root, &event.key))
                        .map(|event| {
                            Ok(Change {
                                path: event
                                    .key
                                    .strip_prefix(&root)
                                    .unwrap_or(&event.key)
                                    .to_owned(),
                                value: event
                                    .value
                                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
                            })
                        })
                        .collect(),
                    Err(err) => vec![Err(err)],
                };
                futures_util::stream::iter(changes)
            },
        )))
    }
}
