//! Request metadata: string key/value pairs carried from caller to handler and
//! on into every call the handler makes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A key or value: borrowed when known at compile time, else owned.
type Text = Cow<'static, str>;

/// Key/value metadata of a call.
///
/// Keys are case-insensitive: they are stored lower-cased, so `X-Trace-Id`
/// and `x-trace-id` are the same key on every side of the wire (go-micro's
/// canonicalised keys were a recurring surprise). Cloning is cheap: the map is
/// shared until one side changes it.
///
/// # Examples
///
/// ```
/// use micro_runtime::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("X-User", "ada");
/// assert_eq!(md.get("x-user"), Some("ada"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    map: Option<Arc<BTreeMap<Text, Text>>>,
}

impl Metadata {
    /// Empty metadata (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        let map = self.map.as_ref()?;
        let value = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            map.get(key.to_ascii_lowercase().as_str())
        } else {
            map.get(key)
        };
        value.map(|v| &**v)
    }

    /// Sets `key` (lower-cased) to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl Into<String>) {
        self.put(
            Cow::Owned(key.as_ref().to_ascii_lowercase()),
            Cow::Owned(value.into()),
        );
    }

    /// Sets a key known at compile time (e.g. a header name) to `value`: the
    /// key, and a `&'static str` value, are not copied.
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        let key = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(key.to_ascii_lowercase())
        } else {
            Cow::Borrowed(key)
        };
        self.put(key, value.into());
    }

    fn put(&mut self, key: Text, value: Text) {
        let map = Arc::make_mut(self.map.get_or_insert_with(Default::default));
        map.insert(key, value);
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let map = Arc::make_mut(self.map.as_mut()?);
        map.remove(key.to_ascii_lowercase().as_str())
            .map(Cow::into_owned)
    }

    /// Copies every entry of `other` over this one.
    pub fn merge(&mut self, other: &Metadata) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = other.clone();
            return;
        }
        for (k, v) in other.iter() {
            self.insert(k, v);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (&**k, &**v))
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut md = Metadata::new();
        for (k, v) in iter {
            md.insert(k, v);
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut md = Metadata::new();
        md.insert("X-Trace-Id", "1");
        assert_eq!(md.get("x-trace-id"), Some("1"));
        assert_eq!(md.get("X-TRACE-ID"), Some("1"));
        md.insert("x-trace-id", "2");
        assert_eq!(md.len(), 1);
        assert_eq!(md.remove("X-Trace-ID").as_deref(), Some("2"));
        assert!(md.is_empty());
    }

    #[test]
    fn static_keys_are_lower_cased_too() {
        let mut md = Metadata::new();
        md.insert_static("content-type", "application/json");
        md.insert_static("X-Id", String::from("7"));
        assert_eq!(md.get("Content-Type"), Some("application/json"));
        assert_eq!(md.get("x-id"), Some("7"));
        md.insert("CONTENT-TYPE", "text/plain");
        assert_eq!(md.len(), 2);
        assert_eq!(md.get("content-type"), Some("text/plain"));
    }

    #[test]
    fn clones_are_copy_on_write() {
        let mut a: Metadata = [("k", "1")].into_iter().collect();
        let b = a.clone();
        a.insert("k", "2");
        assert_eq!(b.get("k"), Some("1"));
        assert_eq!(a.get("k"), Some("2"));
    }

    #[test]
    fn merge_overrides() {
        let mut a: Metadata = [("a", "1"), ("b", "1")].into_iter().collect();
        let b: Metadata = [("b", "2")].into_iter().collect();
        a.merge(&b);
        assert_eq!(a.get("a"), Some("1"));
        assert_eq!(a.get("b"), Some("2"));
    }
}
