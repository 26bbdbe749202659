//! The connection pool: a bounded number of multiplexed connections per
//! node, reused across calls, idle ones closed after a TTL. A connection that
//! fails is dropped and replaced by a fresh dial on the next call; a call is
//! never retried blindly on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::error::Origin;
use crate::transport::{Connection, Security, Transport};
use crate::{Error, Result};

/// Pool tuning.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most connections per node.
    pub size: usize,
    /// Calls in flight on a connection before another one is opened (while
    /// below `size`).
    pub streams_per_connection: usize,
    /// Idle connections are closed after this long.
    pub idle_ttl: Duration,
    /// Longest wait for a connection to be established.
    pub dial_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            size: 2,
            streams_per_connection: 64,
            idle_ttl: Duration::from_secs(60),
            dial_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) struct Pool {
    transport: Arc<dyn Transport>,
    /// What the transport's connections offer (TLS, a client certificate).
    security: Security,
    options: PoolOptions,
    slots: Arc<Mutex<HashMap<Arc<str>, Arc<Slot>>>>,
}

#[derive(Default)]
struct Slot {
    conns: Mutex<Vec<Pooled>>,
    dialing: tokio::sync::Mutex<()>,
}

struct Pooled {
    conn: Arc<dyn Connection>,
    last_used: Instant,
}

impl Pool {
    pub(crate) fn new(transport: Arc<dyn Transport>, options: PoolOptions) -> Self {
        let pool = Self {
            security: transport.dial_security(),
            transport,
            options,
            slots: Arc::default(),
        };
        pool.spawn_reaper();
        pool
    }

    /// What its connections offer: see [`Transport::dial_security`].
    pub(crate) fn security(&self) -> Security {
        self.security
    }

    pub(crate) fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// A connection to `address`, dialing when none is usable or all are busy.
    pub(crate) async fn get(&self, address: &Arc<str>) -> Result<Arc<dyn Connection>> {
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            match slots.get(address) {
                Some(slot) => slot.clone(),
                None => slots.entry(address.clone()).or_default().clone(),
            }
        };
        let now = Instant::now();
        if let Some(conn) = self.pick(&slot, now) {
            return Ok(conn);
        }
        // One dial at a time per node: a burst of callers shares it.
        let _dialing = slot.dialing.lock().await;
        if let Some(conn) = self.pick(&slot, Instant::now()) {
            return Ok(conn);
        }
        let dialed = tokio::time::timeout(self.options.dial_timeout, self.transport.dial(address))
            .await
            .unwrap_or_else(|_| {
                Err(
                    Error::unavailable(format!("connecting to {address} timed out"))
                        .with_origin(Origin::NotSent),
                )
            });
        match dialed {
            Ok(conn) => {
                slot.conns.lock().unwrap().push(Pooled {
                    conn: conn.clone(),
                    last_used: Instant::now(),
                });
                Ok(conn)
            }
            Err(err) => {
                // Fall back on a busy connection rather than failing.
                match slot
                    .conns
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|p| p.conn.is_usable())
                {
                    Some(p) => Ok(p.conn.clone()),
                    None => Err(err.with_origin(Origin::NotSent).with_id("micro.client")),
                }
            }
        }
    }

    fn pick(&self, slot: &Slot, now: Instant) -> Option<Arc<dyn Connection>> {
        let mut conns = slot.conns.lock().unwrap();
        conns.retain(|p| p.conn.is_usable());
        let full = conns.len() >= self.options.size;
        let best = conns.iter_mut().min_by_key(|p| p.conn.in_flight())?;
        if !full && best.conn.in_flight() >= self.options.streams_per_connection {
            return None;
        }
        best.last_used = now;
        Some(best.conn.clone())
    }

    /// Connections open now, over all nodes.
    pub(crate) fn open_connections(&self) -> usize {
        self.slots
            .lock()
            .unwrap()
            .values()
            .map(|s| s.conns.lock().unwrap().len())
            .sum()
    }

    fn spawn_reaper(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let slots: Weak<Mutex<HashMap<Arc<str>, Arc<Slot>>>> = Arc::downgrade(&self.slots);
        let ttl = self.options.idle_ttl;
        runtime.spawn(async move {
            let mut tick = tokio::time::interval((ttl / 2).max(Duration::from_millis(10)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(slots) = slots.upgrade() else { return };
                let now = Instant::now();
                slots.lock().unwrap().retain(|_, slot| {
                    let mut conns = slot.conns.lock().unwrap();
                    conns.retain(|p| {
                        p.conn.is_usable()
                            && (p.conn.in_flight() > 0 || now.duration_since(p.last_used) < ttl)
                    });
                    !conns.is_empty()
                });
            }
        });
    }
}
