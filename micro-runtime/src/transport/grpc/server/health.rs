//! `grpc.health.v1.Health`: `Check` and `Watch`, answered from the node's
//! own `Debug.Health` (dispatched like any call, so handler wrappers see it).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use prost::Message;

use super::debug_pb::{HEALTH, HealthResponse};
use super::health_pb::{HealthCheckRequest, HealthCheckResponse, ServingStatus};
use super::{GrpcServer, Phase};
use crate::endpoint::CallKind;
use crate::transport::{IncomingBody, IncomingCall, RequestHead};
use crate::{Error, Metadata, Result};

/// The request of a health call.
fn request(body: &Bytes) -> Result<HealthCheckRequest> {
    HealthCheckRequest::decode(&body[..])
        .map_err(|e| Error::bad_request(format!("HealthCheckRequest does not decode: {e}")))
}

fn encode(status: ServingStatus) -> Bytes {
    HealthCheckResponse {
        status: status as i32,
    }
    .encode_to_vec()
    .into()
}

/// True when `service` names this node: empty (the server as a whole), its
/// registered name or one of the proto services it serves.
async fn known(server: &GrpcServer, service: &str, metadata: &Metadata) -> bool {
    if service.is_empty() || server.dispatcher.service() == Some(service) {
        return true;
    }
    match server.catalog(metadata).await {
        Ok(catalog) => catalog.serves(service),
        Err(_) => false,
    }
}

/// SERVING while the listener serves and `Debug.Health` says `ok`,
/// NOT_SERVING when it fails on the server's side.
///
/// # Errors
///
/// A refusal of the caller (a 4xx, e.g. a handler wrapper asking for
/// credentials) is the caller's error, not the node's health.
async fn status(server: &GrpcServer, metadata: &Metadata) -> Result<ServingStatus> {
    if server.phase() != Phase::Serving {
        return Ok(ServingStatus::NotServing);
    }
    let Some(service) = server.dispatcher.service() else {
        return Ok(ServingStatus::Unknown);
    };
    let mut head = RequestHead::new(service.to_owned(), HEALTH, CallKind::Unary);
    head.metadata = metadata.clone();
    let answer = server.dispatcher.dispatch(IncomingCall {
        head,
        body: IncomingBody::Unary(Bytes::new()),
    });
    Ok(match answer.await {
        Ok(Some(body)) => match HealthResponse::decode(&body[..]) {
            Ok(health) if health.status == "ok" => ServingStatus::Serving,
            _ => ServingStatus::NotServing,
        },
        Err(err) if (400..500).contains(&err.code()) && err.code() != 408 => return Err(err),
        _ => ServingStatus::NotServing,
    })
}

/// `Check`: the status now; NOT_FOUND for a service not served here.
pub(crate) fn check(
    server: Arc<GrpcServer>,
    metadata: Metadata,
    body: IncomingBody,
) -> BoxFuture<'static, Result<Option<Bytes>>> {
    Box::pin(async move {
        let IncomingBody::Unary(body) = body else {
            return Err(Error::internal("Health/Check is unary"));
        };
        let request = request(&body)?;
        if !known(&server, &request.service, &metadata).await {
            return Err(Error::not_found(format!(
                "service {:?} is not served here",
                request.service
            )));
        }
        Ok(Some(encode(status(&server, &metadata).await?)))
    })
}

/// `Watch`: the status now, then NOT_SERVING when the listener starts
/// draining, which ends the stream; until then it stays open. A service not
/// served here is SERVICE_UNKNOWN, as the health protocol asks.
pub(crate) fn watch(
    server: Arc<GrpcServer>,
    metadata: Metadata,
    body: IncomingBody,
) -> BoxFuture<'static, Result<Option<Bytes>>> {
    Box::pin(async move {
        let IncomingBody::Stream { mut rx, tx } = body else {
            return Err(Error::internal("Health/Watch is server streaming"));
        };
        let body = rx
            .recv()
            .await?
            .ok_or_else(|| Error::bad_request("the request carried no message"))?;
        let request = request(&body)?;
        drop(rx);
        let mut phase = server.phase.subscribe();
        let last = if known(&server, &request.service, &metadata).await {
            status(&server, &metadata).await?
        } else {
            ServingStatus::ServiceUnknown
        };
        tx.send(encode(last)).await?;
        // `Debug.Health` answers ok while the node serves: what changes is
        // the listener draining, which ends the stream (so a watch never
        // holds a graceful shutdown for its whole grace period).
        while phase.changed().await.is_ok() && *phase.borrow_and_update() == Phase::Serving {}
        if last == ServingStatus::Serving {
            let _ = tx.send(encode(ServingStatus::NotServing)).await;
        }
        Ok(None)
    })
}
