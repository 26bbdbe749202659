//! Request metadata: string key/value pairs carried from caller to handler and
//! on into every call the handler makes.

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use smallvec::SmallVec;

/// Bytes a short value keeps in place, without an allocation (a message
/// id's 32 hex digits fit).
const INLINE: usize = 32;

/// A key or value: borrowed when known at compile time, in place when
/// short and made per message (a message's id and topic), else owned.
#[derive(Clone)]
pub(crate) enum Text {
    Static(&'static str),
    Inline { len: u8, bytes: [u8; INLINE] },
    Owned(String),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Static(text) => text,
            // Made from a `&str` of this length (see `Text::short`).
            Text::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Owned(text) => text,
        }
    }
}

impl From<Cow<'static, str>> for Text {
    fn from(text: Cow<'static, str>) -> Self {
        match text {
            Cow::Borrowed(text) => Text::Static(text),
            Cow::Owned(text) => Text::Owned(text),
        }
    }
}

impl Text {
    /// `text` in place when it fits, else owned.
    pub(crate) fn short(text: &str) -> Self {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Text::Inline { len, bytes }
            }
            _ => Text::Owned(text.to_owned()),
        }
    }

    /// The text's bytes, without the UTF-8 check a `&str` of an in-place
    /// text costs: what a key lookup compares.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Static(text) => text.as_bytes(),
            Text::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Text::Owned(text) => text.as_bytes(),
        }
    }

    /// `text` lower-cased (ASCII letters), in place when it fits.
    pub(crate) fn short_lowercase(text: &str) -> Self {
        let mut out = Self::short(text);
        match &mut out {
            Text::Inline { len, bytes } => bytes[..usize::from(*len)].make_ascii_lowercase(),
            Text::Owned(text) => text.make_ascii_lowercase(),
            Text::Static(_) => {}
        }
        out
    }

    /// `digits` (ASCII, e.g. a message id's hex digits) in place, as they
    /// are (no check, no copy to another buffer).
    pub(crate) fn ascii(digits: [u8; INLINE]) -> Self {
        debug_assert!(digits.is_ascii());
        Text::Inline {
            len: INLINE as u8,
            bytes: digits,
        }
    }
}

/// A key known at compile time, lower-cased only if it is not already.
fn static_key(key: &'static str) -> Text {
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        Text::Owned(key.to_ascii_lowercase())
    } else {
        Text::Static(key)
    }
}

/// Where lower-case `key` is among sorted `entries`: a scan of the handful
/// that is usual (length first, no ordering compare), a search past that.
fn index_of(entries: &Entries, key: &str) -> Option<usize> {
    if entries.len() <= 8 {
        entries
            .iter()
            .position(|(k, _)| k.as_bytes() == key.as_bytes())
    } else {
        entries.binary_search_by(|(k, _)| (**k).cmp(key)).ok()
    }
}

/// Key/value metadata of a call.
///
/// Keys are case-insensitive: they are stored lower-cased, so `X-Trace-Id`
/// and `x-trace-id` are the same key on every side of the wire (go-micro's
/// canonicalised keys were a recurring surprise). Cloning is cheap: the
/// entries are shared until one side changes them.
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
#[derive(Clone, Default)]
pub struct Metadata {
    /// Sorted by key: a handful of entries is the common case, held in the
    /// same allocation as the count that shares them, searched without
    /// hashing.
    entries: Option<Arc<Entries>>,
}

/// Entries held in place up to this many.
const IN_PLACE: usize = 4;

pub(crate) type Entries = SmallVec<[(Text, Text); IN_PLACE]>;

impl Metadata {
    /// Empty metadata (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty metadata with room for `n` entries (allocates nothing for 0).
    #[cfg(any(test, feature = "nats"))]
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            entries: (n > 0).then(|| Arc::new(Entries::with_capacity(n))),
        }
    }

    /// Metadata of `entries` whose keys are lower-case, distinct and in
    /// order (one allocation, no search).
    pub(crate) fn from_sorted<const N: usize>(entries: [(Text, Text); N]) -> Self {
        debug_assert!(entries.windows(2).all(|w| *w[0].0 < *w[1].0));
        debug_assert!(
            entries
                .iter()
                .all(|(k, _)| !k.bytes().any(|b| b.is_ascii_uppercase()))
        );
        let mut sorted = Entries::new();
        for entry in entries {
            sorted.push(entry);
        }
        Self {
            entries: Some(Arc::new(sorted)),
        }
    }

    /// Metadata of `entries` in any order, lower-case keys; a later entry
    /// of a key wins. One sort, so a peer's many keys in a bad order cost
    /// `n log n`, not the `n²` of inserting them one by one.
    pub(crate) fn from_unsorted(mut entries: Entries) -> Self {
        if entries.is_empty() {
            return Self::new();
        }
        // Stable: among equal keys the order of arrival is kept, so the
        // last of each run is the one that wins.
        #[allow(clippy::unnecessary_sort_by)] // the key borrows from the entry
        entries.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
        entries.dedup_by(|later, kept| {
            let same = later.0.as_bytes() == kept.0.as_bytes();
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Self {
            entries: Some(Arc::new(entries)),
        }
    }

    /// Replaces the value at `at` (in key order) in place when nothing
    /// else holds these entries; false (nothing changed) otherwise. How
    /// the NATS broker writes the id of each bare core message into the
    /// previous one's envelope: by callgrind (`pubsub --only micro`, see
    /// BENCHMARKS.md) ~100 instructions a message for the whole envelope,
    /// against ~440 for the id alone with `insert_text` (case check,
    /// search, copy on write).
    #[cfg(feature = "nats")]
    pub(crate) fn replace_unshared(&mut self, at: usize, value: Text) -> bool {
        let entry = self
            .entries
            .as_mut()
            .and_then(Arc::get_mut)
            .and_then(|entries| entries.get_mut(at));
        match entry {
            Some((_, slot)) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// The value of `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        let entries = self.entries.as_ref()?;
        // Keys are usually asked for as stored (lower-case): look first,
        // fold the case only when that finds nothing.
        let at = index_of(entries, key).or_else(|| {
            key.bytes()
                .any(|b| b.is_ascii_uppercase())
                .then(|| index_of(entries, &key.to_ascii_lowercase()))
                .flatten()
        });
        at.map(|at| &*entries[at].1)
    }

    /// Sets `key` (lower-cased) to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl Into<String>) {
        self.put(
            Text::Owned(key.as_ref().to_ascii_lowercase()),
            Text::Owned(value.into()),
        );
    }

    /// Sets a key known at compile time (e.g. a header name) to `value`: the
    /// key, and a `&'static str` value, are not copied.
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<Cow<'static, str>>) {
        self.insert_text(key, value.into().into());
    }

    /// Sets a key known at compile time to `value`, shared, in place or
    /// owned as made (see [`Text`]).
    pub(crate) fn insert_text(&mut self, key: &'static str, value: Text) {
        self.put(static_key(key), value);
    }

    fn put(&mut self, key: Text, value: Text) {
        let entries = Arc::make_mut(self.entries.get_or_insert_with(Default::default));
        // Entries often come in key order: append without a search.
        if entries.last().is_none_or(|(last, _)| **last < *key) {
            entries.push((key, value));
            return;
        }
        match entries.binary_search_by(|(k, _)| (**k).cmp(&*key)) {
            Ok(at) => entries[at].1 = value,
            Err(at) => entries.insert(at, (key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let entries = self.entries.as_mut()?;
        let at = index_of(entries, &key.to_ascii_lowercase())?;
        let (_, value) = Arc::make_mut(entries).remove(at);
        Some(match value {
            Text::Owned(value) => value,
            other => other.to_string(),
        })
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
        for (k, v) in other.entries.iter().flat_map(|e| e.iter()) {
            self.put(k.clone(), v.clone());
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.len())
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .flat_map(|e| e.iter())
            .map(|(k, v)| (&**k, &**v))
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Metadata {}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Metadata::from_unsorted(
            iter.into_iter()
                .map(|(k, v)| {
                    let key = k.as_ref().to_ascii_lowercase();
                    (Text::Owned(key), Text::Owned(v.into()))
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_nothing_else_holds_is_written_in_place() {
        let place = |md: &Metadata| md.entries.as_ref().map(Arc::as_ptr);
        let mut md = Metadata::from_sorted([
            (Text::Static("a"), Text::short("1")),
            (Text::Static("b"), Text::Static("x")),
        ]);
        let first = place(&md);
        md.insert_text("a", Text::short("2"));
        assert_eq!(place(&md), first);
        // Held elsewhere: copied, the other holder unchanged.
        let held = md.clone();
        md.insert_text("a", Text::short("3"));
        assert_ne!(place(&md), first);
        assert_eq!((held.get("a"), md.get("a")), (Some("2"), Some("3")));
        assert_eq!((held.get("b"), md.get("b")), (Some("x"), Some("x")));
        assert_eq!(md.len(), 2);
        assert!(place(&Metadata::with_capacity(0)).is_none());
        #[cfg(feature = "nats")]
        {
            let also = md.clone();
            assert!(!md.replace_unshared(0, Text::short("4")), "held elsewhere");
            drop(also);
            assert!(md.replace_unshared(0, Text::short("4")));
            assert!(!md.replace_unshared(2, Text::short("5")), "no such entry");
            assert_eq!((md.get("a"), md.len()), (Some("4"), 2));
        }
    }

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
    fn values_in_place_and_equality_by_content() {
        let mut a = Metadata::with_capacity(2);
        assert_eq!(a, Metadata::new());
        a.insert_text("micro-topic", Text::short("orders.created"));
        a.insert_static("content-type", "application/protobuf");
        let mut b = Metadata::new();
        b.insert("Content-Type", "application/protobuf");
        b.insert("micro-topic", "orders.created");
        assert_eq!(a, b);
        assert_eq!(
            a.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["content-type", "micro-topic"]
        );
        a.insert_text("micro-id", Text::short("0123456789abcdef0123456789abcdef"));
        a.insert_text("x-long", Text::short(&"y".repeat(40)));
        assert_eq!(a.get("micro-id"), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(a.get("x-long").map(str::len), Some(40));
        assert_eq!(
            a.remove("micro-id").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(a.remove("x-long").map(|v| v.len()), Some(40));
        assert_eq!(a.remove("micro-topic").as_deref(), Some("orders.created"));
        assert_ne!(a, b);
    }

    #[test]
    fn unsorted_entries_are_sorted_and_the_last_of_a_key_wins() {
        let text = |s: &str| Text::Owned(s.to_owned());
        let md = Metadata::from_unsorted(Entries::from_vec(vec![
            (text("c"), text("1")),
            (text("a"), text("1")),
            (text("c"), text("2")),
            (text("b"), text("1")),
            (text("c"), text("3")),
        ]));
        assert_eq!(
            md.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "1"), ("c", "3")]
        );
        assert_eq!(md.get("c"), Some("3"));
        assert!(Metadata::from_unsorted(Entries::new()).entries.is_none());
        // Many keys in descending order: one sort, not one shift per key.
        let many: Entries = (0..65_535u32)
            .rev()
            .map(|i| (text(&format!("k{i:05}")), text("v")))
            .collect();
        let md = Metadata::from_unsorted(many);
        assert_eq!(md.len(), 65_535);
        assert_eq!(md.iter().next(), Some(("k00000", "v")));
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
