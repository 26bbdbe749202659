//! `GET /metrics` over HTTP/1.1: a small hyper server, loopback unless
//! told otherwise (the series are served to whoever asks).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::{CONTENT_TYPE, Metrics};
use crate::{Error, Result};

/// The metrics endpoint of a process, serving until shut down (or dropped).
#[derive(Debug)]
pub struct MetricsServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `metrics` at `GET /metrics` on `address` (`host:port`; port 0
    /// picks a free one).
    ///
    /// An address that is not loopback is refused unless `insecure`: the
    /// endpoint has no authentication, and the series name every service,
    /// endpoint and topic this process talks to.
    ///
    /// # Errors
    ///
    /// 400 when the address does not resolve or cannot be bound, or is not
    /// loopback and `insecure` is false.
    pub async fn bind(metrics: Metrics, address: &str, insecure: bool) -> Result<Self> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host(address)
            .await
            .map_err(|e| Error::bad_request(format!("metrics address {address:?}: {e}")))?
            .collect();
        if addresses.is_empty() {
            return Err(Error::bad_request(format!(
                "metrics address {address:?} resolves to no address"
            )));
        }
        if !insecure && let Some(open) = addresses.iter().find(|a| !a.ip().is_loopback()) {
            return Err(Error::bad_request(format!(
                "refusing to serve metrics on {address} ({}) without authentication: \
                 listen on 127.0.0.1, or set MICRO_METRICS_INSECURE=1",
                open.ip()
            )));
        }
        let listener = TcpListener::bind(&addresses[..])
            .await
            .map_err(|e| Error::bad_request(format!("cannot serve metrics on {address}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("metrics listener: {e}")))?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, metrics, stopped));
        tracing::info!(address = %bound, "serving metrics at /metrics");
        Ok(Self {
            address: bound,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn local_address(&self) -> SocketAddr {
        self.address
    }

    /// Stops listening and closes its connections.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts until `stopped`, then drops every connection.
async fn accept(listener: TcpListener, metrics: Metrics, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let metrics = metrics.clone();
                    let service = service_fn(move |req| {
                        let metrics = metrics.clone();
                        async move { Ok::<_, Infallible>(respond(&metrics, &req)) }
                    });
                    connections.spawn(async move {
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    connections.abort_all();
}

/// The answer to one request: the series, or an error as micro's JSON.
fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        let err = Error::not_found(format!(
            "{} is not served here; try /metrics",
            req.uri().path()
        ));
        return error(StatusCode::NOT_FOUND, &err);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let err = Error::new(
            405,
            format!("{} /metrics: only GET is served", req.method()),
        );
        let mut rsp = error(StatusCode::METHOD_NOT_ALLOWED, &err);
        rsp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return rsp;
    }
    let mut rsp = Response::new(Full::new(Bytes::from(metrics.encode())));
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(CONTENT_TYPE),
    );
    rsp
}

fn error(status: StatusCode, err: &Error) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(err.to_json())));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    rsp
}
