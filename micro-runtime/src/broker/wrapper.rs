//! What subscriber wrappers see: a delivered message, not yet decoded.

use std::future::Future;
use std::sync::Arc;

use super::Message;
use crate::chain::{End, Next, NextService, TowerLayer, Wrapper, wrapper_fn};
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

/// The erased typed handler of a subscription, the end of the chain.
pub(crate) type SubscriberFn = End<SubscriberRequest, ()>;

/// Middleware around subscribers, like handler wrappers around handlers: a
/// [`Wrapper`] of [`SubscriberRequest`]s.
///
/// An `Ok` acknowledges the message; a 4xx error moves it aside as poison;
/// a 5xx error has it redelivered where the backend can.
pub trait SubscriberWrapper: Wrapper<SubscriberRequest, ()> {}

impl<W: Wrapper<SubscriberRequest, ()>> SubscriberWrapper for W {}

/// The rest of a subscriber chain, ending with the subscriber.
pub type SubscriberNext = Next<SubscriberRequest, ()>;

/// A tower layer used as a subscriber wrapper.
pub type TowerSubscriberLayer<S> = TowerLayer<S, SubscriberRequest, ()>;

/// The innermost service a tower layer wraps on the subscriber side.
pub type SubscriberNextService = NextService<SubscriberRequest, ()>;

/// A subscriber wrapper from an async closure taking the request and `next`.
pub fn subscriber_fn<F, Fut>(f: F) -> impl SubscriberWrapper
where
    F: Fn(SubscriberRequest, SubscriberNext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    wrapper_fn(f)
}
