//! The limits every backend enforces before it touches its storage, the
//! namespace a call resolves to, and the errors the store gives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Fence, Record, Scope};
use crate::{Error, Result};

/// The longest key, in bytes of UTF-8.
pub const MAX_KEY: usize = 1024;
/// The largest value, in bytes.
pub const MAX_VALUE: usize = 1 << 20;
/// The most metadata of one record (keys and values together), in bytes.
pub const MAX_METADATA: usize = 16 << 10;
/// The longest database, table or fence name, in bytes.
pub const MAX_NAME: usize = 64;
/// The longest TTL (ten years): longer ones are a mistake, not a wish.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The error id of the store.
pub(crate) const ID: &str = "micro.store";

/// A database and table, checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Namespace {
    pub(crate) database: String,
    pub(crate) table: String,
}

impl Namespace {
    /// `database` and `table`, checked.
    pub(crate) fn new(database: &str, table: &str) -> Result<Self> {
        name("database", database)?;
        name("table", table)?;
        Ok(Self {
            database: database.to_owned(),
            table: table.to_owned(),
        })
    }

    /// The namespace of a call: its scope over these defaults.
    pub(crate) fn of(&self, scope: &Scope) -> Result<Self> {
        match (&scope.database, &scope.table) {
            (None, None) => Ok(self.clone()),
            (database, table) => Self::new(
                database.as_deref().unwrap_or(&self.database),
                table.as_deref().unwrap_or(&self.table),
            ),
        }
    }
}

/// 400 for a database, table or fence name that is empty, too long or holds
/// anything but ASCII letters, digits, `_`, `-` and `.`: names go into keys
/// and paths of every backend, so `/` and the like are kept out.
pub(crate) fn name(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_NAME {
        return Err(bad(format!(
            "{what} name {value:?} must be 1 to {MAX_NAME} bytes long"
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(bad(format!(
            "{what} name {value:?} holds {c:?}: only ASCII letters, digits, '_', '-' and '.' are allowed"
        )));
    }
    Ok(())
}

/// 400 for an empty or too long key, or one holding a NUL.
pub(crate) fn key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(bad("the key is empty"));
    }
    prefix(key)
}

/// 400 for a prefix that is too long or holds a NUL (empty is every key).
pub(crate) fn prefix(prefix: &str) -> Result<()> {
    if prefix.len() > MAX_KEY {
        return Err(bad(format!(
            "the key is {} bytes long; the limit is {MAX_KEY}",
            prefix.len()
        )));
    }
    if prefix.contains('\0') {
        return Err(bad("the key holds a NUL character"));
    }
    Ok(())
}

/// 400 for a record or TTL out of limits, or a fence with a bad name.
pub(crate) fn write(record: &Record, ttl: Option<Duration>, fence: Option<&Fence>) -> Result<()> {
    key(&record.key)?;
    if record.value.len() > MAX_VALUE {
        return Err(bad(format!(
            "the value of {:?} is {} bytes; the limit is {MAX_VALUE}",
            record.key,
            record.value.len()
        )));
    }
    let metadata: usize = record.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if metadata > MAX_METADATA {
        return Err(bad(format!(
            "the metadata of {:?} is {metadata} bytes; the limit is {MAX_METADATA}",
            record.key
        )));
    }
    if let Some(ttl) = ttl.filter(|ttl| ttl.is_zero() || *ttl > MAX_TTL) {
        return Err(bad(format!(
            "a TTL of {ttl:?} is out of range (more than zero, at most ten years)"
        )));
    }
    if let Some(fence) = fence {
        name("fence", &fence.name)?;
    }
    Ok(())
}

/// A 400 of the store.
pub(crate) fn bad(detail: impl Into<String>) -> Error {
    Error::bad_request(detail).with_id(ID)
}

/// A 503 of the store.
#[cfg_attr(
    not(any(
        feature = "store-file",
        feature = "etcd",
        feature = "store-redis",
        feature = "store-postgres"
    )),
    allow(dead_code)
)]
pub(crate) fn unavailable(detail: impl Into<String>) -> Error {
    Error::unavailable(detail).with_id(ID)
}

/// The 404 for a key that holds nothing.
pub(crate) fn not_found(key: &str, namespace: &Namespace) -> Error {
    Error::not_found(format!(
        "no record {key:?} in {}/{}",
        namespace.database, namespace.table
    ))
    .with_id(ID)
}

/// The 409 for a write or delete whose fencing token is behind.
pub(crate) fn fenced(fence: &Fence, highest: Option<u64>) -> Error {
    let seen = highest.map_or_else(|| "a higher one".to_owned(), |t| t.to_string());
    Error::new(
        409,
        format!(
            "fenced: token {} of {:?} is older than {seen} already seen; nothing was written",
            fence.token, fence.name
        ),
    )
    .with_id(ID)
}

/// The `offset`/`limit` page of `items` (already in key order).
#[cfg_attr(not(feature = "etcd"), allow(dead_code))]
pub(crate) fn page<T>(items: Vec<T>, offset: usize, limit: Option<usize>) -> Vec<T> {
    items
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

/// Milliseconds since the Unix epoch: the deadlines kept by the stores that
/// other processes read too.
#[cfg_attr(not(any(feature = "store-file", feature = "etcd")), allow(dead_code))]
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The deadline `ttl` from now, in ms since the epoch (0: none).
#[cfg_attr(not(any(feature = "store-file", feature = "etcd")), allow(dead_code))]
pub(crate) fn deadline_ms(ttl: Option<Duration>) -> u64 {
    ttl.map_or(0, |ttl| {
        now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    })
}

/// The time left before a deadline in ms since the epoch (0: none);
/// `Some(None)`: no deadline, `None`: already past.
#[cfg_attr(not(any(feature = "store-file", feature = "etcd")), allow(dead_code))]
#[allow(clippy::option_option)]
pub(crate) fn left_ms(deadline: u64, now: u64) -> Option<Option<Duration>> {
    if deadline == 0 {
        Some(None)
    } else if deadline > now {
        Some(Some(Duration::from_millis(deadline - now)))
    } else {
        None
    }
}

/// A token as 20 decimal digits, so byte order is number order.
#[cfg_attr(not(any(feature = "etcd", feature = "store-redis")), allow(dead_code))]
pub(crate) fn token_text(token: u64) -> String {
    format!("{token:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_sizes() {
        assert!(name("table", "users.v1_a-b").is_ok());
        assert_eq!(name("table", "a/b").unwrap_err().code(), 400);
        assert_eq!(name("table", "").unwrap_err().code(), 400);
        assert_eq!(name("table", &"x".repeat(65)).unwrap_err().code(), 400);
        assert_eq!(key("").unwrap_err().code(), 400);
        assert!(key(&"é".repeat(512)).is_ok());
        assert_eq!(key(&"é".repeat(513)).unwrap_err().code(), 400);
        let big = Record::new("k", vec![0u8; MAX_VALUE + 1]);
        let err = write(&big, None, None).unwrap_err();
        assert_eq!((err.code(), err.id()), (400, ID), "{err:?}");
        assert!(write(&Record::new("k", vec![0u8; MAX_VALUE]), None, None).is_ok());
        let err = write(&Record::new("k", "v"), Some(Duration::ZERO), None).unwrap_err();
        assert_eq!(err.code(), 400);
        let err = write(&Record::new("k", "v"), None, Some(&Fence::new("a b", 1))).unwrap_err();
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn scopes_resolve_over_defaults() {
        let base = Namespace::new("micro", "micro").unwrap();
        let scope = Scope {
            database: None,
            table: Some("t".into()),
        };
        assert_eq!(
            base.of(&scope).unwrap(),
            Namespace::new("micro", "t").unwrap()
        );
        let bad = Scope {
            database: Some("a/b".into()),
            table: None,
        };
        assert_eq!(base.of(&bad).unwrap_err().code(), 400);
    }

    #[test]
    fn paging_and_tokens() {
        assert_eq!(page(vec![1, 2, 3, 4], 1, Some(2)), vec![2, 3]);
        assert_eq!(page(vec![1, 2], 5, None), Vec::<i32>::new());
        assert!(token_text(9) < token_text(10));
        assert!(token_text(u64::MAX - 1) < token_text(u64::MAX));
        assert_eq!(left_ms(0, 5), Some(None));
        assert_eq!(left_ms(5, 5), None);
        assert_eq!(left_ms(10, 5), Some(Some(Duration::from_millis(5))));
    }
}
