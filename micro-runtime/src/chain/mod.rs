//! The one wrapper chain behind client, handler and subscriber wrappers.
//!
//! A [`Wrapper`] receives a request and a [`Next`] that runs the rest of
//! the chain; it may change the request, answer without calling `next`, or
//! look at the result. A [`Chain`] runs its wrappers in the order they were
//! added (the first outermost) and ends in a plain continuation, the
//! [`End`] its owner hands it: the client's call machinery, an endpoint's
//! handler, a subscriber. An empty chain costs nothing: the request goes
//! straight to the end.

mod tower;

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use self::tower::{Chained, NextService, TowerLayer};
use crate::Result;

/// The continuation a chain ends in.
pub(crate) type End<Req, Rsp> = Arc<dyn Fn(Req) -> BoxFuture<'static, Result<Rsp>> + Send + Sync>;

/// Middleware around one kind of request (`Req` answered with `Rsp`).
///
/// Client, handler and subscriber wrappers are this trait for their
/// request and response types; [`wrapper_fn`] makes one from a closure.
pub trait Wrapper<Req, Rsp>: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)`.
    fn call(&self, req: Req, next: Next<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>>;
}

/// A shared wrapper is a wrapper (so wrappers built once, e.g. by
/// `defaults::handler_wrappers_from_env`, plug into any builder).
impl<Req, Rsp, W: Wrapper<Req, Rsp> + ?Sized> Wrapper<Req, Rsp> for Arc<W> {
    fn call(&self, req: Req, next: Next<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>> {
        (**self).call(req, next)
    }
}

/// The rest of a chain: the wrappers after the current one, then the end.
pub struct Next<Req, Rsp> {
    wrappers: Arc<[Arc<dyn Wrapper<Req, Rsp>>]>,
    index: usize,
    end: End<Req, Rsp>,
}

impl<Req, Rsp> Clone for Next<Req, Rsp> {
    fn clone(&self) -> Self {
        Self {
            wrappers: self.wrappers.clone(),
            index: self.index,
            end: self.end.clone(),
        }
    }
}

impl<Req: Send + 'static, Rsp: Send + 'static> Next<Req, Rsp> {
    /// Runs the rest of the chain.
    pub fn run(self, req: Req) -> BoxFuture<'static, Result<Rsp>> {
        match self.wrappers.get(self.index).cloned() {
            Some(wrapper) => {
                let next = Next {
                    index: self.index + 1,
                    ..self
                };
                wrapper.call(req, next)
            }
            None => (self.end)(req),
        }
    }
}

impl<Req, Rsp> std::fmt::Debug for Next<Req, Rsp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &(self.wrappers.len() - self.index))
            .finish()
    }
}

/// Wrappers in order, shared by every request that runs through them.
pub(crate) struct Chain<Req, Rsp> {
    wrappers: Arc<[Arc<dyn Wrapper<Req, Rsp>>]>,
}

impl<Req, Rsp> Clone for Chain<Req, Rsp> {
    fn clone(&self) -> Self {
        Self {
            wrappers: self.wrappers.clone(),
        }
    }
}

impl<Req, Rsp> Default for Chain<Req, Rsp> {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl<Req, Rsp> Chain<Req, Rsp> {
    /// A chain of `wrappers`, the first outermost.
    pub(crate) fn new(wrappers: Vec<Arc<dyn Wrapper<Req, Rsp>>>) -> Self {
        Self {
            wrappers: wrappers.into(),
        }
    }

    /// This chain with `wrapper` added innermost.
    pub(crate) fn push(&self, wrapper: Arc<dyn Wrapper<Req, Rsp>>) -> Self {
        let mut all = self.wrappers.to_vec();
        all.push(wrapper);
        Self::new(all)
    }

    /// True when there is no wrapper: the owner may skip the chain.
    pub(crate) fn is_empty(&self) -> bool {
        self.wrappers.is_empty()
    }
}

impl<Req: Send + 'static, Rsp: Send + 'static> Chain<Req, Rsp> {
    /// Runs `req` through the wrappers into `end`.
    pub(crate) fn run(&self, req: Req, end: &End<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>> {
        if self.wrappers.is_empty() {
            return end(req);
        }
        Next {
            wrappers: self.wrappers.clone(),
            index: 0,
            end: end.clone(),
        }
        .run(req)
    }
}

struct FnWrapper<F>(F);

impl<Req, Rsp, F, Fut> Wrapper<Req, Rsp> for FnWrapper<F>
where
    F: Fn(Req, Next<Req, Rsp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Rsp>> + Send + 'static,
{
    fn call(&self, req: Req, next: Next<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>> {
        Box::pin((self.0)(req, next))
    }
}

/// A wrapper from an async closure taking the request and `next`.
pub fn wrapper_fn<Req, Rsp, F, Fut>(f: F) -> impl Wrapper<Req, Rsp>
where
    F: Fn(Req, Next<Req, Rsp>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Rsp>> + Send + 'static,
{
    FnWrapper(f)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::Error;

    type Log = Arc<Mutex<Vec<String>>>;

    fn tag(log: &Log, name: &'static str) -> Arc<dyn Wrapper<u32, u32>> {
        let log = log.clone();
        Arc::new(wrapper_fn(move |req: u32, next: Next<u32, u32>| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(format!("{name}>"));
                let out = next.run(req + 1).await;
                log.lock().unwrap().push(format!("<{name}"));
                out
            }
        }))
    }

    fn doubling() -> End<u32, u32> {
        Arc::new(|req| Box::pin(async move { Ok(req * 2) }))
    }

    #[tokio::test]
    async fn wrappers_run_in_order_around_the_end() {
        let log = Log::default();
        let chain = Chain::new(vec![tag(&log, "a"), tag(&log, "b")]);
        assert_eq!(chain.run(1, &doubling()).await.unwrap(), 6);
        assert_eq!(*log.lock().unwrap(), ["a>", "b>", "<b", "<a"]);
    }

    #[tokio::test]
    async fn an_empty_chain_is_the_end_alone() {
        let chain = Chain::<u32, u32>::default();
        assert!(chain.is_empty());
        assert_eq!(chain.run(4, &doubling()).await.unwrap(), 8);
    }

    #[tokio::test]
    async fn a_wrapper_may_answer_without_the_rest() {
        let log = Log::default();
        let refuse: Arc<dyn Wrapper<u32, u32>> =
            Arc::new(wrapper_fn(|_: u32, _: Next<u32, u32>| async {
                Err(Error::forbidden("no"))
            }));
        let chain = Chain::new(vec![refuse]).push(tag(&log, "inner"));
        let err = chain.run(1, &doubling()).await.unwrap_err();
        assert_eq!(err.code(), 403);
        assert!(
            log.lock().unwrap().is_empty(),
            "the inner wrapper never ran"
        );
    }

    #[tokio::test]
    async fn push_leaves_the_original_unchanged() {
        let log = Log::default();
        let outer = Chain::new(vec![tag(&log, "a")]);
        let both = outer.push(tag(&log, "b"));
        assert_eq!(outer.run(1, &doubling()).await.unwrap(), 4);
        assert_eq!(both.run(1, &doubling()).await.unwrap(), 6);
    }
}
