use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::broker::Message;
use crate::{Context, Result};

/// A delivered message as a subscriber wrapper sees it: not yet decoded.
pub struct SubscriberRequest {
    pub(crate) ctx: Context,
    pub(crate) names: Arc<SubscriberNames>,
    pub(crate) message: Message,
    pub(crate) redelivered: bool,
}

/// The topic and name of a subscriber, shared by its requests.
#[derive(Debug)]
pub(crate) struct SubscriberNames {
    pub(crate) topic: String,
    pub(crate) subscriber: String,
}

impl SubscriberRequest {
    /// The context: the publisher's metadata.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The context, to change what the handler sees.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.names.topic
    }

    /// The subscriber's name, e.g. `Notifier.OnSignup`.
    pub fn subscriber(&self) -> &str {
        &self.names.subscriber
    }

    /// The message (headers and encoded body).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// True when the broker delivered it before.
    pub fn redelivered(&self) -> bool {
        self.redelivered
    }
}

impl std::fmt::Debug for SubscriberRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberRequest")
            .field("topic", &self.names.topic)
            .field("subscriber", &self.names.subscriber)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

/// The erased typed handler of a subscription.
pub(crate) type SubscriberFn =
    dyn Fn(SubscriberRequest) -> BoxFuture<'static, Result<()>> + Send + Sync;

/// Middleware around subscribers, like handler wrappers around handlers.
///
/// An `Ok` acknowledges the message; a 4xx error moves it aside as poison;
/// a 5xx error has it redelivered where the backend can.
pub trait SubscriberWrapper: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)`.
    fn call(&self, req: SubscriberRequest, next: SubscriberNext) -> BoxFuture<'static, Result<()>>;
}

/// The rest of a subscriber chain.
#[derive(Clone)]
pub struct SubscriberNext {
    wrappers: Arc<[Arc<dyn SubscriberWrapper>]>,
    index: usize,
    handler: Arc<SubscriberFn>,
}

impl SubscriberNext {
    /// Runs the rest of the chain, ending with the subscriber.
    pub fn run(self, req: SubscriberRequest) -> BoxFuture<'static, Result<()>> {
        match self.wrappers.get(self.index).cloned() {
            Some(wrapper) => {
                let next = SubscriberNext {
                    index: self.index + 1,
                    ..self
                };
                wrapper.call(req, next)
            }
            None => (self.handler)(req),
        }
    }
}

impl std::fmt::Debug for SubscriberNext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberNext")
            .field("remaining", &(self.wrappers.len() - self.index))
            .finish()
    }
}

/// The subscriber wrappers of a service, in order.
#[derive(Clone, Default)]
pub(crate) struct SubscriberChain {
    wrappers: Arc<[Arc<dyn SubscriberWrapper>]>,
}

impl SubscriberChain {
    pub(crate) fn new(wrappers: Vec<Arc<dyn SubscriberWrapper>>) -> Self {
        Self {
            wrappers: wrappers.into(),
        }
    }

    /// True when there is no wrapper.
    pub(crate) fn is_empty(&self) -> bool {
        self.wrappers.is_empty()
    }

    pub(crate) fn run(
        &self,
        req: SubscriberRequest,
        handler: &Arc<SubscriberFn>,
    ) -> BoxFuture<'static, Result<()>> {
        if self.wrappers.is_empty() {
            return handler(req);
        }
        SubscriberNext {
            wrappers: self.wrappers.clone(),
            index: 0,
            handler: handler.clone(),
        }
        .run(req)
    }
}

struct FnWrapper<F>(F);

impl<F, Fut> SubscriberWrapper for FnWrapper<F>
where
    F: Fn(SubscriberRequest, SubscriberNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    fn call(&self, req: SubscriberRequest, next: SubscriberNext) -> BoxFuture<'static, Result<()>> {
        Box::pin((self.0)(req, next))
    }
}

/// A subscriber wrapper from an async closure taking the request and `next`.
pub fn subscriber_fn<F, Fut>(f: F) -> impl SubscriberWrapper
where
    F: Fn(SubscriberRequest, SubscriberNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    FnWrapper(f)
}
