//! "raw": the limit. A minimal protocol over tokio TCP carrying the same
//! protobuf bytes as the greeter: length-prefixed frames, requests
//! pipelined on each connection and answered in order (so no ids, no
//! headers, no codec), batched writes (one `write` per batch of queued
//! frames) and big reads parsed many frames at a time.
//!
//! Frame: `length u32` (of what follows), `kind u8`, payload. A unary
//! request carries the encoded `Request` and is answered by one MESSAGE
//! carrying the encoded `Response`; a stream request carries `count u32`
//! then the encoded `Request`, and is answered by `count` MESSAGEs and END.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use prost::encoding::{decode_varint, encode_varint, encoded_len_varint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::load::MessageClock;
use crate::payload::{GREETING_PREFIX, Payload};

const UNARY: u8 = 0;
const STREAM: u8 = 1;
const MESSAGE: u8 = 2;
const END: u8 = 3;
/// Length prefix and kind.
const HEADER: usize = 5;
const MAX_FRAME: usize = 4 << 20;
/// Bytes asked of each read, and the size at which a server flushes a stream.
const IO_CHUNK: usize = 64 * 1024;
/// Field 1, length-delimited: the tag of `name` and of `greeting`.
const FIELD_1: u8 = 0x0a;

/// Serves the raw protocol on 127.0.0.1:`port`, calls `ready` with the
/// address, and serves until the process ends.
///
/// # Errors
///
/// When the port cannot be bound.
pub async fn serve(port: u16, ready: impl FnOnce(&str)) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    ready(&listener.local_addr()?.to_string());
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                tokio::spawn(async move {
                    if let Err(err) = serve_connection(socket).await {
                        eprintln!("raw server: connection closed: {err}");
                    }
                });
            }
            Err(err) => eprintln!("raw server: accept: {err}"),
        }
    }
}

async fn serve_connection(mut socket: TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let mut input = BytesMut::with_capacity(IO_CHUNK);
    let mut output = Vec::with_capacity(IO_CHUNK);
    loop {
        input.reserve(IO_CHUNK);
        if socket.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        let mut at = 0;
        while let Some((kind, len)) = frame_at(&input[at..])? {
            let payload = &input[at + HEADER..at + len];
            match kind {
                UNARY => put_greeting(&mut output, name_of(payload)?),
                STREAM if payload.len() >= 4 => {
                    let count =
                        u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                    let name = name_of(&payload[4..])?;
                    for _ in 0..count {
                        put_greeting(&mut output, name);
                        if output.len() >= IO_CHUNK {
                            socket.write_all(&output).await?;
                            output.clear();
                        }
                    }
                    put_frame_header(&mut output, END, 0);
                }
                _ => return Err(invalid(format!("unexpected frame kind {kind}"))),
            }
            at += len;
        }
        input.advance(at);
        if !output.is_empty() {
            socket.write_all(&output).await?;
            output.clear();
        }
    }
}

/// The kind and total length of the complete frame at the start of `buf`.
fn frame_at(buf: &[u8]) -> io::Result<Option<(u8, usize)>> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(invalid(format!("bad frame length {len}")));
    }
    Ok((buf.len() >= 4 + len).then_some((buf[4], 4 + len)))
}

/// The name inside an encoded `Request` (field 1 only, as the bench sends).
fn name_of(mut encoded: &[u8]) -> io::Result<&[u8]> {
    if encoded.is_empty() {
        return Ok(encoded);
    }
    if encoded[0] != FIELD_1 {
        return Err(invalid("request is not a greeter Request".into()));
    }
    encoded = &encoded[1..];
    let len = decode_varint(&mut encoded).map_err(|e| invalid(e.to_string()))? as usize;
    encoded
        .get(..len)
        .ok_or_else(|| invalid("truncated request".into()))
}

fn put_frame_header(out: &mut Vec<u8>, kind: u8, payload_len: usize) {
    out.extend_from_slice(&((payload_len + 1) as u32).to_be_bytes());
    out.push(kind);
}

/// Appends a MESSAGE frame holding `Response { greeting: "Hello " + name }`.
fn put_greeting(out: &mut Vec<u8>, name: &[u8]) {
    let greeting_len = GREETING_PREFIX.len() + name.len();
    put_frame_header(out, MESSAGE, response_len(greeting_len));
    out.push(FIELD_1);
    encode_varint(greeting_len as u64, out);
    out.extend_from_slice(GREETING_PREFIX.as_bytes());
    out.extend_from_slice(name);
}

/// The length of an encoded `Response` whose greeting has this length.
fn response_len(greeting_len: usize) -> usize {
    if greeting_len == 0 {
        0
    } else {
        1 + encoded_len_varint(greeting_len as u64) + greeting_len
    }
}

fn invalid(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

/// A raw client: `connections` pipelined connections.
#[derive(Clone, Debug)]
pub struct Client {
    connections: Arc<[Connection]>,
}

impl Client {
    /// Opens `connections` connections to `address`.
    ///
    /// # Errors
    ///
    /// When a connection cannot be made.
    pub async fn connect(address: &str, connections: usize) -> io::Result<Client> {
        let mut all = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            all.push(Connection::open(address).await?);
        }
        Ok(Client {
            connections: all.into(),
        })
    }

    /// One unary call on connection `connection` (modulo their number).
    ///
    /// # Errors
    ///
    /// A closed connection or a response of the wrong size.
    pub async fn hello(&self, connection: usize, payload: &Payload) -> Result<(), String> {
        let connection = &self.connections[connection % self.connections.len()];
        let (tx, rx) = oneshot::channel();
        connection.send(UNARY, &[], &payload.encoded, Pending::Unary(tx))?;
        let response = rx.await.map_err(|_| connection.closed_reason())?;
        let expected = response_len(payload.greeting_len);
        if response.len() != expected {
            return Err(format!(
                "response of {} bytes, expected {expected}",
                response.len()
            ));
        }
        Ok(())
    }

    /// One stream of `count` greetings of `payload`'s name.
    ///
    /// # Errors
    ///
    /// A closed connection, or fewer messages than asked for.
    pub async fn stream(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> Result<(), String> {
        let connection = &self.connections[0];
        let (tx, mut rx) = mpsc::channel(16);
        connection.send(
            STREAM,
            &count.to_be_bytes(),
            &payload.encoded,
            Pending::Stream(tx),
        )?;
        let mut received = 0u32;
        while let Some(batch) = rx.recv().await {
            for _message in batch {
                clock.tick();
                received += 1;
            }
        }
        if received == count {
            Ok(())
        } else {
            Err(format!(
                "stream ended after {received} of {count} messages: {}",
                connection.closed_reason()
            ))
        }
    }
}

/// Who waits for the next response on a connection (responses come in order).
enum Pending {
    Unary(oneshot::Sender<Bytes>),
    Stream(mpsc::Sender<Vec<Bytes>>),
}

#[derive(Default)]
struct State {
    /// Frames queued for the writer.
    output: Vec<u8>,
    pending: VecDeque<Pending>,
    closed: Option<String>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake_writer: Notify,
}

struct Connection {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Connection {
    async fn open(address: &str) -> io::Result<Connection> {
        let socket = TcpStream::connect(address).await?;
        socket.set_nodelay(true)?;
        let (read, write) = socket.into_split();
        let shared = Arc::new(Shared::default());
        Ok(Connection {
            reader: tokio::spawn(read_loop(read, shared.clone())),
            writer: tokio::spawn(write_loop(write, shared.clone())),
            shared,
        })
    }

    fn send(&self, kind: u8, prefix: &[u8], body: &[u8], pending: Pending) -> Result<(), String> {
        let mut state = self.shared.state.lock().unwrap();
        if let Some(reason) = &state.closed {
            return Err(format!("connection closed: {reason}"));
        }
        put_frame_header(&mut state.output, kind, prefix.len() + body.len());
        state.output.extend_from_slice(prefix);
        state.output.extend_from_slice(body);
        state.pending.push_back(pending);
        drop(state);
        self.shared.wake_writer.notify_one();
        Ok(())
    }

    fn closed_reason(&self) -> String {
        let state = self.shared.state.lock().unwrap();
        format!(
            "connection closed: {}",
            state.closed.as_deref().unwrap_or("unknown reason")
        )
    }
}

fn close(shared: &Shared, reason: String) {
    let mut state = shared.state.lock().unwrap();
    state.closed.get_or_insert(reason);
    state.pending.clear();
}

async fn write_loop(mut socket: OwnedWriteHalf, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(IO_CHUNK);
    loop {
        shared.wake_writer.notified().await;
        {
            let mut state = shared.state.lock().unwrap();
            std::mem::swap(&mut state.output, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(err) = socket.write_all(&batch).await {
            close(&shared, format!("write: {err}"));
            return;
        }
        batch.clear();
    }
}

async fn read_loop(socket: OwnedReadHalf, shared: Arc<Shared>) {
    let reason = match read_frames(socket, &shared).await {
        Ok(()) => "server closed the connection".to_owned(),
        Err(err) => format!("read: {err}"),
    };
    close(&shared, reason);
}

async fn read_frames(mut socket: OwnedReadHalf, shared: &Shared) -> io::Result<()> {
    let mut input = BytesMut::with_capacity(IO_CHUNK);
    let mut unary = Vec::new();
    let mut streams: Vec<(mpsc::Sender<Vec<Bytes>>, Vec<Bytes>)> = Vec::new();
    loop {
        input.reserve(IO_CHUNK);
        if socket.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        {
            let mut state = shared.state.lock().unwrap();
            while let Some((kind, len)) = frame_at(&input)? {
                let payload = input.split_to(len).freeze().slice(HEADER..);
                match (kind, state.pending.front()) {
                    (MESSAGE, Some(Pending::Unary(_))) => {
                        if let Some(Pending::Unary(tx)) = state.pending.pop_front() {
                            unary.push((tx, payload));
                        }
                    }
                    (MESSAGE, Some(Pending::Stream(tx))) => match streams.last_mut() {
                        Some((last, batch)) if last.same_channel(tx) => batch.push(payload),
                        _ => streams.push((tx.clone(), vec![payload])),
                    },
                    (END, Some(Pending::Stream(_))) => {
                        state.pending.pop_front();
                    }
                    _ => return Err(invalid(format!("unexpected frame kind {kind}"))),
                }
            }
        }
        for (tx, payload) in unary.drain(..) {
            let _ = tx.send(payload);
        }
        for (tx, batch) in streams.drain(..) {
            let _ = tx.send(batch).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_frames_hold_encoded_responses() {
        use prost::Message as _;
        let payload = Payload::new("John");
        let mut out = Vec::new();
        put_greeting(&mut out, name_of(&payload.encoded).unwrap());
        let (kind, len) = frame_at(&out).unwrap().unwrap();
        assert_eq!((kind, len), (MESSAGE, out.len()));
        let response = crate::pb::Response::decode(&out[HEADER..]).unwrap();
        assert_eq!(response.greeting, "Hello John");
        assert_eq!(out.len() - HEADER, response_len(payload.greeting_len));
    }

    #[tokio::test]
    async fn unary_and_stream_round_trip() {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(serve(0, move |address| {
            tx.send(address.to_owned()).unwrap()
        }));
        let client = Client::connect(&rx.await.unwrap(), 2).await.unwrap();
        let large = Payload::new(crate::payload::large_name());
        for task in 0..4 {
            client.hello(task, &Payload::new("John")).await.unwrap();
            client.hello(task, &large).await.unwrap();
        }
        let mut clock = MessageClock::default();
        client
            .stream(&Payload::new("John"), 1000, &mut clock)
            .await
            .unwrap();
        client.hello(0, &Payload::new("")).await.unwrap();
    }
}
