//! Publishing a client's event without waiting: what a client tries first
//! on a NATS broker (found once, when the client is built), so the usual
//! core publish boxes no future and runs no `async_trait` frame.

use std::any::Any;
use std::sync::Arc;

use futures_util::FutureExt;

use super::NatsBroker;
use super::envelope::core_headers;
use super::publish::core_unavailable;
use crate::Result;
use crate::broker::{Broker, Event};

/// What [`PublishNow::try_publish_event`] did.
#[derive(Debug)]
pub(crate) enum TryPublish {
    /// Published.
    Done,
    /// Not published: publish it with [`Broker::publish_event`].
    Later(Event),
    /// Not published, and the event is spent: the backend's client was
    /// busy (its buffer full). Publish it again, waiting.
    Busy,
}

/// A broker that can sometimes publish a client's event at once.
pub(crate) trait PublishNow: Send + Sync {
    /// Publishes `event` to `topic` now if that needs no waiting; else
    /// gives it back untouched ([`TryPublish::Later`]) or says it was
    /// spent on a full buffer ([`TryPublish::Busy`]).
    ///
    /// # Errors
    ///
    /// As [`Broker::publish`].
    fn try_publish_event(&self, topic: &str, event: Event) -> Result<TryPublish>;
}

/// `broker`'s way to publish without waiting, when it is a [`NatsBroker`].
pub(crate) fn publish_now(broker: &Arc<dyn Broker>) -> Option<Arc<dyn PublishNow>> {
    let any: &dyn Any = &**broker;
    let nats = any.downcast_ref::<NatsBroker>()?;
    Some(Arc::new(nats.clone()))
}

impl PublishNow for NatsBroker {
    /// Publishes at once when the topic is known to go to core NATS and
    /// the client takes it without waiting (the usual publish).
    fn try_publish_event(&self, topic: &str, event: Event) -> Result<TryPublish> {
        let inner = &self.inner;
        let known = inner
            .connection
            .connected()
            .filter(|client| client.connection_state() == async_nats::connection::State::Connected);
        let Some((client, subject)) =
            known.and_then(|c| Some((c, inner.streams.core_subject(topic)?)))
        else {
            return Ok(TryPublish::Later(event));
        };
        // The client's future completes at once unless its buffer is full;
        // then it is dropped unsent (the send is cancel safe).
        let sent = match core_headers(&event) {
            None => client.publish(subject, event.body).now_or_never(),
            Some(headers) => client
                .publish_with_headers(subject, headers, event.body)
                .now_or_never(),
        };
        match sent {
            Some(sent) => sent
                .map(|()| TryPublish::Done)
                .map_err(|e| core_unavailable(self, e)),
            None => Ok(TryPublish::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{MemoryBroker, NatsOptions};

    #[test]
    fn only_a_nats_broker_publishes_now() {
        let nats: Arc<dyn Broker> = Arc::new(NatsBroker::new(NatsOptions::default()));
        let memory: Arc<dyn Broker> = Arc::new(MemoryBroker::new());
        assert!(publish_now(&nats).is_some());
        assert!(publish_now(&memory).is_none());
    }
}
