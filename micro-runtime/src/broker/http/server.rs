//! The subscribing side: an HTTP server taking `POST /_sub/<id>` deliveries
//! and answering once the handler settled the message.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{HttpBrokerOptions, envelope};
use crate::broker::{Acker, Delivery};
use crate::log::Throttled;
use crate::{Error, Result};

/// How long a delivery may wait for room in a busy subscriber.
const QUEUE_WAIT: Duration = Duration::from_secs(30);
/// How long a delivery may wait for its handler.
const HANDLE_WAIT: Duration = Duration::from_secs(60);

/// What the handler did with a delivery.
#[derive(Debug)]
pub(super) enum Settled {
    Ack,
    Nack { requeue: bool },
    DeadLetter(String),
}

/// A subscription the server delivers to.
pub(super) struct Inbox {
    pub(super) topic: String,
    /// The secret a delivery must carry in [`TOKEN_HEADER`].
    pub(super) token: String,
    pub(super) tx: mpsc::Sender<Delivery>,
}

/// The node metadata key under which a subscription registers its token.
pub(super) const TOKEN_METADATA: &str = "token";

/// The header a publisher sends the subscription's token in.
pub(super) const TOKEN_HEADER: &str = "x-micro-broker-token";

/// A fresh subscription token: 128 bits from the operating system's
/// random source, in hex.
pub(super) fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("no random source for a broker token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `req` carries `inbox`'s token: `None` when it does, else the
/// refusal (401 without one, 403 with another).
fn refuse_unauthorised(
    req: &Request<Incoming>,
    inbox: &Inbox,
) -> Option<(StatusCode, &'static str)> {
    use subtle::ConstantTimeEq;
    match req.headers().get(TOKEN_HEADER) {
        None => Some((
            StatusCode::UNAUTHORIZED,
            "a delivery needs the subscription's token (x-micro-broker-token)",
        )),
        Some(sent) if bool::from(sent.as_bytes().ct_eq(inbox.token.as_bytes())) => None,
        Some(_) => Some((
            StatusCode::FORBIDDEN,
            "the delivery's token is not this subscription's",
        )),
    }
}

pub(super) type Inboxes = Arc<Mutex<HashMap<String, Arc<Inbox>>>>;

/// Called with messages moved aside, to forward them to the dead-letter topic.
pub(super) type DeadLetters = Arc<dyn Fn(String, crate::broker::Message, String) + Send + Sync>;

struct HttpAck(Mutex<Option<oneshot::Sender<Settled>>>);

impl HttpAck {
    fn settle(&self, outcome: Settled) {
        if let Some(tx) = self.0.lock().unwrap().take() {
            let _ = tx.send(outcome);
        }
    }
}

#[async_trait::async_trait]
impl Acker for HttpAck {
    async fn ack(&self) -> Result<()> {
        self.settle(Settled::Ack);
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        self.settle(Settled::Nack { requeue });
        Ok(())
    }

    async fn dead_letter(&self, reason: &str) -> Result<()> {
        self.settle(Settled::DeadLetter(reason.to_owned()));
        Ok(())
    }
}

/// The running server.
pub(super) struct Server {
    pub(super) local: String,
    accept: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Binds the options' address and serves deliveries into `inboxes`, at
/// most `max_connections` at once, each bounded by `read_timeout`.
pub(super) async fn start(
    options: &HttpBrokerOptions,
    inboxes: Inboxes,
    dead_letters: DeadLetters,
) -> Result<Server> {
    let address = &options.address;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| Error::internal(format!("http broker cannot listen on {address}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("http broker address: {e}")))?
        .to_string();
    let limits = Limits {
        max_message: options.max_message,
        read_timeout: options.read_timeout,
    };
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let refusals = Arc::new(Throttled::new("http broker", REFUSAL_LOG_INTERVAL));
    let accept = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "http broker accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refusals.warn(|suppressed| {
                    tracing::warn!(peer = %peer, suppressed, "http broker at its connection limit; connection closed");
                });
                drop(stream);
                continue;
            };
            let (inboxes, dead_letters) = (inboxes.clone(), dead_letters.clone());
            let refusals = refusals.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let (inboxes, dead_letters) = (inboxes.clone(), dead_letters.clone());
                    let refusals = refusals.clone();
                    async move {
                        Ok::<_, Infallible>(
                            deliver(req, &inboxes, limits, &dead_letters, &refusals).await,
                        )
                    }
                });
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.read_timeout)
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(peer = %peer, error = %err, "http broker connection ended");
                }
                drop(slot);
            });
        }
    });
    Ok(Server { local, accept })
}

fn reply(status: StatusCode, text: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.into())));
    *response.status_mut() = status;
    response
}

/// What one delivery may cost the subscriber.
#[derive(Clone, Copy)]
struct Limits {
    max_message: usize,
    read_timeout: Duration,
}

/// The least time between two warnings about refused deliveries.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

async fn deliver(
    req: Request<Incoming>,
    inboxes: &Inboxes,
    limits: Limits,
    dead_letters: &DeadLetters,
    refusals: &Throttled,
) -> Response<Full<Bytes>> {
    let Some(id) = req.uri().path().strip_prefix("/_sub/").map(str::to_owned) else {
        return reply(
            StatusCode::NOT_FOUND,
            "deliveries go to /_sub/<subscription>",
        );
    };
    if req.method() != hyper::Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "POST a delivery");
    }
    let inbox = inboxes.lock().unwrap().get(&id).cloned();
    let Some(inbox) = inbox else {
        return reply(
            StatusCode::NOT_FOUND,
            format!("subscription {id} not found"),
        );
    };
    if let Some((status, why)) = refuse_unauthorised(&req, &inbox) {
        refusals.warn(|suppressed| {
            tracing::warn!(topic = %inbox.topic, status = status.as_u16(), suppressed,
                "delivery refused: {why}");
        });
        return reply(status, why);
    }
    let body = Limited::new(req.into_body(), limits.max_message).collect();
    let Ok(body) = tokio::time::timeout(limits.read_timeout, body).await else {
        return reply(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {:?}", limits.read_timeout),
        );
    };
    let body = match body {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            let status = if err.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return reply(status, err.to_string());
        }
    };
    let message = match envelope::decode(body) {
        Ok(message) => message,
        Err(err) => {
            refusals.warn(|suppressed| {
                tracing::warn!(topic = %inbox.topic, error = %err, suppressed, "malformed delivery refused");
            });
            return reply(StatusCode::BAD_REQUEST, err.detail());
        }
    };
    let (tx, rx) = oneshot::channel();
    let acker = Box::new(HttpAck(Mutex::new(Some(tx))));
    let delivery = Delivery::new(inbox.topic.as_str(), message.clone(), Some(acker));
    match tokio::time::timeout(QUEUE_WAIT, inbox.tx.send(delivery)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return reply(StatusCode::NOT_FOUND, format!("subscription {id} ended")),
        Err(_) => return reply(StatusCode::SERVICE_UNAVAILABLE, "subscriber busy"),
    }
    match tokio::time::timeout(HANDLE_WAIT, rx).await {
        Ok(Ok(Settled::Ack)) | Ok(Ok(Settled::Nack { requeue: false })) => {
            reply(StatusCode::OK, "")
        }
        Ok(Ok(Settled::DeadLetter(reason))) => {
            dead_letters(inbox.topic.clone(), message, reason);
            reply(StatusCode::OK, "moved aside")
        }
        Ok(Ok(Settled::Nack { requeue: true })) | Ok(Err(_)) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "not handled; deliver again",
        ),
        Err(_) => reply(StatusCode::GATEWAY_TIMEOUT, "handler took too long"),
    }
}
