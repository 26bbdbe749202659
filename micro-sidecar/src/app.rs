//! The application behind the sidecar, over HTTP: calls forwarded to it,
//! events delivered to it, its health asked.

use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use micro_runtime::{Context, Error, Result};

/// Header telling the application how long it has (`1500ms`).
pub const TIMEOUT_HEADER: &str = "x-micro-timeout";
/// Header naming the service a forwarded call was made to.
pub const SERVICE_HEADER: &str = "x-micro-service";
/// Header naming the endpoint of a forwarded call.
pub const ENDPOINT_HEADER: &str = "x-micro-endpoint";
/// Header naming the topic of a delivered event.
pub const TOPIC_HEADER: &str = "x-micro-topic";

/// The application at a base URL (`http://127.0.0.1:5000`).
#[derive(Clone, Debug)]
pub(crate) struct App {
    base: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    max_body: usize,
}

impl App {
    /// The application at `base` (`http://host:port`, no path);
    /// answers larger than `max_body` are refused (502).
    ///
    /// # Errors
    ///
    /// 400 for a URL that is not `http://host:port`.
    pub(crate) fn new(base: &str, max_body: usize) -> Result<Self> {
        let base = base.trim_end_matches('/');
        let uri: Uri = base
            .parse()
            .map_err(|e| Error::bad_request(format!("app URL {base:?}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() || uri.path() != "/" {
            return Err(Error::bad_request(format!(
                "app URL {base:?} must be http://host:port (no path, no https)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        Ok(Self {
            base: base.to_owned(),
            http: HttpClient::builder(TokioExecutor::new()).build(connector),
            max_body,
        })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `POST {app}/{endpoint}` with `body` (JSON) and the call's metadata
    /// as headers; the deadline of `ctx` bounds it (408 past it).
    ///
    /// # Errors
    ///
    /// The application's error (its micro error JSON, or its status with
    /// the body as detail); 503 when it cannot be reached; 408 past the
    /// deadline; 502 for an answer over the size limit.
    pub(crate) async fn call(
        &self,
        service: &str,
        endpoint: &str,
        ctx: &Context,
        body: Bytes,
    ) -> Result<Bytes> {
        let mut request = self.request(&format!("/{endpoint}"), ctx, body)?;
        let headers = request.headers_mut();
        headers.insert(SERVICE_HEADER, value(service)?);
        headers.insert(ENDPOINT_HEADER, value(endpoint)?);
        let what = format!("POST {}/{endpoint}", self.base);
        self.send(request, ctx.deadline(), &what).await
    }

    /// `POST {app}{path}` with an event of `topic`; `Ok` on a 2xx answer.
    ///
    /// # Errors
    ///
    /// As [`App::call`]: a 4xx moves the event aside, anything else has it
    /// redelivered where the broker can.
    pub(crate) async fn deliver(
        &self,
        path: &str,
        topic: &str,
        ctx: &Context,
        body: Bytes,
    ) -> Result<()> {
        let mut request = self.request(path, ctx, body)?;
        request.headers_mut().insert(TOPIC_HEADER, value(topic)?);
        let what = format!("POST {}{path} (an event of {topic})", self.base);
        let deadline = Instant::now() + Duration::from_secs(30);
        self.send(request, Some(ctx.deadline().unwrap_or(deadline)), &what)
            .await
            .map(drop)
    }

    /// True when `GET {app}{path}` answers 2xx within `limit`, or, with no
    /// path, when the application accepts a connection.
    pub(crate) async fn healthy(&self, path: Option<&str>, limit: Duration) -> bool {
        let Some(path) = path else {
            let authority = self.base.trim_start_matches("http://");
            let connect = tokio::net::TcpStream::connect(authority);
            return matches!(tokio::time::timeout(limit, connect).await, Ok(Ok(_)));
        };
        let Ok(request) = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
        else {
            return false;
        };
        let asked = async {
            let response = self.http.request(request).await.ok()?;
            let ok = response.status().is_success();
            // Read to the end so the connection can be reused.
            let _ = Limited::new(response.into_body(), self.max_body)
                .collect()
                .await;
            Some(ok)
        };
        matches!(tokio::time::timeout(limit, asked).await, Ok(Some(true)))
    }

    fn request(&self, path: &str, ctx: &Context, body: Bytes) -> Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| Error::bad_request(format!("{}{path}: {e}", self.base)))?;
        let headers = request.headers_mut();
        // Metadata travels under its own (lower-case) names, as the gateway
        // turns headers into metadata; a key that is no header name is left out.
        for (key, val) in ctx.metadata().iter() {
            if let (Ok(name), Ok(val)) = (
                HeaderName::try_from(key),
                HeaderValue::try_from(val.to_owned()),
            ) && !is_reserved(&name)
            {
                headers.append(name, val);
            }
        }
        if let Some(deadline) = ctx.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            headers.insert(TIMEOUT_HEADER, value(&format!("{}ms", left.as_millis()))?);
        }
        Ok(request)
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        deadline: Option<Instant>,
        what: &str,
    ) -> Result<Bytes> {
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                Error::unavailable(format!("the app is unreachable ({what}): {}", cause(&e)))
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), self.max_body)
                .collect()
                .await
                .map_err(|e| Error::new(502, format!("reading the app's answer to {what}: {e}")))?
                .to_bytes();
            if status.is_success() {
                Ok(body)
            } else {
                Err(app_error(status, &body))
            }
        };
        match deadline {
            None => exchange.await,
            Some(deadline) => tokio::time::timeout_at(deadline.into(), exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::timeout(format!(
                        "the app did not answer {what} within the call's deadline"
                    )))
                }),
        }
    }
}

/// The error an application's non-2xx answer stands for: its own micro
/// error (`{id, code, detail, status}`) when the body is one, else the
/// HTTP status with the body's text as detail.
pub(crate) fn app_error(status: StatusCode, body: &[u8]) -> Error {
    let is_micro_error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v["code"].as_u64().is_some_and(|c| c > 0) && v.get("detail").is_some());
    if is_micro_error {
        return Error::from_json(body);
    }
    let text = String::from_utf8_lossy(body);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("no detail").to_owned(),
        text => text.to_owned(),
    };
    Error::new(status.as_u16(), detail)
}

/// Headers the sidecar sets itself, never taken from metadata.
fn is_reserved(name: &HeaderName) -> bool {
    let name = name.as_str();
    name.starts_with("x-micro-")
        || [
            "host",
            "content-type",
            "content-length",
            "connection",
            "transfer-encoding",
            "te",
            "upgrade",
            "keep-alive",
        ]
        .contains(&name)
}

fn value(text: &str) -> Result<HeaderValue> {
    HeaderValue::try_from(text).map_err(|e| Error::bad_request(format!("{text:?}: {e}")))
}

/// The innermost cause of an error: "connection refused" rather than
/// "client error (Connect)".
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_answers_as_errors() {
        let micro = br#"{"id":"py","code":409,"detail":"taken","status":"Conflict"}"#;
        let err = app_error(StatusCode::CONFLICT, micro);
        assert_eq!((err.code(), err.detail(), err.id()), (409, "taken", "py"));
        let err = app_error(StatusCode::IM_A_TEAPOT, b"short and stout");
        assert_eq!((err.code(), err.detail()), (418, "short and stout"));
        let err = app_error(StatusCode::BAD_GATEWAY, b"");
        assert_eq!((err.code(), err.detail()), (502, "Bad Gateway"));
        let err = app_error(StatusCode::BAD_REQUEST, br#"{"code":"x"}"#);
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn app_urls() {
        assert!(App::new("http://127.0.0.1:5000", 10).is_ok());
        assert_eq!(
            App::new("http://127.0.0.1:5000/", 10).unwrap().base(),
            "http://127.0.0.1:5000"
        );
        for bad in ["127.0.0.1:5000", "https://x:1", "http://x:1/api", "nope"] {
            assert_eq!(App::new(bad, 10).unwrap_err().code(), 400, "{bad}");
        }
    }
}
