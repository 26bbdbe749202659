//! The calling end of a connection.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
#[cfg(feature = "tls")]
use tokio::io::AsyncReadExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::frame::{self, Kind, Parsed, ProtocolError, flags};
use super::ids::OwnIdMap;
use super::wire::{self, Backlog, Wire};
use super::{TcpOptions, head};
use crate::error::Origin;
use crate::transport::{
    Canceller, Connection, Credits, FrameSink, Inbound, InboundBudget, MessageRun, RawReceiver,
    RawSender, RemoteStream, RequestHead, ResponseFuture, StreamItem,
};
use crate::{Error, Result};

/// Stream ids above this make the connection retire (a fresh one is dialed).
const RETIRE_AFTER_ID: u32 = u32::MAX - 1024;

/// A client connection: a handle the pool hands out. The connection closes
/// once every handle is gone and no call is left on it.
pub(crate) struct TcpConnection {
    shared: Arc<Shared>,
}

struct Shared {
    wire: Arc<Wire>,
    calls: Mutex<Calls>,
    /// Mirrors `calls.slots.len()` for the pool, without taking the lock.
    in_flight: AtomicUsize,
    next_id: AtomicU32,
    going_away: AtomicBool,
    /// Why the server said it is going away (e.g. "this port requires TLS").
    go_away_reason: Mutex<Option<String>>,
}

#[derive(Default)]
struct Calls {
    slots: OwnIdMap<Slot>,
    handles: usize,
}

enum Slot {
    Unary(oneshot::Sender<Result<Bytes>>),
    Stream {
        inbound: Inbound,
        credits: Arc<Credits>,
        budget: Arc<InboundBudget>,
    },
}

impl Slot {
    /// Fails the call with `err` (the slot is already removed).
    fn fail(self, err: Error) {
        match self {
            Slot::Unary(tx) => {
                let _ = tx.send(Err(err));
            }
            Slot::Stream {
                inbound, credits, ..
            } => {
                credits.close();
                let _ = inbound.try_send(StreamItem::End(Err(err)));
            }
        }
    }
}

impl Shared {
    fn take(&self, id: u32) -> Option<Slot> {
        let mut calls = self.calls.lock().unwrap();
        let slot = calls.slots.remove(&id);
        self.in_flight.store(calls.slots.len(), Ordering::Relaxed);
        if calls.slots.is_empty() && calls.handles == 0 {
            self.wire.close();
        }
        slot
    }

    fn insert(&self, id: u32, slot: Slot) {
        let mut calls = self.calls.lock().unwrap();
        calls.slots.insert(id, slot);
        self.in_flight.store(calls.slots.len(), Ordering::Relaxed);
    }

    fn next_id(&self) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id >= RETIRE_AFTER_ID {
            self.going_away.store(true, Ordering::Release);
        }
        id
    }

    fn usable(&self) -> Result<()> {
        if self.wire.is_closed() || self.going_away.load(Ordering::Acquire) {
            return Err(self.closed());
        }
        Ok(())
    }

    /// A call on a connection that ended or is going away: never sent, and
    /// with the server's reason when its GOAWAY gave one (a plaintext
    /// caller of a TLS port learns why).
    fn closed(&self) -> Error {
        let reason = self.go_away_reason();
        if reason.is_empty() {
            return wire::connection_closed(&self.wire.peer);
        }
        Error::unavailable(format!(
            "connection to {} is closed{reason}",
            self.wire.peer
        ))
        .with_origin(Origin::NotSent)
    }

    fn on_frame(&self, parsed: Parsed) -> std::result::Result<(), ProtocolError> {
        let frame = match parsed {
            Parsed::Frame(frame) => frame,
            Parsed::Messages { stream, run, end } => return self.on_messages(stream, run, end),
            Parsed::Oversized { stream, len, .. } => {
                if let Some(slot) = self.take(stream) {
                    slot.fail(Error::payload_too_large(format!(
                        "response of {len} bytes exceeds the {} byte frame limit",
                        self.wire.options.max_frame_size
                    )));
                    self.wire.send_reset(stream, 0);
                }
                return Ok(());
            }
        };
        match frame.kind {
            // Parsed as runs (above).
            Kind::Message => {}
            Kind::End => {
                if let Some(slot) = self.take(frame.stream) {
                    let result = if frame.has(flags::ERROR) {
                        Err(wire::error_payload(&frame.payload, "call failed"))
                    } else {
                        Ok(())
                    };
                    match slot {
                        Slot::Unary(tx) => {
                            let _ = tx.send(result.and_then(|()| {
                                Err(Error::internal("call ended without a response"))
                            }));
                        }
                        Slot::Stream {
                            inbound, credits, ..
                        } => {
                            credits.close();
                            let _ = inbound.try_send(StreamItem::End(result));
                        }
                    }
                }
            }
            Kind::Reset => {
                if let Some(slot) = self.take(frame.stream) {
                    let err = if frame.has(flags::NOT_PROCESSED) {
                        let fallback =
                            format!("{} refused the call: it is shutting down", self.wire.peer);
                        wire::error_payload(&frame.payload, &fallback).with_origin(Origin::NotSent)
                    } else {
                        wire::error_payload(&frame.payload, "call reset by the server")
                    };
                    slot.fail(err);
                }
            }
            Kind::Window => {
                if frame.payload.len() == 4 {
                    let credit = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
                    if let Some(Slot::Stream { credits, .. }) =
                        self.calls.lock().unwrap().slots.get(&frame.stream)
                    {
                        credits.add_permits(credit.min(1 << 30) as usize);
                    }
                }
            }
            Kind::Ping => self.wire.on_ping(frame.flags, &frame.payload),
            Kind::GoAway => {
                tracing::debug!(peer = %self.wire.peer, "server is going away");
                self.going_away.store(true, Ordering::Release);
                let reason = frame.payload.get(4..).unwrap_or_default();
                if !reason.is_empty() {
                    *self.go_away_reason.lock().unwrap() =
                        Some(String::from_utf8_lossy(reason).into_owned());
                }
                if let Some(last) = frame.payload.get(..4) {
                    let last = u32::from_be_bytes(last.try_into().unwrap());
                    self.refused_after(last);
                }
            }
            Kind::Settings => self.wire.apply_settings(frame.payload)?,
            Kind::Request => {
                return Err(ProtocolError("a server sent a REQUEST frame".into()));
            }
        }
        Ok(())
    }

    /// Messages of call `id` that arrived together: the response of a unary
    /// call, or a stream's, handed over under one lock.
    fn on_messages(
        &self,
        id: u32,
        mut run: MessageRun,
        end: bool,
    ) -> std::result::Result<(), ProtocolError> {
        let mut calls = self.calls.lock().unwrap();
        match calls.slots.get(&id) {
            Some(Slot::Unary(_)) => {
                drop(calls);
                // The first message answers the call; any more find no call.
                if let Some(Slot::Unary(tx)) = self.take(id)
                    && let Some(body) = run.next_message()
                {
                    let _ = tx.send(Ok(body));
                }
            }
            Some(Slot::Stream {
                inbound, budget, ..
            }) => {
                let end_item = end.then(|| StreamItem::End(Ok(())));
                if !budget.take_run(&run) || !inbound.send_run(run, end_item) {
                    // Over the window we granted: the peer broke flow control.
                    drop(calls);
                    return Err(ProtocolError(format!(
                        "stream {id} overran its flow-control window"
                    )));
                }
                if !end {
                    return Ok(());
                }
                calls.slots.remove(&id);
                self.in_flight.store(calls.slots.len(), Ordering::Relaxed);
                let close = calls.slots.is_empty() && calls.handles == 0;
                drop(calls);
                if close {
                    self.wire.close();
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The server said it takes no request after stream `last` (GOAWAY):
    /// later calls fail as never sent, so they may go to a new connection.
    fn refused_after(&self, last: u32) {
        let refused: Vec<Slot> = {
            let mut calls = self.calls.lock().unwrap();
            let ids: Vec<u32> = calls
                .slots
                .keys()
                .copied()
                .filter(|id| *id > last)
                .collect();
            let slots = ids.iter().filter_map(|id| calls.slots.remove(id)).collect();
            self.in_flight.store(calls.slots.len(), Ordering::Relaxed);
            slots
        };
        let reason = self.go_away_reason();
        for slot in refused {
            slot.fail(
                Error::unavailable(format!(
                    "{} went away before taking the call{reason}",
                    self.wire.peer
                ))
                .with_origin(Origin::NotSent),
            );
        }
    }

    /// ` (the server went away: <why>)` when its GOAWAY said why, else empty.
    fn go_away_reason(&self) -> String {
        match self.go_away_reason.lock().unwrap().as_deref() {
            Some(reason) => format!(" (the server went away: {reason})"),
            None => String::new(),
        }
    }

    /// The connection ended: every call still on it fails.
    fn fail_all(&self) {
        self.wire.close();
        let slots: Vec<Slot> = {
            let mut calls = self.calls.lock().unwrap();
            self.in_flight.store(0, Ordering::Relaxed);
            calls.slots.drain().map(|(_, slot)| slot).collect()
        };
        let reason = self.go_away_reason();
        for slot in slots {
            slot.fail(
                Error::unavailable(format!("connection to {} was lost{reason}", self.wire.peer))
                    .with_origin(Origin::Transport),
            );
        }
    }
}

impl FrameSink for Shared {
    fn send_message(&self, id: u32, body: Bytes) -> Result<()> {
        self.wire.send_message(id, &body, false)
    }

    fn send_message_with(
        &self,
        id: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Result<()> {
        self.wire.send_message_with(id, len, write)
    }

    fn try_send_message_with(
        &self,
        id: u32,
        len: usize,
        write: &mut dyn FnMut(&mut BytesMut),
    ) -> Option<Result<()>> {
        self.wire.try_send_message_with(id, len, write)
    }

    fn send_end(&self, id: u32, result: Result<()>) {
        self.wire.send_end(id, &result);
    }

    fn send_window(&self, id: u32, credit: u32) {
        self.wire.send_window(id, credit);
    }

    fn writable(&self) -> Option<futures_util::future::BoxFuture<'_, ()>> {
        self.wire.writable()
    }

    fn cancel(&self, id: u32) {
        if let Some(slot) = self.take(id) {
            drop(slot);
            self.wire.send_reset(id, 0);
        }
    }
}

/// Connects to `address` and starts the connection's tasks.
pub(crate) async fn dial(
    address: &str,
    options: TcpOptions,
    #[cfg(feature = "tls")] tls: Option<&crate::tls::ClientTls>,
) -> Result<TcpConnection> {
    let socket = TcpStream::connect(address).await.map_err(|err| {
        Error::unavailable(format!("cannot connect to {address}: {err}"))
            .with_origin(Origin::NotSent)
    })?;
    let _ = socket.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        let mut stream = super::tls_connect(tls, address, socket, false).await?;
        let greeted = async {
            stream.write_all(frame::PREFACE).await?;
            stream.flush().await
        };
        crate::tls::dial_result(address, greeted.await)?;
        // The server's SETTINGS come first, or its refusal of this client
        // (TLS 1.3 tells a client its certificate was refused only here).
        let mut initial = BytesMut::with_capacity(4 * 1024);
        match stream.read_buf(&mut initial).await {
            Ok(0) => {
                return Err(Error::unavailable(format!(
                    "TLS: {address} closed the connection after the handshake"
                ))
                .with_origin(Origin::NotSent));
            }
            Ok(_) => {}
            Err(err) => return Err(crate::tls::dial_error(address, &err)),
        }
        let (read, write) = tokio::io::split(stream);
        return start(address, options, read, write, initial);
    }
    let (read, mut write) = socket.into_split();
    write.write_all(frame::PREFACE).await.map_err(|err| {
        Error::unavailable(format!("cannot greet {address}: {err}")).with_origin(Origin::NotSent)
    })?;
    start(address, options, read, write, BytesMut::new())
}

/// Runs a greeted connection: its writer, keepalive and reader tasks.
fn start<R, W>(
    address: &str,
    options: TcpOptions,
    read: R,
    write: W,
    initial: BytesMut,
) -> Result<TcpConnection>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let wire = Wire::new(options, address.to_owned());
    wire.send_settings()?;
    let shared = Arc::new(Shared {
        wire: wire.clone(),
        calls: Mutex::new(Calls {
            handles: 1,
            ..Calls::default()
        }),
        in_flight: AtomicUsize::new(0),
        next_id: AtomicU32::new(1),
        going_away: AtomicBool::new(false),
        go_away_reason: Mutex::new(None),
    });
    tokio::spawn(wire::write_loop(wire.clone(), write));
    tokio::spawn(wire::keepalive(wire.clone()));
    let reader = shared.clone();
    tokio::spawn(async move {
        let shared = reader;
        wire::read_loop(
            &shared.wire,
            read,
            initial,
            Backlog::KeepReading,
            None,
            |parsed| shared.on_frame(parsed),
        )
        .await;
        shared.fail_all();
    });
    Ok(TcpConnection { shared })
}

impl Drop for TcpConnection {
    fn drop(&mut self) {
        let mut calls = self.shared.calls.lock().unwrap();
        calls.handles -= 1;
        if calls.handles == 0 && calls.slots.is_empty() {
            self.shared.wire.close();
        }
    }
}

fn encode_request<'a>(
    head: &'a RequestHead,
    body: &'a [u8],
) -> (usize, impl FnOnce(&mut BytesMut) + 'a) {
    let len = head::encoded_len(head) + body.len();
    (len, move |buf: &mut BytesMut| {
        head::encode(head, buf);
        buf.extend_from_slice(body);
    })
}

impl Connection for TcpConnection {
    fn unary(&self, head: RequestHead, body: Bytes) -> ResponseFuture {
        let shared = &self.shared;
        if let Err(err) = shared.usable() {
            return ResponseFuture::ready(Err(err));
        }
        let (len, fill) = encode_request(&head, &body);
        if let Err(err) = shared.wire.check_size(len, "request") {
            return ResponseFuture::ready(Err(err));
        }
        let id = shared.next_id();
        let (tx, rx) = oneshot::channel();
        shared.insert(id, Slot::Unary(tx));
        if let Err(err) = shared
            .wire
            .push_with(Kind::Request, flags::END_STREAM, id, len, fill)
        {
            shared.take(id);
            let err = match shared.wire.is_closed() {
                true => shared.closed(),
                false => err,
            };
            return ResponseFuture::ready(Err(err));
        }
        ResponseFuture::pending(rx, Canceller::Remote(shared.clone(), id))
    }

    fn open_stream(&self, head: RequestHead) -> Result<(RawSender, RawReceiver)> {
        let shared = &self.shared;
        shared.usable()?;
        let (len, fill) = encode_request(&head, &[]);
        shared.wire.check_size(len, "request head")?;
        let id = shared.next_id();
        let sink: Arc<dyn FrameSink> = shared.clone();
        let stream = RemoteStream::new(
            sink.clone(),
            id,
            shared.wire.options.stream_window,
            shared.wire.peer_window(),
            Some(Canceller::Remote(sink, id)),
        );
        shared.insert(
            id,
            Slot::Stream {
                inbound: stream.inbound,
                credits: stream.credits,
                budget: stream.budget,
            },
        );
        if let Err(err) = shared
            .wire
            .push_with(Kind::Request, flags::STREAMING, id, len, fill)
        {
            shared.take(id);
            return Err(err);
        }
        Ok((stream.sender, stream.receiver))
    }

    fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    fn is_usable(&self) -> bool {
        self.shared.usable().is_ok()
    }
}
