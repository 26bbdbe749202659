//! Typed subscribers and the loop that feeds them deliveries: decoding,
//! wrappers, concurrency, acknowledgement, poison messages.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::wrapper::{SubscriberFn, SubscriberNames, SubscriberRequest};
use super::{Broker, Delivery, HEADER_CONTENT_TYPE, Message, SubscribeOptions, Unsubscribe};
use crate::chain::Chain;
use crate::codec::{ContentType, MessageCodec};
use crate::error::panic_text;
use crate::registry::Endpoint;
use crate::transport::InFlight;
use crate::{Context, Error, Result};

/// A typed handler of one topic, to add to a service with
/// [`Service::subscribe`](crate::Service::subscribe).
///
/// Its result settles each message: `Ok` acknowledges it; an error with a
/// 4xx code (a message that does not decode is 400) moves it aside — logged
/// with the topic, sent to the backend's dead-letter place — and the next
/// message is handled; a 5xx error or a panic has it redelivered where the
/// backend can.
///
/// # Examples
///
/// ```
/// use micro_runtime::broker::Subscriber;
/// use micro_runtime::{Context, Result};
///
/// #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
/// pub struct Signup { #[prost(string, tag = "1")] pub email: String }
///
/// let welcome = Subscriber::new("user.signup", |_ctx: Context, ev: Signup| async move {
///     println!("welcome {}", ev.email);
///     Ok(())
/// })
/// .queue("mailer");
/// # let _ = welcome;
/// ```
#[derive(Clone)]
pub struct Subscriber {
    pub(crate) topic: String,
    pub(crate) options: SubscribeOptions,
    pub(crate) name: String,
    pub(crate) message_type: String,
    /// The typed handler, on a message it borrows (the delivery keeps it
    /// for settling).
    pub(crate) handler: Arc<DirectFn>,
}

/// A subscriber that decodes a message it borrows.
pub(crate) type DirectFn =
    dyn Fn(Context, &Message) -> BoxFuture<'static, Result<()>> + Send + Sync;

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("topic", &self.topic)
            .field("name", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// A subscriber of `topic` for a message type that is both a prost
    /// message and serde (de)serializable (the types micro-codegen makes).
    pub fn new<T, F, Fut>(topic: impl Into<String>, f: F) -> Self
    where
        T: prost::Message + Default + Serialize + DeserializeOwned + Send + 'static,
        F: Fn(Context, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        Self::with_codec(topic, MessageCodec::prost_serde(), f)
    }

    /// A subscriber decoding with `codec` (what `#[subscriber]` uses).
    pub fn with_codec<T, F, Fut>(topic: impl Into<String>, codec: MessageCodec<T>, f: F) -> Self
    where
        T: Send + 'static,
        F: Fn(Context, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        let topic = topic.into();
        let handler: Arc<DirectFn> = Arc::new(
            move |ctx: Context, message: &Message| -> BoxFuture<'static, Result<()>> {
                let content_type = message
                    .headers
                    .get(HEADER_CONTENT_TYPE)
                    .map_or(Ok(ContentType::Protobuf), ContentType::parse);
                match content_type.and_then(|ct| codec.decode_slice(ct, &message.body)) {
                    Ok(event) => Box::pin(f(ctx, event)),
                    Err(err) => Box::pin(std::future::ready(Err(err))),
                }
            },
        );
        Self {
            name: format!("Subscriber.{topic}"),
            topic,
            options: SubscribeOptions::default(),
            message_type: short_type::<T>(),
            handler,
        }
    }

    /// Joins a queue group: each message goes to one member.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.options.queue = Some(queue.into());
        self
    }

    /// Handles up to `n` messages at once (default 1, which keeps order).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.options.concurrency = n.max(1);
        self
    }

    /// Keeps messages for this subscription while it is down, on backends
    /// that can (see [`SubscribeOptions::durable`]).
    pub fn durable(mut self, name: impl Into<String>) -> Self {
        self.options.durable = Some(name.into());
        self
    }

    /// The name advertised in the registry (default `Subscriber.<topic>`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The message type advertised in the registry.
    pub fn message_type(mut self, name: impl Into<String>) -> Self {
        self.message_type = name.into();
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The registry form: an endpoint with `topic`, `subscriber`, `queue`
    /// metadata, so tools can list what a service listens to.
    pub(crate) fn endpoint(&self) -> Endpoint {
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("topic".to_owned(), self.topic.clone());
        metadata.insert("subscriber".to_owned(), "true".to_owned());
        if let Some(queue) = &self.options.queue {
            metadata.insert("queue".to_owned(), queue.clone());
        }
        Endpoint {
            name: self.name.clone(),
            request: self.message_type.clone(),
            response: String::new(),
            metadata,
        }
    }
}

fn short_type<T>() -> String {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name).to_owned()
}

/// A subscription being served by a service.
pub(crate) struct RunningSubscription {
    topic: String,
    handle: Option<Arc<dyn Unsubscribe>>,
    task: JoinHandle<()>,
    in_flight: InFlight,
    stopping: Arc<AtomicBool>,
}

impl RunningSubscription {
    /// Stops deliveries, lets handlers in flight finish within `grace`.
    /// Deliveries the broker buffered but no handler took are dropped
    /// unsettled (backends with acknowledgements deliver them again).
    pub(crate) async fn stop(self, grace: Duration) {
        self.stopping.store(true, Ordering::Release);
        if let Some(handle) = &self.handle
            && let Err(err) = handle.unsubscribe().await
        {
            tracing::warn!(topic = %self.topic, error = %err, "unsubscribing failed");
        }
        let _ = tokio::time::timeout(grace, self.in_flight.wait_idle()).await;
        self.task.abort();
    }
}

/// Subscribes `subscriber` on `broker` and starts handling its deliveries:
/// in the subscription's own task when it handles one at a time (no hop
/// to another task per message), else in a task per delivery, at most
/// `concurrency` at once. A handler slot is taken before the next
/// delivery, so no delivery waits outside the broker's buffer.
pub(crate) async fn start_subscription(
    broker: &Arc<dyn Broker>,
    service: &str,
    subscriber: Subscriber,
    chain: Chain<SubscriberRequest, ()>,
) -> Result<RunningSubscription> {
    let mut subscription = broker
        .subscribe(&subscriber.topic, subscriber.options.clone())
        .await?;
    let handle = subscription.handle();
    let in_flight = InFlight::default();
    let concurrency = subscriber.options.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(concurrency));
    let settler = Arc::new(Settler {
        names: Arc::new(SubscriberNames {
            topic: subscriber.topic.clone(),
            subscriber: subscriber.name.clone(),
        }),
        service: service.into(),
        typed: wrappable(&subscriber.handler),
        direct: subscriber.handler.clone(),
        chain,
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let (tracker, stop) = (in_flight.clone(), stopping.clone());
    let task = tokio::spawn(async move {
        loop {
            // One at a time needs no permit: the next delivery is taken
            // once this one is settled.
            let permit = if concurrency == 1 {
                None
            } else {
                match permits.clone().acquire_owned().await {
                    Ok(permit) => Some(permit),
                    Err(_) => return,
                }
            };
            if stop.load(Ordering::Acquire) {
                return;
            }
            let Some(delivery) = subscription.next().await else {
                break;
            };
            let guard = tracker.enter();
            if concurrency == 1 {
                settler.settle(delivery).await;
                drop(guard);
                continue;
            }
            let settler = settler.clone();
            tokio::spawn(async move {
                settler.settle(delivery).await;
                drop(permit);
                drop(guard);
            });
        }
        if !stop.load(Ordering::Acquire) {
            tracing::warn!(topic = %settler.names.topic,
                "the broker ended the subscription; no more messages will be handled");
        }
    });
    Ok(RunningSubscription {
        topic: subscriber.topic,
        handle,
        task,
        in_flight,
        stopping,
    })
}

/// `handler` as the end of a wrapper chain: it takes the request.
fn wrappable(handler: &Arc<DirectFn>) -> SubscriberFn {
    let handler = handler.clone();
    Arc::new(move |req: SubscriberRequest| handler(req.ctx, &req.message))
}

/// What handling a delivery needs: the subscriber, its chain, and names
/// for logs and errors.
struct Settler {
    names: Arc<SubscriberNames>,
    service: Arc<str>,
    /// The handler as the wrapper chain ends with it (taking the request).
    typed: SubscriberFn,
    /// The handler on a borrowed message (no wrapper).
    direct: Arc<DirectFn>,
    chain: Chain<SubscriberRequest, ()>,
}

impl Settler {
    /// Runs the subscriber on one delivery and settles it by the outcome.
    async fn settle(&self, mut delivery: Delivery) {
        let Self {
            names,
            service,
            typed,
            direct,
            chain,
        } = self;
        let (topic, name) = (&names.topic, &names.subscriber);
        let ctx = Context::new().with_metadata_map(delivery.message.headers.clone());
        let handling = if chain.is_empty() {
            // No wrapper takes the message: the handler decodes it where
            // it is, and the delivery keeps it for settling (no copy).
            direct(ctx.clone(), &delivery.message)
        } else {
            let req = SubscriberRequest {
                ctx: ctx.clone(),
                names: names.clone(),
                message: delivery.message_for_handler(),
                redelivered: delivery.redelivered,
            };
            chain.run(req, typed)
        };
        let outcome = AssertUnwindSafe(ctx.scope(handling))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let why = panic_text(&*panic);
                Err(Error::internal(format!(
                    "subscriber {name} panicked: {why}"
                )))
            })
            .map_err(|e| e.or_id(service));
        let settled = match outcome {
            Ok(()) => delivery.ack().await,
            Err(err) if (400..500).contains(&err.code()) => {
                tracing::error!(topic = %topic, subscriber = %name, error = %err,
                    "message cannot be handled; moved aside");
                delivery.dead_letter(&err.to_string()).await
            }
            Err(err) => {
                tracing::warn!(topic = %topic, subscriber = %name, error = %err,
                    "subscriber failed; message will be redelivered");
                delivery.nack(true).await
            }
        };
        if let Err(err) = settled {
            tracing::warn!(topic = %topic, error = %err, "settling a delivery failed");
        }
    }
}
