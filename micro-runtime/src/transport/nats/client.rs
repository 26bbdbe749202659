//! The calling side: one inbox subscription per transport that every reply
//! arrives on (`<inbox>.<call id>`), logical connections to node subjects,
//! and the probes that notice a node that went away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message, StatusCode, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::NatsTransportOptions;
use super::headers::{self, Frame};
use super::outbox::{Outbox, Outgoing};
use crate::error::Origin;
use crate::transport::{
    Canceller, Connection, Credits, FrameSink, Inbound, InboundBudget, RawReceiver, RawSender,
    RemoteStream, RequestHead, ResponseFuture, StreamItem,
};
use crate::{Error, Result};

/// What a node said to a ping.
pub(super) struct Pong {
    /// Its node subject.
    node: String,
    /// Its stream window.
    window: u32,
    /// It is shutting down.
    draining: bool,
}

/// One logical connection: calls to one subject.
pub(super) struct Peer {
    /// Where requests go (a node subject, or a service subject).
    subject: Subject,
    /// Where probes go: the node's own control subject, when the subject
    /// is a node's (through a service subject, the node is not known).
    control: Option<Subject>,
    /// The node's stream window.
    window: u32,
    in_flight: AtomicUsize,
    /// The node is gone or going: no new calls.
    unusable: AtomicBool,
    /// When the node was last heard of (ms since the side's epoch).
    heard: AtomicU64,
    probing: AtomicBool,
}

enum Slot {
    Unary {
        peer: Arc<Peer>,
        tx: oneshot::Sender<Result<Bytes>>,
    },
    Stream {
        peer: Arc<Peer>,
        inbound: Inbound,
        credits: Arc<Credits>,
        budget: Arc<InboundBudget>,
        state: StreamState,
    },
    Ping(oneshot::Sender<Result<Pong>>),
}

enum StreamState {
    /// Not accepted yet: frames wait here (bounded by the node's window).
    Opening {
        queued: Vec<(Option<HeaderMap>, Bytes)>,
        cancelled: bool,
    },
    /// Accepted: frames go to the node's stream subject.
    Open(Subject),
}

impl Slot {
    fn peer(&self) -> Option<&Arc<Peer>> {
        match self {
            Slot::Unary { peer, .. } | Slot::Stream { peer, .. } => Some(peer),
            Slot::Ping(_) => None,
        }
    }

    /// Fails the call with `err` (the slot is already removed).
    fn fail(self, err: Error) {
        match self {
            Slot::Unary { tx, .. } => {
                let _ = tx.send(Err(err));
            }
            Slot::Stream {
                inbound, credits, ..
            } => {
                credits.close();
                let _ = inbound.try_send(StreamItem::End(Err(err)));
            }
            Slot::Ping(tx) => {
                let _ = tx.send(Err(err));
            }
        }
    }
}

/// The calling side of a transport.
pub(super) struct ClientSide {
    outbox: Arc<Outbox>,
    /// `<inbox>.<id>` is where call `id`'s replies arrive.
    inbox: String,
    calls: Mutex<HashMap<u32, Slot>>,
    next_id: AtomicU32,
    peers: Mutex<Vec<Weak<Peer>>>,
    options: NatsTransportOptions,
    epoch: Instant,
    tasks: Vec<AbortHandle>,
}

impl Drop for ClientSide {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn gone(subject: &str) -> Error {
    Error::unavailable(format!("nothing serves {subject} over NATS"))
}

impl ClientSide {
    /// Subscribes to a fresh inbox and starts reading it, and the probes.
    pub(super) async fn start(
        outbox: Arc<Outbox>,
        options: NatsTransportOptions,
    ) -> Result<Arc<Self>> {
        let client = outbox.client().clone();
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| Error::unavailable(format!("nats transport: subscribing: {e}")))?;
        Ok(Arc::new_cyclic(|weak: &Weak<ClientSide>| {
            let reader = weak.clone();
            let read = tokio::spawn(async move {
                while let Some(message) = replies.next().await {
                    let Some(side) = reader.upgrade() else { return };
                    side.on_reply(message);
                }
            });
            let watcher = weak.clone();
            let watch = tokio::spawn(watchdog(watcher, options.probe_after));
            ClientSide {
                outbox,
                inbox,
                calls: Mutex::default(),
                next_id: AtomicU32::new(1),
                peers: Mutex::default(),
                options,
                epoch: Instant::now(),
                tasks: vec![read.abort_handle(), watch.abort_handle()],
            }
        }))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn reply_to(&self, id: u32) -> Subject {
        Subject::from(format!("{}.{id}", self.inbox))
    }

    fn connected(&self) -> Result<()> {
        if self.outbox.client().connection_state() == async_nats::connection::State::Connected {
            Ok(())
        } else {
            Err(Error::unavailable("not connected to NATS (reconnecting)")
                .with_origin(Origin::NotSent))
        }
    }

    fn max_payload(&self) -> usize {
        self.outbox.client().server_info().max_payload
    }

    /// Registers `slot` under a fresh id.
    fn insert(&self, slot: Slot) -> u32 {
        if let Some(peer) = slot.peer() {
            peer.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        let mut calls = self.calls.lock().unwrap();
        let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
        while id == 0 || calls.contains_key(&id) {
            id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        calls.insert(id, slot);
        id
    }

    fn take(&self, id: u32) -> Option<Slot> {
        let slot = self.calls.lock().unwrap().remove(&id);
        if let Some(peer) = slot.as_ref().and_then(Slot::peer) {
            peer.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        slot
    }

    /// Asks `subject` who serves it (see [`Pong`]); 503 (not sent) when
    /// nobody does or nobody answers within the transport's timeout.
    pub(super) async fn ping(&self, subject: &Subject) -> Result<Pong> {
        self.connected()?;
        let (tx, rx) = oneshot::channel();
        let id = self.insert(Slot::Ping(tx));
        self.outbox.send(Outgoing {
            subject: subject.clone(),
            reply: Some(self.reply_to(id)),
            headers: Some(headers::frame_headers(Frame::Ping)),
            payload: Bytes::new(),
        });
        let answer = tokio::time::timeout(self.options.timeout, rx).await;
        if answer.is_err() {
            self.take(id);
        }
        match answer {
            Ok(Ok(pong)) => pong,
            _ => Err(
                Error::unavailable(format!("{subject} did not answer a ping"))
                    .with_origin(Origin::NotSent),
            ),
        }
    }

    /// A logical connection to `subject`, once a node answered there.
    pub(super) async fn dial(self: &Arc<Self>, subject: &str) -> Result<NatsConnection> {
        let subject = Subject::from(subject);
        let pong = self.ping(&subject).await?;
        if pong.draining {
            return Err(Error::unavailable(format!("{subject} is shutting down"))
                .with_origin(Origin::NotSent));
        }
        let control =
            (pong.node == subject.as_str()).then(|| Subject::from(format!("{subject}.ping")));
        let peer = Arc::new(Peer {
            subject,
            control,
            window: pong.window,
            in_flight: AtomicUsize::new(0),
            unusable: AtomicBool::new(false),
            heard: AtomicU64::new(self.now_ms()),
            probing: AtomicBool::new(false),
        });
        let mut peers = self.peers.lock().unwrap();
        peers.retain(|p| p.strong_count() > 0);
        peers.push(Arc::downgrade(&peer));
        Ok(NatsConnection {
            side: self.clone(),
            peer,
        })
    }

    /// Pings `peer`'s node: a node that is gone fails every call to it.
    fn probe(self: &Arc<Self>, peer: &Arc<Peer>) {
        let Some(control) = peer.control.clone() else {
            return;
        };
        if peer.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (side, peer) = (self.clone(), peer.clone());
        tokio::spawn(async move {
            match side.ping(&control).await {
                Ok(pong) => {
                    peer.heard.store(side.now_ms(), Ordering::Relaxed);
                    if pong.draining {
                        peer.unusable.store(true, Ordering::Release);
                    }
                }
                Err(err) if err.is_not_sent() && side.connected().is_ok() => {
                    side.fail_peer(&peer, &control);
                }
                Err(_) => {}
            }
            peer.probing.store(false, Ordering::Release);
        });
    }

    /// The node of `peer` is gone: every call to it fails (503, maybe processed).
    fn fail_peer(&self, peer: &Arc<Peer>, control: &Subject) {
        peer.unusable.store(true, Ordering::Release);
        let failed: Vec<Slot> = {
            let mut calls = self.calls.lock().unwrap();
            let ids: Vec<u32> = calls
                .iter()
                .filter(|(_, slot)| slot.peer().is_some_and(|p| Arc::ptr_eq(p, peer)))
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter().filter_map(|id| calls.remove(&id)).collect()
        };
        let node = control.trim_end_matches(".ping");
        tracing::debug!(node, calls = failed.len(), "nats transport: node is gone");
        for slot in failed {
            peer.in_flight.fetch_sub(1, Ordering::Relaxed);
            slot.fail(
                Error::unavailable(format!("{node} went away during the call"))
                    .with_origin(Origin::Transport),
            );
        }
    }

    /// The NATS connection was lost: replies in flight are lost with it.
    fn fail_all(&self) {
        let failed: Vec<Slot> = self.calls.lock().unwrap().drain().map(|(_, s)| s).collect();
        for slot in failed {
            if let Some(peer) = slot.peer() {
                peer.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
            slot.fail(
                Error::unavailable("the connection to NATS was lost during the call")
                    .with_origin(Origin::Transport),
            );
        }
    }

    fn on_reply(self: &Arc<Self>, message: Message) {
        let Some(id) = message
            .subject
            .rsplit('.')
            .next()
            .and_then(|id| id.parse::<u32>().ok())
        else {
            return;
        };
        if message.status == Some(StatusCode::NO_RESPONDERS) {
            self.on_no_responders(id);
            return;
        }
        if message.status.is_some() {
            return;
        }
        let frame = match headers::frame(message.headers.as_ref()) {
            Ok(frame) => frame,
            Err(why) => {
                if let Some(slot) = self.take(id) {
                    slot.fail(Error::new(502, format!("bad reply from the node: {why}")));
                }
                return;
            }
        };
        let mut calls = self.calls.lock().unwrap();
        let Some(slot) = calls.get_mut(&id) else {
            return;
        };
        if let Some(peer) = slot.peer() {
            peer.heard.store(self.now_ms(), Ordering::Relaxed);
        }
        match (frame, slot) {
            (None, Slot::Unary { .. }) => {
                drop(calls);
                if let Some(Slot::Unary { tx, .. }) = self.take(id) {
                    let _ = tx.send(Ok(message.payload));
                }
            }
            (
                None,
                Slot::Stream {
                    inbound, budget, ..
                },
            ) => {
                let within_window = budget.take(message.payload.len())
                    && inbound
                        .try_send(StreamItem::Message(message.payload))
                        .is_ok();
                if !within_window {
                    drop(calls);
                    // Over the window we granted: the node broke flow control.
                    self.cancel(id);
                }
            }
            (Some(Frame::Pong), Slot::Ping(_)) => {
                drop(calls);
                let h = message.headers.as_ref();
                let pong = Pong {
                    node: headers::header(h, headers::SUBJECT)
                        .unwrap_or_default()
                        .to_owned(),
                    window: headers::window(h).unwrap_or(crate::transport::DEFAULT_STREAM_WINDOW),
                    draining: headers::header(h, headers::DRAINING).is_some(),
                };
                if let Some(Slot::Ping(tx)) = self.take(id) {
                    let _ = tx.send(Ok(pong));
                }
            }
            (Some(Frame::Accept), Slot::Stream { state, .. }) => {
                let Some(subject) = headers::header(message.headers.as_ref(), headers::SUBJECT)
                else {
                    return;
                };
                let subject = Subject::from(subject);
                let old = std::mem::replace(state, StreamState::Open(subject.clone()));
                if let StreamState::Opening { queued, cancelled } = old {
                    for (headers, payload) in queued {
                        self.publish(&subject, id, headers, payload);
                    }
                    if cancelled {
                        drop(calls);
                        self.take(id);
                        self.publish(
                            &subject,
                            id,
                            Some(headers::frame_headers(Frame::Cancel)),
                            Bytes::new(),
                        );
                    }
                }
            }
            (Some(Frame::Window), Slot::Stream { credits, .. }) => {
                if let Some(credit) = headers::window(message.headers.as_ref()) {
                    credits.add_permits(credit.min(1 << 30) as usize);
                }
            }
            (Some(Frame::End), Slot::Stream { .. }) => {
                drop(calls);
                if let Some(Slot::Stream {
                    inbound, credits, ..
                }) = self.take(id)
                {
                    credits.close();
                    let _ = inbound.try_send(StreamItem::End(Ok(())));
                }
            }
            (Some(frame @ (Frame::Error | Frame::Refused)), _) => {
                drop(calls);
                let err = headers::error_of(frame, message.headers.as_ref(), &message.payload);
                if let Some(slot) = self.take(id) {
                    if frame == Frame::Refused
                        && let Some(peer) = slot.peer()
                    {
                        peer.unusable.store(true, Ordering::Release);
                    }
                    slot.fail(err);
                }
            }
            (Some(Frame::End), Slot::Unary { .. }) => {
                drop(calls);
                if let Some(slot) = self.take(id) {
                    slot.fail(Error::internal("call ended without a response"));
                }
            }
            _ => {}
        }
    }

    /// Nobody listens where call `id` sent its last message.
    fn on_no_responders(self: &Arc<Self>, id: u32) {
        let Some(slot) = self.take(id) else { return };
        match &slot {
            Slot::Ping(_) => slot.fail(gone("the ping's subject").with_origin(Origin::NotSent)),
            Slot::Unary { peer, .. }
            | Slot::Stream {
                peer,
                state: StreamState::Opening { .. },
                ..
            } => {
                // The request went nowhere: the node is gone or draining.
                let peer = peer.clone();
                peer.unusable.store(true, Ordering::Release);
                slot.fail(gone(&peer.subject).with_origin(Origin::NotSent));
                self.probe(&peer);
            }
            Slot::Stream { peer, .. } => {
                let peer = peer.clone();
                slot.fail(
                    Error::unavailable(format!("{} went away during the stream", peer.subject))
                        .with_origin(Origin::Transport),
                );
                self.probe(&peer);
            }
        }
    }

    /// Publishes a frame of stream `id` to its node (replies, and the
    /// node's absence, come back to the call's inbox).
    fn publish(&self, subject: &Subject, id: u32, headers: Option<HeaderMap>, payload: Bytes) {
        self.outbox.send(Outgoing {
            subject: subject.clone(),
            reply: Some(self.reply_to(id)),
            headers,
            payload,
        });
    }

    /// Sends a frame of stream `id`, or queues it until the stream is open.
    fn send_frame(&self, id: u32, headers: Option<HeaderMap>, payload: Bytes) -> Result<()> {
        let mut calls = self.calls.lock().unwrap();
        match calls.get_mut(&id) {
            Some(Slot::Stream {
                state: StreamState::Open(subject),
                ..
            }) => {
                let subject = subject.clone();
                drop(calls);
                self.publish(&subject, id, headers, payload);
                Ok(())
            }
            Some(Slot::Stream {
                state: StreamState::Opening { queued, .. },
                ..
            }) => {
                queued.push((headers, payload));
                Ok(())
            }
            _ => {
                Err(Error::unavailable("stream closed by the peer").with_origin(Origin::Transport))
            }
        }
    }
}

impl FrameSink for ClientSide {
    fn send_message(&self, id: u32, body: Bytes) -> Result<()> {
        let max = self.max_payload();
        if body.len() > max {
            return Err(too_large(body.len(), max));
        }
        self.send_frame(id, None, body)
    }

    fn send_end(&self, id: u32, result: Result<()>) {
        let (headers, payload) = match result {
            Ok(()) => (headers::frame_headers(Frame::End), Bytes::new()),
            Err(err) => headers::error_frame(Frame::Error, &err),
        };
        let _ = self.send_frame(id, Some(headers), payload);
    }

    fn send_window(&self, id: u32, credit: u32) {
        let _ = self.send_frame(id, Some(headers::window_headers(credit)), Bytes::new());
    }

    fn cancel(&self, id: u32) {
        let mut calls = self.calls.lock().unwrap();
        let Some(slot) = calls.get_mut(&id) else {
            return;
        };
        if let Slot::Stream {
            state: StreamState::Opening { cancelled, .. },
            ..
        } = slot
        {
            // Told once the node accepts (or says nothing listens).
            *cancelled = true;
            return;
        }
        drop(calls);
        let Some(slot) = self.take(id) else { return };
        match slot {
            Slot::Stream {
                state: StreamState::Open(subject),
                credits,
                ..
            } => {
                credits.close();
                self.publish(
                    &subject,
                    id,
                    Some(headers::frame_headers(Frame::Cancel)),
                    Bytes::new(),
                );
            }
            Slot::Unary { peer, .. } => {
                // The node drops the handler (only a node subject knows it).
                if let Some(control) = &peer.control {
                    let node = control.trim_end_matches(".ping");
                    let mut headers = headers::frame_headers(Frame::Cancel);
                    headers.insert(headers::SUBJECT, self.reply_to(id).as_str());
                    self.outbox.send(Outgoing {
                        subject: Subject::from(format!("{node}.cancel")),
                        reply: None,
                        headers: Some(headers),
                        payload: Bytes::new(),
                    });
                }
            }
            _ => {}
        }
    }
}

fn too_large(len: usize, max: usize) -> Error {
    Error::payload_too_large(format!(
        "message of {len} bytes exceeds the NATS server's limit of {max} bytes"
    ))
}

/// Every `probe_after / 2`: probes the nodes with calls in flight that were
/// silent for `probe_after`; fails every call when NATS is lost.
async fn watchdog(side: Weak<ClientSide>, probe_after: Duration) {
    let tick = (probe_after / 2).max(Duration::from_millis(10));
    let mut was_connected = true;
    loop {
        tokio::time::sleep(tick).await;
        let Some(side) = side.upgrade() else { return };
        let connected = side.connected().is_ok();
        if was_connected && !connected {
            side.fail_all();
        }
        was_connected = connected;
        if !connected {
            continue;
        }
        let now = side.now_ms();
        let silent = u64::try_from(probe_after.as_millis()).unwrap_or(u64::MAX);
        let peers: Vec<Arc<Peer>> = side
            .peers
            .lock()
            .unwrap()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for peer in peers {
            if peer.in_flight.load(Ordering::Relaxed) > 0
                && now.saturating_sub(peer.heard.load(Ordering::Relaxed)) >= silent
            {
                side.probe(&peer);
            }
        }
    }
}

/// A logical connection: calls to one subject.
pub(super) struct NatsConnection {
    side: Arc<ClientSide>,
    peer: Arc<Peer>,
}

impl NatsConnection {
    fn usable(&self) -> Result<()> {
        if self.peer.unusable.load(Ordering::Acquire) {
            return Err(Error::unavailable(format!(
                "{} is gone or shutting down",
                self.peer.subject
            ))
            .with_origin(Origin::NotSent));
        }
        self.side.connected()
    }
}

impl Connection for NatsConnection {
    fn unary(&self, head: RequestHead, body: Bytes) -> ResponseFuture {
        let side = &self.side;
        if let Err(err) = self.usable() {
            return ResponseFuture::ready(Err(err));
        }
        let headers = match headers::request_headers(&head, None) {
            Ok(headers) => headers,
            Err(err) => return ResponseFuture::ready(Err(err)),
        };
        let max = side.max_payload();
        if body.len() > max {
            return ResponseFuture::ready(Err(
                too_large(body.len(), max).with_origin(Origin::NotSent)
            ));
        }
        let (tx, rx) = oneshot::channel();
        let id = side.insert(Slot::Unary {
            peer: self.peer.clone(),
            tx,
        });
        side.outbox.send(Outgoing {
            subject: self.peer.subject.clone(),
            reply: Some(side.reply_to(id)),
            headers: Some(headers),
            payload: body,
        });
        ResponseFuture::pending(rx, Canceller::Remote(side.clone(), id))
    }

    fn open_stream(&self, head: RequestHead) -> Result<(RawSender, RawReceiver)> {
        self.usable()?;
        let side = &self.side;
        let window = side.options.stream_window;
        let headers = headers::request_headers(&head, Some(window))?;
        let sink: Arc<dyn FrameSink> = side.clone();
        // The id is picked under the lock the slot goes in with.
        let mut calls = side.calls.lock().unwrap();
        let mut id = side.next_id.fetch_add(1, Ordering::Relaxed);
        while id == 0 || calls.contains_key(&id) {
            id = side.next_id.fetch_add(1, Ordering::Relaxed);
        }
        let stream = RemoteStream::new(
            sink.clone(),
            id,
            window,
            self.peer.window,
            Some(Canceller::Remote(sink, id)),
        );
        calls.insert(
            id,
            Slot::Stream {
                peer: self.peer.clone(),
                inbound: stream.inbound,
                credits: stream.credits,
                budget: stream.budget,
                state: StreamState::Opening {
                    queued: Vec::new(),
                    cancelled: false,
                },
            },
        );
        self.peer.in_flight.fetch_add(1, Ordering::Relaxed);
        drop(calls);
        side.outbox.send(Outgoing {
            subject: self.peer.subject.clone(),
            reply: Some(side.reply_to(id)),
            headers: Some(headers),
            payload: Bytes::new(),
        });
        Ok((stream.sender, stream.receiver))
    }

    fn in_flight(&self) -> usize {
        self.peer.in_flight.load(Ordering::Relaxed)
    }

    fn is_usable(&self) -> bool {
        self.usable().is_ok()
    }
}
