//! Streaming endpoints through `/api/...`: the responses of a
//! server-streaming call as Server-Sent Events or JSON lines, client and
//! bidi streams over a WebSocket, and the requests of a client stream as
//! a JSON-lines body. The crate docs' "Streaming" section is the contract.

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::transport::{RawReceiver, RawSender};
use micro_runtime::{CallOptions, Error};

use crate::failure::ID;
use crate::gateway::{Gateway, Target};
use crate::{headers, request};

mod lines;
mod responses;
mod websocket;

/// What a streaming call through `/api/...` came with.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
}

/// Calls the streaming endpoint `target`: over a WebSocket when the
/// request asks to upgrade; else with the body's requests (one JSON
/// object, or JSON lines for a client stream) and the responses as
/// events, JSON lines, or (client streaming) one JSON response. The call
/// holds a place among its service's calls in flight while it is open.
///
/// # Errors
///
/// 503 when the service has the most calls in flight; 400 for a bad request, header or WebSocket handshake, or a client
/// stream called without a WebSocket or POST body; the call's error
/// when it cannot be opened.
pub(crate) async fn call(
    gateway: &Gateway,
    target: Target,
    incoming: Incoming,
) -> Result<Response, Error> {
    let options = headers::stream_options(&incoming.headers, gateway.options.forward_credentials)?;
    // Held while the stream is open.
    let slot = gateway.in_flight.enter(&target.service)?;
    match incoming.upgrade {
        Ok(upgrade) => {
            let (tx, rx) = open(gateway, &target, &options).await?;
            return Ok(websocket::answer(
                upgrade,
                gateway.options.max_body,
                (tx, rx),
                slot,
            ));
        }
        Err(rejection) if asks_to_upgrade(&incoming.headers) => {
            return Err(Error::bad_request(format!(
                "the WebSocket handshake failed: {}",
                rejection.body_text()
            )));
        }
        Err(_) => {}
    }
    let requests = if target.kind.client_streaming() {
        if incoming.method != Method::POST {
            return Err(Error::bad_request(format!(
                "{}/{} is a {}-streaming endpoint: open a WebSocket (GET with Upgrade: websocket), \
                 or POST its requests as JSON lines",
                target.service,
                target.endpoint,
                target.kind.as_str()
            )));
        }
        lines::requests(&incoming.body)?
    } else {
        vec![single(gateway, &target, &incoming).await?]
    };
    let (tx, mut rx) = open(gateway, &target, &options).await?;
    tokio::spawn(feed(tx, requests));
    if target.kind.server_streaming() {
        let response = if wants_events(&incoming.headers) {
            responses::events(rx).await
        } else {
            responses::json_lines(rx).await
        }?;
        return Ok(slot.hold(response));
    }
    // A client stream: its one response.
    match rx.recv().await? {
        Some(body) => Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response()),
        None => Err(Error::internal(format!(
            "{}/{} ended its stream without a response",
            target.service, target.endpoint
        ))),
    }
}

/// The one request of a server stream: the query string of a GET that has
/// one, else the JSON body (as a unary call's).
async fn single(gateway: &Gateway, target: &Target, incoming: &Incoming) -> Result<Bytes, Error> {
    match incoming.uri.query() {
        Some(query) if incoming.method == Method::GET && !query.is_empty() => {
            let schema = gateway.request_schema(target).await;
            Ok(Bytes::from(
                request::from_query(query, schema.as_ref())?.to_string(),
            ))
        }
        _ => request::from_body(incoming.body.clone()),
    }
}

/// Opens the call.
async fn open(
    gateway: &Gateway,
    target: &Target,
    options: &CallOptions,
) -> Result<(RawSender, RawReceiver), Error> {
    gateway
        .client
        .stream_raw(
            &target.service,
            &target.endpoint,
            target.kind,
            ContentType::Json,
            options,
        )
        .await
}

/// Sends `requests` as the service takes them, then ends the request
/// stream. Stops when the call ended (the HTTP client went away and
/// dropped the receiver, or the service finished early).
async fn feed(tx: RawSender, requests: Vec<Bytes>) {
    for request in requests {
        if tx.send(request).await.is_err() {
            return;
        }
    }
    tx.finish(Ok(()));
}

/// True when the request asks for Server-Sent Events.
fn wants_events(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// True when the request asks to become a WebSocket.
fn asks_to_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// An error as the runtime's JSON (`{id, code, detail, status}`), with
/// the gateway's id when it has none.
fn error_json(error: Error) -> String {
    let error = if error.id().is_empty() {
        error.with_id(ID)
    } else {
        error
    };
    String::from_utf8_lossy(&error.to_json()).into_owned()
}

/// `{"error": <the error's JSON>}`: the last line or frame of a stream
/// that failed.
fn error_message(error: Error) -> String {
    format!("{{\"error\":{}}}", error_json(error))
}

/// A message's JSON on one line: raw CR and LF can only be whitespace
/// between JSON tokens (in strings they are escaped), so dropping them
/// loses nothing.
fn one_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], "")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_errors() {
        assert_eq!(one_line(b"{\"a\":\n 1}\r\n"), "{\"a\": 1}");
        assert_eq!(one_line(b"{\"a\":\"x\\ny\"}"), "{\"a\":\"x\\ny\"}");
        let line = error_message(Error::bad_request("no"));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["error"]["code"], 400);
        assert_eq!(value["error"]["id"], ID);
        assert_eq!(value["error"]["detail"], "no");
    }

    #[test]
    fn accept_and_upgrade() {
        let mut headers = HeaderMap::new();
        assert!(!wants_events(&headers));
        headers.insert(header::ACCEPT, "text/event-stream".parse().unwrap());
        assert!(wants_events(&headers));
        assert!(!asks_to_upgrade(&headers));
        headers.insert(header::UPGRADE, "WebSocket".parse().unwrap());
        assert!(asks_to_upgrade(&headers));
    }
}
