//! The in-memory transport: calls between services of one process, with the
//! same encoding, routing, streaming and cancellation as over a network.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::in_flight::InFlight;
use super::{
    Canceller, Connection, Dispatcher, IncomingBody, IncomingCall, LOCAL_STREAM_WINDOW, Listener,
    RawReceiver, RawSender, RequestHead, ResponseFuture, Transport, channel,
};
use crate::error::Origin;
use crate::{Error, Result};

/// The in-memory transport. Clones share their listeners; [`MemoryTransport::global`]
/// is the one every service of the process uses by default.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    listeners: Arc<Mutex<HashMap<String, Arc<Endpoint>>>>,
}

struct Endpoint {
    dispatcher: Arc<dyn Dispatcher>,
    draining: AtomicBool,
    in_flight: InFlight,
}

static NEXT_ADDRESS: AtomicU64 = AtomicU64::new(1);

impl MemoryTransport {
    /// A transport with no listener.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide instance.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<MemoryTransport> = OnceLock::new();
        GLOBAL.get_or_init(MemoryTransport::new).clone()
    }
}

#[async_trait::async_trait]
impl Transport for MemoryTransport {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn dial(&self, address: &str) -> Result<Arc<dyn Connection>> {
        let endpoint = self.listeners.lock().unwrap().get(address).cloned();
        match endpoint {
            Some(endpoint) if !endpoint.draining.load(Ordering::Acquire) => {
                Ok(Arc::new(MemoryConnection { endpoint }))
            }
            _ => Err(Error::unavailable(format!("nothing listens on {address}"))
                .with_origin(Origin::NotSent)),
        }
    }

    async fn listen(
        &self,
        address: &str,
        dispatcher: Arc<dyn Dispatcher>,
    ) -> Result<Box<dyn Listener>> {
        // `memory:<n>` names an address; anything else (e.g. a TCP-style
        // `0.0.0.0:0` from the environment) asks for a fresh one.
        let address = match address.strip_prefix("memory:") {
            Some(n) if n != "0" && !n.is_empty() => address.to_owned(),
            _ => format!("memory:{}", NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed)),
        };
        let endpoint = Arc::new(Endpoint {
            dispatcher,
            draining: AtomicBool::new(false),
            in_flight: InFlight::default(),
        });
        let mut listeners = self.listeners.lock().unwrap();
        if listeners.contains_key(&address) {
            return Err(Error::internal(format!("{address} is already in use")));
        }
        listeners.insert(address.clone(), endpoint.clone());
        Ok(Box::new(MemoryListener {
            address,
            endpoint,
            listeners: self.listeners.clone(),
        }))
    }
}

struct MemoryListener {
    address: String,
    endpoint: Arc<Endpoint>,
    listeners: Arc<Mutex<HashMap<String, Arc<Endpoint>>>>,
}

#[async_trait::async_trait]
impl Listener for MemoryListener {
    fn local_address(&self) -> String {
        self.address.clone()
    }

    async fn shutdown(&self, grace: Duration) {
        self.endpoint.draining.store(true, Ordering::Release);
        let _ = tokio::time::timeout(grace, self.endpoint.in_flight.wait_idle()).await;
        self.listeners.lock().unwrap().remove(&self.address);
    }
}

struct MemoryConnection {
    endpoint: Arc<Endpoint>,
}

fn refused() -> Error {
    Error::unavailable("server is shutting down").with_origin(Origin::NotSent)
}

impl Connection for MemoryConnection {
    fn unary(&self, head: RequestHead, body: Bytes) -> ResponseFuture {
        if !self.is_usable() {
            return ResponseFuture::ready(Err(refused()));
        }
        let guard = self.endpoint.in_flight.enter();
        let dispatched = self.endpoint.dispatcher.dispatch(IncomingCall {
            head,
            body: IncomingBody::Unary(body),
        });
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let result = dispatched.await.and_then(|body| {
                body.ok_or_else(|| Error::internal("unary handler returned no response"))
            });
            let _ = tx.send(result);
            drop(guard);
        });
        ResponseFuture::pending(rx, Canceller::Abort(task.abort_handle()))
    }

    fn open_stream(&self, head: RequestHead) -> Result<(RawSender, RawReceiver)> {
        if !self.is_usable() {
            return Err(refused());
        }
        let guard = self.endpoint.in_flight.enter();
        let (up_tx, up_rx) = channel(LOCAL_STREAM_WINDOW);
        let (down_tx, down_rx) = channel(LOCAL_STREAM_WINDOW);
        let reply = RawSender::local(down_tx);
        let dispatched = self.endpoint.dispatcher.dispatch(IncomingCall {
            head,
            body: IncomingBody::Stream {
                rx: RawReceiver::new(up_rx, None, None),
                tx: reply.clone(),
            },
        });
        let task = tokio::spawn(async move {
            match dispatched.await {
                Ok(Some(body)) => match reply.send(body).await {
                    Ok(()) => reply.finish(Ok(())),
                    Err(err) => reply.finish(Err(err)),
                },
                Ok(None) => reply.finish(Ok(())),
                Err(err) => reply.finish(Err(err)),
            }
            drop(guard);
        });
        Ok((
            RawSender::local(up_tx),
            RawReceiver::new(down_rx, None, Some(Canceller::Abort(task.abort_handle()))),
        ))
    }

    fn in_flight(&self) -> usize {
        self.endpoint.in_flight.count()
    }

    fn is_usable(&self) -> bool {
        !self.endpoint.draining.load(Ordering::Acquire)
    }
}
