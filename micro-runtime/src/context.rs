//! The call context: metadata and deadline, inherited by every call made while
//! handling a request.

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::Metadata;

tokio::task_local! {
    static CURRENT: Context;
}

/// Metadata and deadline of a call.
///
/// A handler receives the context of the request it serves. While the
/// handler's future runs, that context is also the *current* one
/// ([`Context::current`]), so any call the handler makes through a client
/// carries its metadata and never outlives its deadline, without passing the
/// context by hand. Work moved onto another task with `tokio::spawn` keeps the
/// context only when wrapped in [`Context::scope`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use micro_runtime::Context;
///
/// let ctx = Context::new()
///     .with_metadata("x-user", "ada")
///     .with_timeout(Duration::from_secs(2));
/// assert_eq!(ctx.metadata().get("x-user"), Some("ada"));
/// assert!(ctx.remaining().unwrap() <= Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Context {
    metadata: Metadata,
    deadline: Option<Instant>,
    extensions: Extensions,
}

/// Typed values a wrapper attaches for the handler (e.g. verified token
/// claims): one per type, shared by clones, never sent on the wire.
#[derive(Clone, Default)]
struct Extensions(Option<Arc<Vec<Extension>>>);

/// One extension: its type and its value.
type Extension = (TypeId, Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} extension(s)", self.0.as_ref().map_or(0, |e| e.len()))
    }
}

impl Context {
    /// An empty context: no metadata, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of the request being handled on this task, or an empty one.
    pub fn current() -> Self {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Runs `fut` with this context as the current one.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Adds one metadata entry.
    pub fn with_metadata(mut self, key: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Replaces the metadata.
    pub fn with_metadata_map(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets the deadline, keeping an earlier one: a context never extends the
    /// time its caller allowed.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(match self.deadline {
            Some(existing) => existing.min(deadline),
            None => deadline,
        });
        self
    }

    /// Sets the deadline to `timeout` from now (keeping an earlier one).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout)
    }

    /// Time left until the deadline (zero once it passed), or `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Attaches `value`, replacing an earlier value of the same type. What
    /// a wrapper uses to hand the handler something typed (the auth
    /// wrapper's verified claims); extensions stay in this process.
    pub fn insert_extension<T: Send + Sync + 'static>(&mut self, value: T) {
        let mut all = self.extensions.0.as_deref().cloned().unwrap_or_default();
        all.retain(|(id, _)| *id != TypeId::of::<T>());
        all.push((TypeId::of::<T>(), Arc::new(value)));
        self.extensions.0 = Some(Arc::new(all));
    }

    /// This context with `value` attached (see [`Context::insert_extension`]).
    pub fn with_extension<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.insert_extension(value);
        self
    }

    /// The attached value of type `T`, if any.
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions
            .0
            .as_ref()?
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref())
    }

    /// True once the deadline has passed.
    pub fn is_expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_never_extends() {
        let early = Instant::now() + Duration::from_secs(1);
        let ctx = Context::new()
            .with_deadline(early)
            .with_timeout(Duration::from_secs(60));
        assert_eq!(ctx.deadline(), Some(early));
    }

    #[test]
    fn extensions_are_typed_and_replaced() {
        let ctx = Context::new().with_extension(7u32).with_extension("a");
        let copy = ctx.clone().with_extension(8u32);
        assert_eq!(ctx.extension::<u32>(), Some(&7));
        assert_eq!(copy.extension::<u32>(), Some(&8));
        assert_eq!(copy.extension::<&str>(), Some(&"a"));
        assert_eq!(ctx.extension::<u64>(), None);
    }

    #[tokio::test]
    async fn current_is_set_inside_scope_only() {
        assert!(Context::current().metadata().is_empty());
        let ctx = Context::new().with_metadata("k", "v");
        let seen = ctx
            .scope(async { Context::current().metadata().get("k").map(str::to_owned) })
            .await;
        assert_eq!(seen.as_deref(), Some("v"));
        assert!(Context::current().metadata().is_empty());
    }
}
