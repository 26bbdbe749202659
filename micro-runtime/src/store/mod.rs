//! Key-value storage for services: the [`Store`] trait and its backends.
#![doc = include_str!("../../../docs/store.md")]

mod checks;
#[cfg(any(feature = "etcd", feature = "store-file"))]
mod envelope;
#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "store-file")]
pub mod file;
pub mod memory;
mod options;
#[cfg(feature = "store-postgres")]
pub mod postgres;
#[cfg(feature = "store-redis")]
pub mod redis;
mod types;

pub use checks::{MAX_KEY, MAX_METADATA, MAX_NAME, MAX_TTL, MAX_VALUE};
pub use options::{DEFAULT_DATABASE, DEFAULT_TABLE, StoreOptions};
pub use types::{DeleteOptions, Fence, ListOptions, ReadOptions, Record, Scope, WriteOptions};

use bytes::Bytes;

use crate::Result;

/// A key-value store backend. Object safe: services hold an
/// `Arc<dyn Store>`.
///
/// Every backend enforces the same limits ([`MAX_KEY`], [`MAX_VALUE`],
/// [`MAX_METADATA`], names of at most [`MAX_NAME`] bytes of `[A-Za-z0-9_.-]`)
/// with 400 before it touches its storage, answers 503 when its server
/// cannot be reached, and never leaves a write half done: a refused or
/// failed write leaves the old value.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name, e.g. `redis`.
    fn name(&self) -> &'static str;

    /// The record of `key`, or (with [`ReadOptions::prefix`]) every live
    /// record whose key starts with `key`, in key order, paged by
    /// `offset` and `limit`.
    ///
    /// # Errors
    ///
    /// 404 when the one key asked for holds nothing (a prefix that matches
    /// nothing is an empty list); 400 for a bad key or name; 503 when the
    /// backend cannot be reached.
    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>>;

    /// Writes `record` (replacing the key's value, metadata and expiry).
    ///
    /// # Errors
    ///
    /// 400 for a key, value, metadata, TTL or name out of limits; 409 when
    /// the write's [`Fence`] token is older than one already seen (nothing
    /// is written); 503 when the backend cannot be reached.
    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()>;

    /// Deletes `key`; deleting a key that holds nothing succeeds.
    ///
    /// # Errors
    ///
    /// As [`write`](Store::write).
    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()>;

    /// The live keys starting with [`ListOptions::prefix`], in key order,
    /// paged by `offset` and `limit`.
    ///
    /// # Errors
    ///
    /// 400 for a bad prefix or name; 503 when the backend cannot be reached.
    async fn list(&self, options: &ListOptions) -> Result<Vec<String>>;
}

impl dyn Store {
    /// The record of `key` in the store's own database and table.
    ///
    /// # Errors
    ///
    /// As [`Store::read`]: 404 when the key holds nothing.
    pub async fn get(&self, key: &str) -> Result<Record> {
        let records = self.read(key, &ReadOptions::default()).await?;
        records.into_iter().next().ok_or_else(|| {
            crate::Error::not_found(format!("no record {key:?}")).with_id(checks::ID)
        })
    }

    /// Writes `value` at `key` in the store's own database and table.
    ///
    /// # Errors
    ///
    /// As [`Store::write`].
    pub async fn put(&self, key: &str, value: impl Into<Bytes> + Send) -> Result<()> {
        self.write(Record::new(key, value), &WriteOptions::default())
            .await
    }
}
