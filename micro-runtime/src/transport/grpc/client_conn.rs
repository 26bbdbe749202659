//! One HTTP/2 connection to a gRPC server: every call a request on it.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, TE, USER_AGENT};
use hyper::{Method, Request};
use tokio::sync::{oneshot, watch};

use super::client_body::RequestBody;
use super::client_response::{ResponseReader, from_hyper};
use super::{encode_message, format_timeout};
use crate::codec::ContentType;
use crate::error::Origin;
use crate::transport::{
    Canceller, Connection, InFlight, LOCAL_STREAM_WINDOW, RawReceiver, RawSender, RequestHead,
    ResponseFuture, StreamItem, channel,
};
use crate::{Error, Result};

/// A dialled gRPC server.
pub(super) struct GrpcConnection {
    address: Arc<str>,
    /// `http` or `https`.
    scheme: &'static str,
    /// What broke the connection underneath hyper (a TLS refusal), when known.
    failure: Arc<OnceLock<Error>>,
    /// Turns true once the connection's task ended (and set `failure`).
    ended: watch::Receiver<bool>,
    sender: SendRequest<RequestBody>,
    closed: Arc<AtomicBool>,
    in_flight: InFlight,
    max_message: usize,
}

impl GrpcConnection {
    /// Drives `connection` in a task of its own and wraps its sender.
    pub(super) fn start(
        address: &str,
        scheme: &'static str,
        sender: SendRequest<RequestBody>,
        connection: impl Future<Output = hyper::Result<()>> + Send + 'static,
        failure: Arc<OnceLock<Error>>,
        max_message: usize,
    ) -> Self {
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let (ended_tx, ended) = watch::channel(false);
        let peer = address.to_owned();
        let slot = failure.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(peer, error = %err, "gRPC connection closed");
                // Kept for the calls that fail with it (a TLS error, set
                // underneath, comes first).
                let _ = slot.set(
                    Error::unavailable(format!(
                        "gRPC connection to {peer} failed: {}",
                        from_hyper(err).detail()
                    ))
                    .with_origin(Origin::NotSent),
                );
            }
            flag.store(true, Ordering::Release);
            let _ = ended_tx.send(true);
        });
        Self {
            address: address.into(),
            scheme,
            failure,
            ended,
            sender,
            closed,
            in_flight: InFlight::default(),
            max_message,
        }
    }

    /// The HTTP/2 request of a call.
    fn request(&self, head: &RequestHead, body: RequestBody) -> Result<Request<RequestBody>> {
        let path = grpc_path(&head.package, &head.endpoint)?;
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(format!("{}://{}{path}", self.scheme, self.address))
            .header(CONTENT_TYPE, content_type(head.content_type))
            .header(TE, "trailers")
            .header("grpc-accept-encoding", "gzip")
            .header(USER_AGENT, concat!("micro-rs/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = head.timeout {
            builder = builder.header("grpc-timeout", format_timeout(timeout));
        }
        let headers = builder
            .headers_mut()
            .ok_or_else(|| Error::bad_request(format!("{path} is not a valid gRPC path")))?;
        for (key, value) in head.metadata.iter() {
            let key = key.to_ascii_lowercase();
            if reserved(&key) {
                continue;
            }
            let name = HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
                Error::bad_request(format!("metadata key {key:?} is not a valid header name"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::bad_request(format!(
                    "metadata {key:?}: the value is not a valid header value \
                     (binary values go in a key ending in -bin, base64)"
                ))
            })?;
            headers.append(name, value);
        }
        builder
            .body(body)
            .map_err(|e| Error::bad_request(format!("gRPC request for {path}: {e}")))
    }

    fn refused(&self) -> Error {
        if let Some(failure) = self.failure.get() {
            return failure.clone();
        }
        Error::unavailable(format!("gRPC connection to {} is closed", self.address))
            .with_origin(Origin::NotSent)
    }

    /// Sends `request` and waits for the response head.
    fn send(
        &self,
        request: Request<RequestBody>,
    ) -> impl Future<Output = Result<ResponseReader>> + Send + 'static {
        let mut sender = self.sender.clone();
        let max_message = self.max_message;
        let failure = self.failure.clone();
        let ended = self.ended.clone();
        async move {
            if let Err(e) = sender.ready().await {
                let fallback = Error::unavailable(format!("gRPC connection closed: {e}"))
                    .with_origin(Origin::NotSent);
                return Err(broken(ended, &failure, fallback).await);
            }
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(e) if e.is_canceled() || e.is_closed() => {
                    return Err(broken(ended, &failure, from_hyper(e)).await);
                }
                Err(e) => return Err(failure.get().cloned().unwrap_or_else(|| from_hyper(e))),
            };
            ResponseReader::open(response, max_message)
        }
    }
}

impl Connection for GrpcConnection {
    fn unary(&self, head: RequestHead, body: Bytes) -> ResponseFuture {
        if !self.is_usable() {
            return ResponseFuture::ready(Err(self.refused()));
        }
        if body.len() > self.max_message {
            return ResponseFuture::ready(Err(too_large(body.len(), self.max_message)));
        }
        let request = match self.request(&head, RequestBody::full(encode_message(&body))) {
            Ok(request) => request,
            Err(err) => return ResponseFuture::ready(Err(err)),
        };
        let call = self.send(request);
        let guard = self.in_flight.enter();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let result = async {
                let mut reader = call.await?;
                let message = reader.next().await?.ok_or_else(|| {
                    Error::internal("gRPC server ended a unary call without a response")
                })?;
                match reader.next().await? {
                    None => Ok(message),
                    Some(_) => Err(Error::internal(
                        "gRPC server sent more than one response to a unary call",
                    )),
                }
            }
            .await;
            let _ = tx.send(result);
            drop(guard);
        });
        ResponseFuture::pending(rx, Canceller::Abort(task.abort_handle()))
    }

    fn open_stream(&self, head: RequestHead) -> Result<(RawSender, RawReceiver)> {
        if !self.is_usable() {
            return Err(self.refused());
        }
        let (up_tx, up_rx) = channel(LOCAL_STREAM_WINDOW);
        let (down_tx, down_rx) = channel(LOCAL_STREAM_WINDOW);
        let request = self.request(&head, RequestBody::stream(up_rx, self.max_message))?;
        let call = self.send(request);
        let guard = self.in_flight.enter();
        let task = tokio::spawn(async move {
            let result = async {
                let mut reader = call.await?;
                while let Some(message) = reader.next().await? {
                    if down_tx.send(StreamItem::Message(message)).await.is_err() {
                        break; // the reader went away
                    }
                }
                Ok(())
            }
            .await;
            let _ = down_tx.send(StreamItem::End(result)).await;
            drop(guard);
        });
        Ok((
            RawSender::local(up_tx),
            RawReceiver::new(down_rx, None, Some(Canceller::Abort(task.abort_handle()))),
        ))
    }

    fn in_flight(&self) -> usize {
        self.in_flight.count()
    }

    fn is_usable(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && !self.sender.is_closed()
    }
}

/// A call failed because its connection did: what broke the connection,
/// once the connection's task has ended and said so, else `fallback`.
async fn broken(
    mut ended: watch::Receiver<bool>,
    failure: &OnceLock<Error>,
    fallback: Error,
) -> Error {
    let _ = ended.wait_for(|ended| *ended).await;
    failure.get().cloned().unwrap_or(fallback)
}

/// `/<package>.<Service>/<Method>` for endpoint `<Service>.<Method>`; an
/// endpoint named in full (`greeter.v1.Greeter.Hello`) needs no package.
pub(super) fn grpc_path(package: &str, endpoint: &str) -> Result<String> {
    let Some((service, method)) = endpoint.rsplit_once('.') else {
        return Err(Error::bad_request(format!(
            "endpoint {endpoint:?} is not <Service>.<Method>"
        )));
    };
    let service: Cow<'_, str> = match package {
        "" => service.into(),
        package => format!("{package}.{service}").into(),
    };
    Ok(format!("/{service}/{method}"))
}

fn content_type(content_type: ContentType) -> &'static str {
    match content_type {
        ContentType::Protobuf => "application/grpc",
        ContentType::Json => "application/grpc+json",
    }
}

/// Headers the transport sets itself, or HTTP/2 forbids.
fn reserved(key: &str) -> bool {
    matches!(
        key,
        "content-type"
            | "te"
            | "user-agent"
            | "grpc-timeout"
            | "grpc-encoding"
            | "grpc-accept-encoding"
            | "connection"
            | "host"
            | "transfer-encoding"
            | "keep-alive"
            | "upgrade"
    ) || key.starts_with(':')
}

pub(super) fn too_large(len: usize, max: usize) -> Error {
    Error::payload_too_large(format!(
        "gRPC message of {len} bytes is over the limit of {max} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_the_package() {
        assert_eq!(
            grpc_path("greeter.v1", "Greeter.Hello").unwrap(),
            "/greeter.v1.Greeter/Hello"
        );
        assert_eq!(grpc_path("", "Greeter.Hello").unwrap(), "/Greeter/Hello");
        assert_eq!(
            grpc_path("", "greeter.v1.Greeter.Hello").unwrap(),
            "/greeter.v1.Greeter/Hello"
        );
        assert_eq!(grpc_path("", "Hello").unwrap_err().code(), 400);
    }

    #[test]
    fn transport_headers_are_not_metadata() {
        assert!(reserved("te") && reserved("grpc-timeout") && reserved(":path"));
        assert!(!reserved("x-request-id") && !reserved("trace-bin"));
    }
}
