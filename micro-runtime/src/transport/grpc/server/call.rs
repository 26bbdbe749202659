//! One gRPC request: checked, mapped to an endpoint (or to the transport's
//! own health and reflection services), dispatched, answered.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::body::{ResponseBody, pump, read_one, trailers};
use super::route::{Route, route};
use super::{GrpcServer, health, metadata, reflection};
use crate::codec::ContentType;
use crate::endpoint::CallKind;
use crate::transport::grpc::{MessageDecoder, parse_timeout};
use crate::transport::{
    InFlightGuard, IncomingBody, IncomingCall, LOCAL_STREAM_WINDOW, RawReceiver, RawSender,
    RequestHead, channel,
};
use crate::{Error, Metadata, Result};

/// A call the transport answers itself.
type Builtin =
    fn(Arc<GrpcServer>, Metadata, IncomingBody) -> BoxFuture<'static, Result<Option<Bytes>>>;

/// Who answers a call.
enum Target {
    /// The node's service, through its dispatcher.
    Service(RequestHead),
    /// The transport (health, reflection).
    Builtin(Builtin, Metadata),
}

impl Target {
    fn start(
        self,
        server: &Arc<GrpcServer>,
        body: IncomingBody,
    ) -> BoxFuture<'static, Result<Option<Bytes>>> {
        match self {
            Target::Service(head) => server.dispatcher.dispatch(IncomingCall { head, body }),
            Target::Builtin(run, metadata) => run(server.clone(), metadata, body),
        }
    }
}

/// A call ready to run.
struct Prepared {
    target: Target,
    kind: CallKind,
    timeout: Option<Duration>,
    decoder: MessageDecoder,
}

/// 501 (UNIMPLEMENTED), what gRPC answers for what a server does not serve.
fn unimplemented(detail: String) -> Error {
    Error::new(501, detail)
}

/// Serves one request; never fails (errors are gRPC statuses).
pub(super) async fn handle(
    server: Arc<GrpcServer>,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let guard = server.in_flight.enter();
    if request.method() != Method::POST {
        return refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "gRPC calls are POST requests",
        );
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let codec = match content_type {
        "application/grpc" | "application/grpc+proto" => ContentType::Protobuf,
        "application/grpc+json" => ContentType::Json,
        _ => {
            return refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content-type must be application/grpc, application/grpc+proto or application/grpc+json",
            );
        }
    };
    let prepared = match prepare(&server, &request, codec).await {
        Ok(prepared) => prepared,
        Err(err) => return trailers_only(&err),
    };
    let body = request.into_body();
    let mut response = if prepared.kind == CallKind::Unary {
        unary(server, prepared, body, guard).await
    } else {
        stream(server, prepared, body, guard)
    };
    if codec == ContentType::Json {
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+json"),
        );
    }
    response
}

/// Reads the request's head: route, metadata, deadline, encoding.
async fn prepare(
    server: &Arc<GrpcServer>,
    request: &Request<Incoming>,
    codec: ContentType,
) -> Result<Prepared> {
    let path = request.uri().path();
    let route = route(path).ok_or_else(|| unimplemented(format!("no gRPC method at {path:?}")))?;
    let headers = request.headers();
    let options = &server.options;
    let metadata = metadata::metadata(
        headers,
        usize::from(options.max_metadata),
        options.max_head_size as usize,
    )?;
    let timeout =
        match headers.get("grpc-timeout") {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().and_then(parse_timeout).ok_or_else(|| {
                    Error::bad_request(format!("malformed grpc-timeout {value:?}"))
                })?)
            }
        };
    let encoding = match headers.get("grpc-encoding").map(HeaderValue::to_str) {
        None => None,
        Some(Ok("identity")) => None,
        Some(Ok("gzip")) => Some("gzip"),
        Some(other) => {
            return Err(unimplemented(format!(
                "grpc-encoding {other:?} is not supported (identity and gzip are)"
            )));
        }
    };
    let decoder = MessageDecoder::new(options.max_frame_size as usize, encoding);
    let (target, kind) = match route {
        Route::HealthCheck => (Target::Builtin(health::check, metadata), CallKind::Unary),
        Route::HealthWatch => (
            Target::Builtin(health::watch, metadata),
            CallKind::ServerStreaming,
        ),
        Route::Reflection => (Target::Builtin(reflection::serve, metadata), CallKind::Bidi),
        Route::Method { service, endpoint } => {
            let name = server
                .dispatcher
                .service()
                .ok_or_else(|| unimplemented("this listener serves no named service".into()))?;
            let kind = server
                .dispatcher
                .kind(&endpoint)
                .ok_or_else(|| unimplemented(format!("method {path} is not served by {name}")))?;
            // A proto service with this short name under another package is
            // not this one (code-first services have no package to check).
            if let Ok(catalog) = server.catalog(&metadata).await {
                let short = endpoint.split('.').next().unwrap_or_default();
                if catalog.has_short_name(short) && !catalog.serves(service) {
                    return Err(unimplemented(format!(
                        "service {service} is not served by {name}"
                    )));
                }
            }
            let package = service.rsplit_once('.').map_or("", |(package, _)| package);
            let head = RequestHead {
                service: name.into(),
                endpoint: endpoint.into(),
                package: package.to_owned().into(),
                content_type: codec,
                timeout,
                metadata,
                kind,
            };
            (Target::Service(head), kind)
        }
    };
    Ok(Prepared {
        target,
        kind,
        timeout,
        decoder,
    })
}

/// One message in, one out (or the error as a trailers-only response).
async fn unary(
    server: Arc<GrpcServer>,
    prepared: Prepared,
    body: Incoming,
    guard: InFlightGuard,
) -> Response<ResponseBody> {
    let Prepared {
        target,
        timeout,
        decoder,
        ..
    } = prepared;
    let call = async {
        let message = read_one(body, decoder).await?;
        target.start(&server, IncomingBody::Unary(message)).await
    };
    // The handler's deadline is the router's; this one also bounds the
    // wait for the request's message.
    let result = match timeout {
        None => call.await,
        Some(timeout) => tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(Error::timeout(
                    "the call did not finish within its grpc-timeout",
                ))
            }),
    };
    match result
        .and_then(|body| body.ok_or_else(|| Error::internal("unary handler returned no response")))
    {
        Ok(message) => ok(ResponseBody::Once {
            message: Some(message),
            trailers: Some(trailers(&Ok(()))),
            guard: Some(guard),
        }),
        Err(err) => trailers_only(&err),
    }
}

/// A streaming call: the request's messages are pumped to the handler, its
/// messages and its end become the response body. Dropping that body (a
/// reset stream) aborts both tasks, cancelling the handler.
fn stream(
    server: Arc<GrpcServer>,
    prepared: Prepared,
    body: Incoming,
    guard: InFlightGuard,
) -> Response<ResponseBody> {
    let (up_tx, up_rx) = channel(LOCAL_STREAM_WINDOW);
    let (down_tx, down_rx) = channel(LOCAL_STREAM_WINDOW);
    let reply = RawSender::local(down_tx);
    let pumping = tokio::spawn(pump(body, prepared.decoder, up_tx));
    let call = prepared.target.start(
        &server,
        IncomingBody::Stream {
            rx: RawReceiver::new(up_rx, None, None),
            tx: reply.clone(),
        },
    );
    let running = tokio::spawn(async move {
        match call.await {
            Ok(Some(message)) => match reply.send(message).await {
                Ok(()) => reply.finish(Ok(())),
                Err(err) => reply.finish(Err(err)),
            },
            Ok(None) => reply.finish(Ok(())),
            Err(err) => reply.finish(Err(err)),
        }
    });
    ok(ResponseBody::Stream {
        rx: down_rx,
        tasks: vec![pumping.abort_handle(), running.abort_handle()],
        guard: Some(guard),
    })
}

/// A 200 response with gRPC's headers.
fn ok(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        "grpc-accept-encoding",
        HeaderValue::from_static("identity,gzip"),
    );
    response
}

/// An error as a trailers-only response: the status in the headers.
fn trailers_only(err: &Error) -> Response<ResponseBody> {
    let mut response = ok(ResponseBody::Empty);
    response.headers_mut().extend(trailers(&Err(err.clone())));
    response
}

/// A request that is not gRPC: an HTTP status (and UNIMPLEMENTED, for a
/// gRPC client that reads it anyway).
fn refused(status: StatusCode, why: &str) -> Response<ResponseBody> {
    let mut response = trailers_only(&unimplemented(why.to_owned()));
    *response.status_mut() = status;
    response
}
