//! A bound on calls in flight that sheds load: one call over it fails at
//! once with 503 instead of queueing.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use crate::chain::{Next, Wrapper};
use crate::{Error, Result};

/// At most `max` calls in flight; one more answers 503 at once (load
/// shedding: a queue would only make every caller's deadline later). A
/// wrapper of any kind (handler, client, subscriber) and a tower layer;
/// clones share the bound.
///
/// # Examples
///
/// ```
/// use micro_runtime::resilience::ConcurrencyLimit;
///
/// let limit = ConcurrencyLimit::new(2);
/// let first = limit.try_acquire()?;
/// let _second = limit.try_acquire()?;
/// assert!(limit.try_acquire().unwrap_err().is_unavailable());
/// drop(first);
/// assert!(limit.try_acquire().is_ok());
/// # Ok::<(), micro_runtime::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConcurrencyLimit {
    max: usize,
    permits: Arc<Semaphore>,
}

/// A call's place under a [`ConcurrencyLimit`], given back when dropped.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl ConcurrencyLimit {
    /// At most `max` calls in flight (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            permits: Arc::new(Semaphore::new(max)),
        }
    }

    /// Takes a place.
    ///
    /// # Errors
    ///
    /// 503 when all `max` are taken.
    pub fn try_acquire(&self) -> Result<Permit> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map(Permit)
            .map_err(|_| {
                Error::unavailable(format!(
                    "overloaded: {} calls in flight, the limit; try again shortly",
                    self.max
                ))
            })
    }
}

impl<Req: Send + 'static, Rsp: Send + 'static> Wrapper<Req, Rsp> for ConcurrencyLimit {
    fn call(&self, req: Req, next: Next<Req, Rsp>) -> BoxFuture<'static, Result<Rsp>> {
        match self.try_acquire() {
            Ok(permit) => Box::pin(async move {
                let out = next.run(req).await;
                drop(permit);
                out
            }),
            Err(err) => Box::pin(async move { Err(err) }),
        }
    }
}

impl<S> Layer<S> for ConcurrencyLimit {
    type Service = ConcurrencyLimited<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimited<S> {
        ConcurrencyLimited {
            inner,
            limit: self.clone(),
        }
    }
}

/// A tower service behind a [`ConcurrencyLimit`].
#[derive(Clone, Debug)]
pub struct ConcurrencyLimited<S> {
    inner: S,
    limit: ConcurrencyLimit,
}

impl<S, R> Service<R> for ConcurrencyLimited<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, std::result::Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let permit = match self.limit.try_acquire() {
            Ok(permit) => permit,
            Err(err) => return Box::pin(async move { Err(err.into()) }),
        };
        let call = self.inner.call(req);
        Box::pin(async move {
            let out = call.await.map_err(Into::into);
            drop(permit);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;
    use crate::chain::{Chain, End};

    #[tokio::test]
    async fn one_call_over_the_bound_is_shed_and_a_place_frees_on_completion() {
        let limit: Arc<dyn Wrapper<u32, u32>> = Arc::new(ConcurrencyLimit::new(1));
        let chain = Chain::new(vec![limit]);
        let release = Arc::new(Notify::new());
        let entered = Arc::new(Notify::new());
        let end: End<u32, u32> = {
            let (release, entered) = (release.clone(), entered.clone());
            Arc::new(move |n| {
                let (release, entered) = (release.clone(), entered.clone());
                Box::pin(async move {
                    if n == 1 {
                        entered.notify_one();
                        release.notified().await;
                    }
                    Ok(n)
                })
            })
        };
        let slow = tokio::spawn(chain.run(1, &end));
        entered.notified().await;
        let err = chain.run(2, &end).await.unwrap_err();
        assert!(
            err.is_unavailable() && err.detail().starts_with("overloaded"),
            "{err}"
        );
        release.notify_one();
        assert_eq!(slow.await.unwrap().unwrap(), 1);
        assert_eq!(chain.run(3, &end).await.unwrap(), 3);
    }
}
