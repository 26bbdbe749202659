//! What the store holds and how a call is shaped: [`Record`], the options of
//! each operation, and the [`Fence`] a write may carry.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

/// One key and its value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The key: UTF-8, 1 byte to [`MAX_KEY`](super::MAX_KEY) bytes.
    pub key: String,
    /// The value: up to [`MAX_VALUE`](super::MAX_VALUE) bytes.
    pub value: Bytes,
    /// Free-form pairs kept beside the value.
    pub metadata: BTreeMap<String, String>,
    /// When read: the time the record has left before it expires (`None`:
    /// it does not expire). Ignored by a write, whose TTL is
    /// [`WriteOptions::ttl`].
    pub expiry: Option<Duration>,
}

impl Record {
    /// A record of `key` and `value`, without metadata.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            ..Self::default()
        }
    }

    /// The record with one more metadata pair.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// A fencing token: the store takes a write that carries one only if
/// `token` is at least the highest token it has seen for `name` in the
/// record's namespace, and remembers it, in the same atomic step as the
/// write. A lock holder or leader that was replaced (and so holds an older
/// token) has its late writes refused with 409 instead of overwriting its
/// successor's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// What the token fences, e.g. a lock's name.
    pub name: String,
    /// The token: it only grows from one holder to the next.
    pub token: u64,
}

impl Fence {
    /// A fence of `name` at `token`.
    pub fn new(name: impl Into<String>, token: u64) -> Self {
        Self {
            name: name.into(),
            token,
        }
    }
}

/// Where a call applies: a database and a table inside it (go-micro's
/// `Database` and `Table` options). `None` takes the store's own (see
/// [`StoreOptions`](super::StoreOptions)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// The database, e.g. a service's name.
    pub database: Option<String>,
    /// The table inside it.
    pub table: Option<String>,
}

macro_rules! scoped {
    ($options:ty) => {
        impl $options {
            /// The options in `database`.
            #[must_use]
            pub fn database(mut self, database: impl Into<String>) -> Self {
                self.scope.database = Some(database.into());
                self
            }

            /// The options in `table`.
            #[must_use]
            pub fn table(mut self, table: impl Into<String>) -> Self {
                self.scope.table = Some(table.into());
                self
            }
        }
    };
}

/// How [`Store::read`](super::Store::read) reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Database and table.
    pub scope: Scope,
    /// Read every record whose key starts with the given key (in key
    /// order) instead of the one record of that key.
    pub prefix: bool,
    /// With `prefix`: at most this many records.
    pub limit: Option<usize>,
    /// With `prefix`: skip this many records first.
    pub offset: usize,
}

impl ReadOptions {
    /// Read by prefix.
    #[must_use]
    pub fn prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// At most `limit` records (with [`prefix`](Self::prefix)).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip `offset` records first (with [`prefix`](Self::prefix)).
    #[must_use]
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }
}

scoped!(ReadOptions);

/// How [`Store::write`](super::Store::write) writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Database and table.
    pub scope: Scope,
    /// The record expires this long after the write (`None`: never).
    pub ttl: Option<Duration>,
    /// Accept the write only with a token at least the highest seen.
    pub fence: Option<Fence>,
}

impl WriteOptions {
    /// Expire the record `ttl` after the write.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Write only under `fence`.
    #[must_use]
    pub fn fence(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }
}

scoped!(WriteOptions);

/// How [`Store::delete`](super::Store::delete) deletes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Database and table.
    pub scope: Scope,
    /// Delete only with a token at least the highest seen (as a write).
    pub fence: Option<Fence>,
}

impl DeleteOptions {
    /// Delete only under `fence`.
    #[must_use]
    pub fn fence(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }
}

scoped!(DeleteOptions);

/// How [`Store::list`](super::Store::list) lists keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Database and table.
    pub scope: Scope,
    /// Only keys starting with this (empty: every key).
    pub prefix: String,
    /// At most this many keys.
    pub limit: Option<usize>,
    /// Skip this many keys first.
    pub offset: usize,
}

impl ListOptions {
    /// Only keys starting with `prefix`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// At most `limit` keys.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip `offset` keys first.
    #[must_use]
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }
}

scoped!(ListOptions);
