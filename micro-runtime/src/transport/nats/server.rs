//! The serving side: a node subject, the service's queue group, and the
//! node's control subjects (`<node>.>`: pings, cancels, stream frames).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message, StatusCode, Subject, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use super::headers::{self, Frame};
use super::outbox::{Outbox, Outgoing};
use super::subject::{SCHEME, service_subject};
use crate::log::Throttled;
use crate::transport::{
    Credits, Dispatcher, FrameSink, InFlight, Inbound, InboundBudget, IncomingBody, IncomingCall,
    Listener, RemoteStream, StreamItem,
};
use crate::{Error, Result};

/// A listening node.
pub(super) struct NatsListener {
    state: Arc<ServerState>,
    /// Tells the request loop to drain its subscriptions.
    drain: watch::Sender<bool>,
    /// The request loop: it ends once its subscriptions are drained.
    requests: tokio::sync::Mutex<JoinHandle<()>>,
    requests_abort: AbortHandle,
    control: AbortHandle,
    watchdog: AbortHandle,
}

struct ServerState {
    outbox: Arc<Outbox>,
    dispatcher: Arc<dyn Dispatcher>,
    /// The node subject.
    node: String,
    window: u32,
    /// Silence of a caller after which its stream is probed.
    probe_after: Duration,
    /// The clock of [`Call::heard`].
    epoch: Instant,
    draining: AtomicBool,
    in_flight: InFlight,
    /// Streams being served, by their number (`<node>.<n>`).
    streams: Mutex<HashMap<u32, Call>>,
    next: AtomicU32,
    /// Unary calls still running, and cancels that came first.
    unary: Mutex<UnaryCalls>,
    bad_input: Throttled,
}

/// The unary calls a node runs in tasks, by the caller's reply subject.
#[derive(Default)]
struct UnaryCalls {
    running: HashMap<String, AbortHandle>,
    /// Cancels that arrived before their request (the two travel on
    /// different subscriptions): the request is then not served. Kept
    /// [`EARLY_CANCEL_TTL`], at most [`EARLY_CANCELS`].
    early: VecDeque<(Instant, String)>,
}

impl UnaryCalls {
    /// Forgets early cancels past their time (their call was answered).
    fn prune(&mut self, now: Instant) {
        while self
            .early
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > EARLY_CANCEL_TTL)
        {
            self.early.pop_front();
        }
    }
}

/// Most early cancels remembered.
const EARLY_CANCELS: usize = 1024;

/// How long an early cancel is remembered.
const EARLY_CANCEL_TTL: Duration = Duration::from_secs(5);

/// A stream being served.
struct Call {
    /// The caller's inbox for this call.
    reply: Subject,
    task: Option<AbortHandle>,
    inbound: Option<Inbound>,
    credits: Arc<Credits>,
    budget: Arc<InboundBudget>,
    /// When the caller was last heard of (ms since the node's epoch).
    heard: u64,
}

impl Call {
    fn cancel(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        self.credits.close();
    }
}

/// Subscribes `node` (and the service subject in its queue group) and
/// serves what arrives with `dispatcher`.
pub(super) async fn listen(
    outbox: Arc<Outbox>,
    node: String,
    dispatcher: Arc<dyn Dispatcher>,
    window: u32,
    probe_after: Duration,
) -> Result<NatsListener> {
    let client = outbox.client().clone();
    let subscribe_error = |e: async_nats::SubscribeError| {
        Error::internal(format!("nats transport: subscribing: {e}"))
    };
    let direct = client
        .subscribe(node.clone())
        .await
        .map_err(subscribe_error)?;
    let queue = match dispatcher.service() {
        Some(service) => {
            let subject = service_subject(service);
            Some(
                client
                    .queue_subscribe(subject.clone(), subject)
                    .await
                    .map_err(subscribe_error)?,
            )
        }
        None => None,
    };
    let control = client
        .subscribe(format!("{node}.>"))
        .await
        .map_err(subscribe_error)?;
    // Subscribed at the server before the node is registered anywhere.
    client
        .flush()
        .await
        .map_err(|e| Error::internal(format!("nats transport: flush: {e}")))?;
    let state = Arc::new(ServerState {
        outbox,
        dispatcher,
        node,
        window,
        probe_after,
        epoch: Instant::now(),
        draining: AtomicBool::new(false),
        in_flight: InFlight::default(),
        streams: Mutex::default(),
        next: AtomicU32::new(1),
        unary: Mutex::default(),
        bad_input: Throttled::new("nats transport server", Duration::from_secs(10)),
    });
    let (drain, draining) = watch::channel(false);
    let requests = tokio::spawn(request_loop(state.clone(), direct, queue, draining));
    let control = tokio::spawn(control_loop(state.clone(), control));
    let watchdog = tokio::spawn(watch_callers(Arc::downgrade(&state)));
    Ok(NatsListener {
        state,
        drain,
        requests_abort: requests.abort_handle(),
        requests: tokio::sync::Mutex::new(requests),
        control: control.abort_handle(),
        watchdog: watchdog.abort_handle(),
    })
}

async fn request_loop(
    state: Arc<ServerState>,
    mut direct: Subscriber,
    mut queue: Option<Subscriber>,
    mut drain: watch::Receiver<bool>,
) {
    let mut draining = false;
    let (mut direct_open, mut queue_open) = (true, queue.is_some());
    while direct_open || queue_open {
        tokio::select! {
            changed = drain.changed(), if !draining => {
                if changed.is_err() || *drain.borrow() {
                    draining = true;
                    // Unsubscribed at the server; what was delivered still
                    // arrives here (and is refused unprocessed).
                    let _ = direct.drain().await;
                    if let Some(queue) = &mut queue {
                        let _ = queue.drain().await;
                    }
                }
            }
            message = direct.next(), if direct_open => match message {
                Some(message) => state.on_request(message),
                None => direct_open = false,
            },
            message = async { queue.as_mut().unwrap().next().await }, if queue_open => match message {
                Some(message) => state.on_request(message),
                None => queue_open = false,
            },
        }
    }
}

/// Every `probe_after / 2`: pings the callers of streams they were silent
/// on for `probe_after` (with a reply subject of the stream's): a caller
/// whose inbox is gone (its process died) has its stream dropped when NATS
/// says nobody listens there.
async fn watch_callers(state: Weak<ServerState>) {
    loop {
        let Some(tick) = state
            .upgrade()
            .map(|s| (s.probe_after / 2).max(Duration::from_millis(10)))
        else {
            return;
        };
        tokio::time::sleep(tick).await;
        let Some(state) = state.upgrade() else { return };
        let now = state.now_ms();
        let silent = u64::try_from(state.probe_after.as_millis()).unwrap_or(u64::MAX);
        let quiet: Vec<(u32, Subject)> = state
            .streams
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|(_, call)| now.saturating_sub(call.heard) >= silent)
            .map(|(n, call)| {
                call.heard = now;
                (*n, call.reply.clone())
            })
            .collect();
        for (n, reply) in quiet {
            let ping = headers::frame_headers(Frame::Ping);
            state.send(
                reply,
                Some(state.stream_subject(n)),
                Some(ping),
                Bytes::new(),
            );
        }
    }
}

async fn control_loop(state: Arc<ServerState>, mut control: Subscriber) {
    while let Some(message) = control.next().await {
        state.on_control(message);
    }
}

impl ServerState {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn warn(&self, subject: &str, why: &str) {
        self.bad_input.warn(|suppressed| {
            tracing::warn!(
                subject,
                suppressed,
                "nats transport: refused a message: {why}"
            );
        });
    }

    fn max_payload(&self) -> usize {
        self.outbox.client().server_info().max_payload
    }

    fn send(
        &self,
        subject: Subject,
        reply: Option<Subject>,
        headers: Option<HeaderMap>,
        payload: Bytes,
    ) {
        self.outbox.send(Outgoing {
            subject,
            reply,
            headers,
            payload,
        });
    }

    fn send_error(&self, reply: Subject, frame: Frame, err: &Error) {
        let (headers, body) = headers::error_frame(frame, err);
        self.send(reply, None, Some(headers), body);
    }

    fn pong(&self, reply: Subject) {
        let mut headers = headers::frame_headers(Frame::Pong);
        headers.insert(headers::SUBJECT, self.node.as_str());
        headers.insert(headers::WINDOW, self.window.to_string().as_str());
        if self.draining.load(Ordering::Acquire) {
            headers.insert(headers::DRAINING, "1");
        }
        self.send(reply, None, Some(headers), Bytes::new());
    }

    /// A message on the node or service subject: a ping or a request.
    fn on_request(self: &Arc<Self>, message: Message) {
        if message.status.is_some() {
            return;
        }
        let Some(reply) = message.reply.clone() else {
            self.warn(&message.subject, "no reply subject");
            return;
        };
        let h = message.headers.as_ref();
        match headers::frame(h) {
            Ok(None) => {}
            Ok(Some(Frame::Ping)) => return self.pong(reply),
            Ok(Some(frame)) => {
                self.warn(&message.subject, "a control frame on a request subject");
                let err = Error::bad_request(format!("unexpected {} frame", frame.as_str()));
                return self.send_error(reply, Frame::Error, &err);
            }
            Err(why) => {
                self.warn(&message.subject, &why);
                return self.send_error(reply, Frame::Error, &Error::bad_request(why));
            }
        }
        if self.draining.load(Ordering::Acquire) {
            let err = Error::unavailable(format!("{} is shutting down", self.node));
            return self.send_error(reply, Frame::Refused, &err);
        }
        let head = match headers::request_head(h) {
            Ok(head) => head,
            Err(err) => {
                self.warn(&message.subject, err.detail());
                return self.send_error(reply, Frame::Error, &err);
            }
        };
        if head.kind == crate::endpoint::CallKind::Unary {
            self.serve_unary(head, reply, message.payload);
        } else {
            let Some(peer_window) = headers::window(h).filter(|w| *w > 0) else {
                self.warn(&message.subject, "a stream without a window");
                let err = Error::bad_request("a streaming request needs a window");
                return self.send_error(reply, Frame::Error, &err);
            };
            self.serve_stream(head, reply, peer_window);
        }
    }

    fn serve_unary(
        self: &Arc<Self>,
        head: crate::transport::RequestHead,
        reply: Subject,
        body: Bytes,
    ) {
        // Locked from before the first poll until the call is recorded, so
        // a cancel (on the control loop) finds it or is remembered early.
        let mut unary = self.unary.lock().unwrap();
        if !unary.early.is_empty() {
            unary.prune(Instant::now());
            if let Some(at) = unary.early.iter().position(|(_, r)| r == reply.as_str()) {
                unary.early.remove(at);
                return;
            }
        }
        let guard = self.in_flight.enter();
        let mut call = self.dispatcher.dispatch(IncomingCall {
            head,
            body: IncomingBody::Unary(body),
        });
        // Most handlers answer without waiting: try once here (as the TCP
        // transport does), which saves a task per call.
        let mut first_poll = TaskContext::from_waker(Waker::noop());
        if let Poll::Ready(result) = call.as_mut().poll(&mut first_poll) {
            drop(unary);
            self.respond(reply, result);
            drop(guard);
            return;
        }
        let state = self.clone();
        let key = reply.to_string();
        let task = tokio::spawn(async move {
            let result = call.await;
            state.unary.lock().unwrap().running.remove(reply.as_str());
            state.respond(reply, result);
            drop(guard);
        });
        unary.running.insert(key, task.abort_handle());
    }

    /// Sends a unary call's outcome.
    fn respond(&self, reply: Subject, result: Result<Option<Bytes>>) {
        let result = result.and_then(|body| {
            body.ok_or_else(|| Error::internal("unary handler returned no response"))
        });
        match result {
            Ok(body) if body.len() <= self.max_payload() => self.send(reply, None, None, body),
            Ok(body) => {
                let err = Error::payload_too_large(format!(
                    "response of {} bytes exceeds the NATS server's limit of {} bytes",
                    body.len(),
                    self.max_payload()
                ));
                self.send_error(reply, Frame::Error, &err);
            }
            Err(err) => self.send_error(reply, Frame::Error, &err),
        }
    }

    fn serve_stream(
        self: &Arc<Self>,
        head: crate::transport::RequestHead,
        reply: Subject,
        peer_window: u32,
    ) {
        let guard = self.in_flight.enter();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let sink: Arc<dyn FrameSink> = self.clone();
        let stream = RemoteStream::new(sink, n, self.window, peer_window, None);
        // Accepted before the handler may send anything.
        let mut accept = headers::frame_headers(Frame::Accept);
        accept.insert(headers::SUBJECT, format!("{}.{n}", self.node).as_str());
        accept.insert(headers::WINDOW, self.window.to_string().as_str());
        self.send(
            reply.clone(),
            Some(self.stream_subject(n)),
            Some(accept),
            Bytes::new(),
        );
        let call = self.dispatcher.dispatch(IncomingCall {
            head,
            body: IncomingBody::Stream {
                rx: stream.receiver,
                tx: stream.sender,
            },
        });
        let mut streams = self.streams.lock().unwrap();
        let state = self.clone();
        let task = tokio::spawn(async move {
            let result = call.await;
            state.finish(n, result);
            drop(guard);
        });
        streams.insert(
            n,
            Call {
                reply,
                task: Some(task.abort_handle()),
                inbound: Some(stream.inbound),
                credits: stream.credits,
                budget: stream.budget,
                heard: self.now_ms(),
            },
        );
    }

    fn stream_subject(&self, n: u32) -> Subject {
        Subject::from(format!("{}.{n}", self.node))
    }

    /// Sends the outcome of stream `n` and forgets it.
    fn finish(&self, n: u32, result: Result<Option<Bytes>>) {
        let Some(call) = self.streams.lock().unwrap().remove(&n) else {
            return;
        };
        call.credits.close();
        let reply = call.reply;
        let result = match result {
            Ok(Some(body)) if body.len() > self.max_payload() => {
                Err(Error::payload_too_large(format!(
                    "response of {} bytes exceeds the NATS server's limit",
                    body.len()
                )))
            }
            Ok(Some(body)) => {
                self.send(reply.clone(), Some(self.stream_subject(n)), None, body);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => self.send(
                reply,
                None,
                Some(headers::frame_headers(Frame::End)),
                Bytes::new(),
            ),
            Err(err) => self.send_error(reply, Frame::Error, &err),
        }
    }

    /// Cancels stream `n` (its caller went away or cancelled it).
    fn abort(&self, n: u32) {
        let call = self.streams.lock().unwrap().remove(&n);
        if let Some(call) = call {
            call.cancel();
        }
    }

    /// Cancels every call (the grace period is over).
    fn abort_all(&self) {
        let calls: Vec<Call> = self
            .streams
            .lock()
            .unwrap()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for call in calls {
            call.cancel();
        }
        let unary: Vec<AbortHandle> = self
            .unary
            .lock()
            .unwrap()
            .running
            .drain()
            .map(|(_, t)| t)
            .collect();
        for task in unary {
            task.abort();
        }
    }

    /// A message on `<node>.<token>`: a ping, a cancel, a stream's frame,
    /// or the news that a caller's inbox is gone.
    fn on_control(&self, message: Message) {
        let token = message
            .subject
            .strip_prefix(self.node.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or_default();
        let h = message.headers.as_ref();
        match token {
            "ping" => {
                if let Some(reply) = message.reply {
                    self.pong(reply);
                }
                return;
            }
            "cancel" => {
                let Some(reply) = headers::header(h, headers::SUBJECT) else {
                    return;
                };
                let mut unary = self.unary.lock().unwrap();
                match unary.running.remove(reply) {
                    Some(task) => task.abort(),
                    None => {
                        let now = Instant::now();
                        unary.prune(now);
                        if unary.early.len() >= EARLY_CANCELS {
                            unary.early.pop_front();
                        }
                        unary.early.push_back((now, reply.to_owned()));
                    }
                }
                return;
            }
            _ => {}
        }
        let Ok(n) = token.parse::<u32>() else {
            self.warn(&message.subject, "unknown control subject");
            return;
        };
        if message.status == Some(StatusCode::NO_RESPONDERS) {
            // The caller's inbox is gone: nobody reads this stream any more.
            return self.abort(n);
        }
        if message.status.is_some() {
            return;
        }
        let frame = match headers::frame(h) {
            Ok(frame) => frame,
            Err(why) => {
                self.warn(&message.subject, &why);
                return;
            }
        };
        let mut streams = self.streams.lock().unwrap();
        let Some(call) = streams.get_mut(&n) else {
            return;
        };
        call.heard = self.now_ms();
        match frame {
            None => {
                let Some(inbound) = &call.inbound else { return };
                let len = message.payload.len();
                if !call.budget.take(len)
                    || (inbound
                        .try_send(StreamItem::Message(message.payload))
                        .is_err()
                        && !inbound.is_closed())
                {
                    let reply = call.reply.clone();
                    drop(streams);
                    self.abort(n);
                    self.warn(&self.node, "a caller overran its flow-control window");
                    let err =
                        Error::bad_request(format!("stream {n} overran its flow-control window"));
                    self.send_error(reply, Frame::Error, &err);
                }
            }
            Some(Frame::End) => {
                if let Some(inbound) = call.inbound.take() {
                    let _ = inbound.try_send(StreamItem::End(Ok(())));
                }
            }
            Some(Frame::Error) => {
                if let Some(inbound) = call.inbound.take() {
                    let err = headers::error_of(Frame::Error, h, &message.payload);
                    let _ = inbound.try_send(StreamItem::End(Err(err)));
                }
            }
            Some(Frame::Window) => {
                if let Some(credit) = headers::window(h) {
                    call.credits.add_permits(credit.min(1 << 30) as usize);
                }
            }
            Some(Frame::Cancel) => {
                drop(streams);
                self.abort(n);
            }
            Some(_) => {}
        }
    }

    /// The reply subject of stream `n`.
    fn reply_of(&self, n: u32) -> Option<Subject> {
        self.streams
            .lock()
            .unwrap()
            .get(&n)
            .map(|c| c.reply.clone())
    }
}

impl FrameSink for ServerState {
    fn send_message(&self, n: u32, body: Bytes) -> Result<()> {
        let max = self.max_payload();
        if body.len() > max {
            return Err(Error::payload_too_large(format!(
                "message of {} bytes exceeds the NATS server's limit of {max} bytes",
                body.len()
            )));
        }
        let reply = self.reply_of(n).ok_or_else(|| {
            Error::unavailable("stream closed by the peer")
                .with_origin(crate::error::Origin::Transport)
        })?;
        // A reply subject of ours: if the caller's inbox is gone, NATS says
        // so there and the handler is dropped.
        self.send(reply, Some(self.stream_subject(n)), None, body);
        Ok(())
    }

    fn send_end(&self, n: u32, result: Result<()>) {
        if let Some(reply) = self.reply_of(n) {
            match result {
                Ok(()) => self.send(
                    reply,
                    None,
                    Some(headers::frame_headers(Frame::End)),
                    Bytes::new(),
                ),
                Err(err) => self.send_error(reply, Frame::Error, &err),
            }
        }
    }

    fn send_window(&self, n: u32, credit: u32) {
        if let Some(reply) = self.reply_of(n) {
            self.send(
                reply,
                Some(self.stream_subject(n)),
                Some(headers::window_headers(credit)),
                Bytes::new(),
            );
        }
    }

    fn cancel(&self, n: u32) {
        self.abort(n);
    }
}

#[async_trait::async_trait]
impl Listener for NatsListener {
    fn local_address(&self) -> String {
        format!("{SCHEME}{}", self.state.node)
    }

    async fn shutdown(&self, grace: Duration) {
        let state = &self.state;
        let until = tokio::time::Instant::now() + grace;
        if state.draining.swap(true, Ordering::AcqRel) {
            return; // shut down already
        }
        let _ = self.drain.send(true);
        // Unsubscribed at the server, and what NATS had delivered already
        // refused unprocessed (so its callers try another node at once).
        let mut requests = self.requests.lock().await;
        if tokio::time::timeout_at(until, &mut *requests)
            .await
            .is_err()
        {
            requests.abort();
        }
        drop(requests);
        if tokio::time::timeout_at(until, state.in_flight.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = state.in_flight.count(),
                "grace period over; cancelling the calls still running"
            );
        }
        state.abort_all();
        self.control.abort();
        self.watchdog.abort();
        // The last answers and refusals reach NATS before the process may
        // exit (bounded: NATS may be gone).
        let _ = tokio::time::timeout(Duration::from_secs(2), state.outbox.flush()).await;
    }
}

impl Drop for NatsListener {
    fn drop(&mut self) {
        self.requests_abort.abort();
        self.control.abort();
        self.watchdog.abort();
    }
}
