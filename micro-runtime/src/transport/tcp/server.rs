//! The serving end: accept loop, one task reading each connection, one task
//! per call, graceful go-away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener as TokioListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};

use super::frame::{self, Frame, Kind, Parsed, ProtocolError, flags};
use super::pending::{PendingBudget, PendingShare};
use super::wire::{self, Backlog, Wire};
use super::{TcpOptions, head};
use crate::log::Throttled;
use crate::transport::grpc::server::{GrpcServer, H2_PREFACE, H2_PREFACE_START, Phase, Rewind};
use crate::transport::{
    Credits, Dispatcher, FrameSink, InFlight, Inbound, InboundBudget, IncomingBody, IncomingCall,
    Listener, MessageRun, RemoteStream, Security, StreamItem,
};
use crate::{Error, Result};

/// A listening TCP endpoint.
pub(crate) struct TcpListener {
    address: String,
    security: Security,
    state: Arc<ListenerState>,
    accept: JoinHandle<()>,
}

struct ListenerState {
    dispatcher: Arc<dyn Dispatcher>,
    /// The gRPC side: connections that open with HTTP/2's preface.
    grpc: Arc<GrpcServer>,
    options: TcpOptions,
    draining: AtomicBool,
    in_flight: InFlight,
    connections: Mutex<HashMap<u64, Arc<ServerConn>>>,
    next_conn: AtomicU64,
    /// One permit a connection, up to `max_connections`.
    slots: Arc<Semaphore>,
    /// Connections closed at the limit, logged throttled.
    refusals: Throttled,
    /// What all connections may hold in partly received frames.
    pending: Arc<PendingBudget>,
    /// TLS (feature `tls`): every connection starts with a handshake.
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Failed handshakes and plaintext callers, logged throttled.
    #[cfg(feature = "tls")]
    tls_logs: super::tls::TlsLogs,
}

impl ListenerState {
    fn live_connections(&self) -> Vec<Arc<ServerConn>> {
        self.connections.lock().unwrap().values().cloned().collect()
    }
}

/// One accepted connection.
struct ServerConn {
    wire: Arc<Wire>,
    state: Arc<ListenerState>,
    calls: Mutex<HashMap<u32, Call>>,
    last_stream: AtomicU32,
    /// Closed for idleness: requests still arriving are refused unprocessed.
    idle_closed: AtomicBool,
    /// The highest stream id of a request taken (under the calls lock), for
    /// the GOAWAY of an idle close.
    last_taken: AtomicU32,
    /// When a frame other than PING, SETTINGS, MESSAGE or WINDOW last came or an answer
    /// last went, in milliseconds since `opened`.
    last_active_ms: AtomicU64,
    opened: Instant,
}

/// A call being served.
struct Call {
    task: Option<AbortHandle>,
    inbound: Option<Inbound>,
    credits: Option<Arc<Credits>>,
    budget: Option<Arc<InboundBudget>>,
}

impl Call {
    /// Drops the handler's future and wakes a sender waiting for credit.
    fn cancel(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(credits) = self.credits {
            credits.close();
        }
    }
}

/// A unary handler's outcome as the response to send: it must have one.
fn unary_response(result: Result<Option<Bytes>>) -> Result<Option<Bytes>> {
    result
        .and_then(|body| body.ok_or_else(|| Error::internal("unary handler returned no response")))
        .map(Some)
}

pub(crate) async fn listen(
    address: &str,
    dispatcher: Arc<dyn Dispatcher>,
    options: TcpOptions,
    #[cfg(feature = "tls")] tls: Option<crate::tls::ServerTls>,
) -> Result<TcpListener> {
    let socket = TokioListener::bind(address)
        .await
        .map_err(|err| Error::internal(format!("cannot listen on {address}: {err}")))?;
    let local = socket
        .local_addr()
        .map_err(|err| Error::internal(format!("listener address: {err}")))?;
    let options_max_connections = options.max_connections as usize;
    let options_max_pending = options.max_pending_bytes;
    #[cfg(feature = "tls")]
    let security = match &tls {
        Some(tls) if tls.mutual() => Security::MutualTls,
        Some(_) => Security::Tls,
        None => Security::Plain,
    };
    #[cfg(not(feature = "tls"))]
    let security = Security::Plain;
    let in_flight = InFlight::default();
    let state = Arc::new(ListenerState {
        grpc: Arc::new(GrpcServer::new(
            dispatcher.clone(),
            options.clone(),
            in_flight.clone(),
        )),
        dispatcher,
        options,
        draining: AtomicBool::new(false),
        in_flight,
        connections: Mutex::default(),
        next_conn: AtomicU64::new(1),
        slots: Arc::new(Semaphore::new(options_max_connections)),
        refusals: Throttled::new("tcp server", Duration::from_secs(10)),
        pending: PendingBudget::new(options_max_pending),
        #[cfg(feature = "tls")]
        tls: tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config())),
        #[cfg(feature = "tls")]
        tls_logs: super::tls::TlsLogs::default(),
    });
    let accept = tokio::spawn(accept_loop(socket, state.clone()));
    Ok(TcpListener {
        address: local.to_string(),
        security,
        state,
        accept,
    })
}

async fn accept_loop(socket: TokioListener, state: Arc<ListenerState>) {
    loop {
        match socket.accept().await {
            Ok((stream, peer)) => {
                let Ok(slot) = state.slots.clone().try_acquire_owned() else {
                    state.refusals.warn(|suppressed| {
                        tracing::warn!(peer = %peer, suppressed,
                            "closing connection: at the limit of {} connections",
                            state.options.max_connections);
                    });
                    drop(stream);
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    serve(stream, peer.to_string(), state).await;
                    drop(slot);
                });
            }
            Err(err) => {
                // Out of file descriptors and the like: keep serving the
                // connections we have and try again shortly.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a new connection speaks, told by its first bytes.
enum Preface {
    /// The native protocol (`MICRO/1\n`).
    Micro,
    /// HTTP/2 (gRPC): the whole client preface, to replay to hyper.
    Http2(Bytes),
}

/// Reads the preface of a new connection; `None` (logged) when it is
/// neither ours nor HTTP/2's, or does not come in time.
async fn read_preface<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: &str,
    limit: Duration,
) -> Option<Preface> {
    let read = async {
        let mut start = [0u8; frame::PREFACE.len()];
        stream.read_exact(&mut start).await?;
        if start[0] == TLS_HANDSHAKE && start != *frame::PREFACE {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        if &start == frame::PREFACE {
            return Ok(Some(Preface::Micro));
        }
        if !start.starts_with(H2_PREFACE_START) {
            return Ok(None);
        }
        let mut preface = [0u8; H2_PREFACE.len()];
        preface[..start.len()].copy_from_slice(&start);
        stream.read_exact(&mut preface[start.len()..]).await?;
        Ok::<_, std::io::Error>(
            (&preface == H2_PREFACE).then(|| Preface::Http2(Bytes::copy_from_slice(&preface))),
        )
    };
    match tokio::time::timeout(limit, read).await {
        Ok(Ok(Some(preface))) => Some(preface),
        Ok(Ok(None)) => {
            tracing::warn!(peer = %peer, "closing connection: not a micro client (bad preface)");
            None
        }
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::InvalidData => {
            tracing::warn!(peer = %peer, "closing connection: a TLS client on a plaintext port \
                (serve TLS with MICRO_TLS_CERT and MICRO_TLS_KEY)");
            None
        }
        Ok(Err(err)) => {
            tracing::debug!(peer = %peer, error = %err, "connection closed before its preface");
            None
        }
        Err(_) => {
            tracing::warn!(peer = %peer, "closing connection: no preface within {limit:?}");
            None
        }
    }
}

async fn serve(stream: TcpStream, peer: String, state: Arc<ListenerState>) {
    let _ = stream.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &state.tls {
        let limit = state.options.preface_timeout;
        let Some(accepted) =
            super::tls::accept(acceptor, stream, &peer, limit, &state.tls_logs).await
        else {
            return;
        };
        if accepted.h2 {
            // ALPN said HTTP/2: hyper reads the preface itself.
            state.grpc.clone().serve(accepted.stream, peer).await;
            return;
        }
        let mut stream = accepted.stream;
        match read_preface(&mut stream, &peer, limit).await {
            Some(Preface::Micro) => {
                let (read, write) = tokio::io::split(stream);
                serve_native(read, write, peer, state).await;
            }
            Some(Preface::Http2(preface)) => {
                let io = Rewind::new(preface, stream);
                state.grpc.clone().serve(io, peer).await;
            }
            None => {}
        }
        return;
    }
    let mut stream = stream;
    match read_preface(&mut stream, &peer, state.options.preface_timeout).await {
        Some(Preface::Micro) => {
            let (read, write) = stream.into_split();
            serve_native(read, write, peer, state).await;
        }
        Some(Preface::Http2(preface)) => {
            let io = Rewind::new(preface, stream);
            state.grpc.clone().serve(io, peer).await;
        }
        None => {}
    }
}

/// Serves the native protocol on a connection whose preface was read.
async fn serve_native<R, W>(read: R, write: W, peer: String, state: Arc<ListenerState>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let wire = Wire::new(state.options.clone(), peer);
    let _ = wire.send_settings();
    let conn = Arc::new(ServerConn {
        wire: wire.clone(),
        state: state.clone(),
        calls: Mutex::default(),
        last_stream: AtomicU32::new(0),
        idle_closed: AtomicBool::new(false),
        last_taken: AtomicU32::new(0),
        last_active_ms: AtomicU64::new(0),
        opened: Instant::now(),
    });
    let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    state.connections.lock().unwrap().insert(id, conn.clone());
    if state.draining.load(Ordering::Acquire) {
        wire.send_go_away(0, "shutting down");
    }
    let mut writer = tokio::spawn(wire::write_loop(wire.clone(), write));
    tokio::spawn(wire::keepalive(wire.clone()));
    if !state.options.idle_timeout.is_zero() {
        tokio::spawn(close_when_idle(conn.clone(), state.options.idle_timeout));
    }
    let share = PendingShare::new(state.pending.clone());
    wire::read_loop(
        &wire,
        read,
        BytesMut::new(),
        Backlog::Pause,
        Some(share),
        |parsed| conn.on_frame(parsed),
    )
    .await;
    // The caller went away (or broke the protocol): its calls are abandoned.
    conn.abort_all();
    wire.close();
    // What is queued gets a keepalive timeout to flush; a peer that reads
    // nothing does not keep the socket and its buffers any longer.
    let flush = wire.options.keepalive_timeout;
    if tokio::time::timeout(flush, &mut writer).await.is_err() {
        writer.abort();
    }
    state.connections.lock().unwrap().remove(&id);
}

/// Closes `conn` once it has had no call open and no traffic but
/// keepalive pings for `idle`: GOAWAY naming the last stream it took,
/// then the close. A REQUEST crossing the GOAWAY is refused unprocessed,
/// so the client sends it again on a new connection.
async fn close_when_idle(conn: Arc<ServerConn>, idle: Duration) {
    let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = conn.wire.closed() => return,
        }
        if conn.idle_for() < idle {
            continue;
        }
        {
            let calls = conn.calls.lock().unwrap();
            if !calls.is_empty() || conn.idle_for() < idle {
                continue;
            }
            // Under the calls lock: no request is taken from here on.
            conn.idle_closed.store(true, Ordering::Release);
        }
        let last = conn.last_taken.load(Ordering::Relaxed);
        tracing::debug!(peer = %conn.wire.peer, idle_ms = idle.as_millis() as u64,
            "closing an idle connection");
        conn.wire.send_go_away(last, "idle");
        conn.wire.close();
        return;
    }
}

impl ServerConn {
    /// Notes traffic that keeps the connection from being idle.
    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.opened.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)))
    }

    fn on_frame(self: &Arc<Self>, parsed: Parsed) -> std::result::Result<(), ProtocolError> {
        // MESSAGE and WINDOW frames belong to calls still open, which keep
        // the connection busy anyway (and `finish` touches as each ends):
        // no clock read per streamed message.
        if !matches!(
            &parsed,
            Parsed::Messages { .. }
                | Parsed::Frame(Frame {
                    kind: Kind::Ping | Kind::Settings | Kind::Window,
                    ..
                })
        ) {
            self.touch();
        }
        let frame = match parsed {
            Parsed::Frame(frame) => frame,
            Parsed::Messages { stream, run, end } => return self.on_messages(stream, run, end),
            Parsed::Oversized { kind, stream, len } => {
                let err = Error::payload_too_large(format!(
                    "message of {len} bytes exceeds the {} byte frame limit",
                    self.wire.options.max_frame_size
                ));
                if kind == Kind::Request as u8 || self.calls.lock().unwrap().contains_key(&stream) {
                    self.abort(stream);
                    self.wire.send_error(stream, &err);
                }
                tracing::warn!(peer = %self.wire.peer, stream, len, "refused an oversized frame (413)");
                return Ok(());
            }
        };
        match frame.kind {
            Kind::Request => self.on_request(frame.stream, frame.flags, frame.payload),
            // Parsed as runs (above).
            Kind::Message => {}
            Kind::End => {
                let item = if frame.has(flags::ERROR) {
                    StreamItem::End(Err(wire::error_payload(&frame.payload, "caller failed")))
                } else {
                    StreamItem::End(Ok(()))
                };
                let mut calls = self.calls.lock().unwrap();
                if let Some(call) = calls.get_mut(&frame.stream)
                    && let Some(inbound) = call.inbound.take()
                {
                    let _ = inbound.try_send(item);
                }
            }
            Kind::Window => {
                if frame.payload.len() == 4 {
                    let credit = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
                    if let Some(credits) = self
                        .calls
                        .lock()
                        .unwrap()
                        .get(&frame.stream)
                        .and_then(|c| c.credits.as_ref())
                    {
                        credits.add_permits(credit.min(1 << 30) as usize);
                    }
                }
            }
            Kind::Reset => self.abort(frame.stream),
            Kind::Ping => self.wire.on_ping(frame.flags, &frame.payload),
            Kind::Settings => self.wire.apply_settings(frame.payload)?,
            Kind::GoAway => {}
        }
        Ok(())
    }

    /// Messages of call `id` that arrived together, charged to its window
    /// and handed to its reader under one lock.
    fn on_messages(
        &self,
        id: u32,
        run: MessageRun,
        end: bool,
    ) -> std::result::Result<(), ProtocolError> {
        let mut calls = self.calls.lock().unwrap();
        if let Some(call) = calls.get_mut(&id)
            && let Some(inbound) = &call.inbound
        {
            let within_window = call.budget.as_ref().is_none_or(|b| b.take_run(&run));
            let end_item = end.then(|| StreamItem::End(Ok(())));
            if !within_window || (!inbound.send_run(run, end_item) && !inbound.is_closed()) {
                return Err(ProtocolError(format!(
                    "stream {id} overran its flow-control window"
                )));
            }
            if end {
                call.inbound = None;
            }
        }
        Ok(())
    }

    fn on_request(self: &Arc<Self>, id: u32, flags: u8, mut payload: Bytes) {
        self.last_stream.fetch_max(id, Ordering::Relaxed);
        if self.state.draining.load(Ordering::Acquire) {
            self.wire.send_reset(id, flags::NOT_PROCESSED);
            return;
        }
        let head = match head::decode(&mut payload, self.wire.options.head_limits()) {
            Ok(head) => head,
            Err(bad) => {
                tracing::warn!(peer = %self.wire.peer, stream = id, reason = %bad.reason, "request head refused");
                let error = match bad.code {
                    431 => Error::headers_too_large(bad.reason),
                    _ => Error::bad_request(format!("malformed request head: {}", bad.reason)),
                };
                self.wire.send_error(id, &error);
                return;
            }
        };
        let streaming = flags & flags::STREAMING != 0;
        let guard = self.state.in_flight.enter();
        let mut calls = self.calls.lock().unwrap();
        if self.idle_closed.load(Ordering::Acquire) {
            // After the GOAWAY that closed this idle connection.
            drop(calls);
            self.wire.send_reset(id, flags::NOT_PROCESSED);
            return;
        }
        self.last_taken.fetch_max(id, Ordering::Relaxed);
        if calls.len() >= self.wire.options.max_streams as usize {
            drop(calls);
            let limit = self.wire.options.max_streams;
            self.wire.send_reset_error(
                id,
                &Error::unavailable(format!(
                    "{limit} calls in flight on this connection already"
                )),
            );
            return;
        }
        if calls.contains_key(&id) {
            drop(calls);
            self.wire.send_error(
                id,
                &Error::bad_request(format!("stream {id} is already in use")),
            );
            return;
        }
        let conn = self.clone();
        if !streaming {
            let mut call = self.state.dispatcher.dispatch(IncomingCall {
                head,
                body: IncomingBody::Unary(payload),
            });
            // Most handlers answer without waiting on anything: try once
            // here, which saves a task and a hop to another thread per call.
            // A handler that waits is polled again by its own task (polling
            // registers the task's waker then, so no wake-up is lost).
            let mut first_poll = TaskContext::from_waker(Waker::noop());
            if let Poll::Ready(result) = call.as_mut().poll(&mut first_poll) {
                drop(calls);
                self.finish(id, unary_response(result));
                drop(guard);
                return;
            }
            let task = tokio::spawn(async move {
                conn.finish(id, unary_response(call.await));
                drop(guard);
            });
            calls.insert(
                id,
                Call {
                    task: Some(task.abort_handle()),
                    inbound: None,
                    credits: None,
                    budget: None,
                },
            );
            return;
        }
        let stream = RemoteStream::new(
            self.clone(),
            id,
            self.wire.options.stream_window,
            self.wire.peer_window(),
            None,
        );
        let call = self.state.dispatcher.dispatch(IncomingCall {
            head,
            body: IncomingBody::Stream {
                rx: stream.receiver,
                tx: stream.sender,
            },
        });
        let task = tokio::spawn(async move {
            let result = call.await;
            conn.finish(id, result);
            drop(guard);
        });
        calls.insert(
            id,
            Call {
                task: Some(task.abort_handle()),
                inbound: Some(stream.inbound),
                credits: Some(stream.credits),
                budget: Some(stream.budget),
            },
        );
    }

    /// Sends the outcome of call `id` and forgets it.
    ///
    /// (A unary outcome goes through [`unary_response`] first.)
    fn finish(&self, id: u32, result: Result<Option<Bytes>>) {
        self.touch();
        if let Some(call) = self.calls.lock().unwrap().remove(&id)
            && let Some(credits) = call.credits
        {
            credits.close();
        }
        let sent = match result {
            Ok(Some(body)) => self.wire.send_message(id, &body, true),
            Ok(None) => {
                self.wire.send_end(id, &Ok(()));
                Ok(())
            }
            Err(err) => Err(err),
        };
        if let Err(err) = sent {
            self.wire.send_error(id, &err);
        }
    }

    /// Cancels call `id` (its caller reset it or went away).
    fn abort(&self, id: u32) {
        let call = self.calls.lock().unwrap().remove(&id);
        if let Some(call) = call {
            call.cancel();
        }
    }

    fn abort_all(&self) {
        let calls: Vec<Call> = self.calls.lock().unwrap().drain().map(|(_, c)| c).collect();
        for call in calls {
            call.cancel();
        }
    }
}

impl FrameSink for ServerConn {
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

    fn cancel(&self, id: u32) {
        self.abort(id);
    }

    fn writable(&self) -> Option<futures_util::future::BoxFuture<'_, ()>> {
        self.wire.writable()
    }
}

#[async_trait::async_trait]
impl Listener for TcpListener {
    fn local_address(&self) -> String {
        self.address.clone()
    }

    fn security(&self) -> Security {
        self.security
    }

    async fn shutdown(&self, grace: Duration) {
        let state = &self.state;
        let deadline = tokio::time::Instant::now() + grace;
        state.draining.store(true, Ordering::Release);
        // New connections are refused from here on.
        self.accept.abort();
        // HTTP/2 connections send GOAWAY and let their calls finish.
        state.grpc.set_phase(Phase::Draining);
        let connections = state.live_connections();
        for conn in &connections {
            conn.wire
                .send_go_away(conn.last_stream.load(Ordering::Relaxed), "shutting down");
        }
        if tokio::time::timeout(grace, state.in_flight.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = state.in_flight.count(),
                "grace period over; cancelling the calls still running"
            );
        }
        let connections = state.live_connections();
        for conn in connections {
            conn.abort_all();
            conn.wire.close();
        }
        // HTTP/2 connections close by themselves once their last response
        // is out; those still open at the deadline are dropped.
        let _ = tokio::time::timeout_at(deadline, state.grpc.connections_closed()).await;
        state.grpc.set_phase(Phase::Closed);
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
