//! Harness for the gateway tests: services in-process on one memory
//! registry and transport, a gateway on 127.0.0.1:0, and an HTTP client
//! whose every request is time-limited.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use examples::{Greeter, Mirror, SERVICE};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use micro_gateway::GatewayOptions;
use micro_runtime::{Context, Error, Result, Service};
use serde_json::Value;
use tokio::sync::oneshot;

/// The slow greeter's name (every call takes [`SLOW`]).
pub const SLOW_SERVICE: &str = "com.example.srv.slow";
/// How long the slow greeter takes.
pub const SLOW: Duration = Duration::from_secs(5);
/// The versioned greeter's name.
pub const V1_SERVICE: &str = "com.example.srv.v1.greeter";
/// The echo service's name.
pub const ECHO_SERVICE: &str = "com.example.srv.echo";
/// How long one HTTP exchange may take in a test.
const LIMIT: Duration = Duration::from_secs(20);

/// An empty message.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Empty {}

/// What the echo service saw of a call.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Seen {
    /// The call's metadata.
    pub metadata: BTreeMap<String, String>,
    /// Milliseconds left until the deadline, if there is one.
    pub deadline_ms: Option<u64>,
}

/// An error to answer with.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Failing {
    /// Its code.
    pub code: u16,
}

/// Tells what it saw, or fails as asked.
pub struct Echo;

#[micro_runtime::service]
impl Echo {
    /// Answers the call's metadata and deadline.
    async fn seen(&self, ctx: Context, _request: Empty) -> Result<Seen> {
        Ok(Seen {
            metadata: ctx
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            deadline_ms: ctx.deadline().map(|d| {
                u64::try_from(
                    d.saturating_duration_since(std::time::Instant::now())
                        .as_millis(),
                )
                .unwrap_or(u64::MAX)
            }),
        })
    }

    /// Fails with the code asked for.
    async fn fail(&self, _ctx: Context, request: Failing) -> Result<Empty> {
        Err(Error::new(request.code, "failing as asked"))
    }
}

/// The examples' in-process world, with the services and gateways these
/// tests use.
#[derive(Clone)]
pub struct World(pub examples::World);

impl std::ops::Deref for World {
    type Target = examples::World;

    fn deref(&self) -> &examples::World {
        &self.0
    }
}

impl World {
    pub fn new() -> Self {
        Self(examples::World::new())
    }

    /// The greeter (with `Mirror`), its slow and versioned twins, and echo.
    pub async fn services(&self) -> Vec<Service> {
        vec![
            self.service(SERVICE, |s| {
                s.handle(Greeter::default()).unwrap();
                s.handle(Mirror).unwrap();
            })
            .await,
            self.service(SLOW_SERVICE, |s| {
                s.handle(Greeter::with_delay(SLOW)).unwrap()
            })
            .await,
            self.service(V1_SERVICE, |s| s.handle(Greeter::default()).unwrap())
                .await,
            self.service(ECHO_SERVICE, |s| s.handle(Echo).unwrap())
                .await,
        ]
    }

    /// A gateway with `options` on 127.0.0.1:0.
    pub async fn gateway(&self, options: GatewayOptions) -> Gateway {
        let router = micro_gateway::router(self.client(), options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(micro_gateway::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Gateway {
            caller: Caller {
                base: format!("http://{address}"),
                http: HttpClient::builder(TokioExecutor::new()).build_http(),
            },
            stop: Some(stop),
            task: Some(task),
        }
    }
}

/// A running gateway and (through `Deref`) an HTTP client for it.
pub struct Gateway {
    caller: Caller,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::ops::Deref for Gateway {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

/// An HTTP client of a gateway, to move into a task.
#[derive(Clone)]
pub struct Caller {
    pub base: String,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

/// A WebSocket client's connection.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and an error body with `code`, and returns the
    /// error's detail.
    #[track_caller]
    pub fn error(&self, status: u16, code: u16) -> String {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(self.content_type, "application/json");
        body["detail"].as_str().unwrap().to_owned()
    }
}

impl Gateway {
    /// A client of this gateway that can outlive the borrow.
    pub fn caller(&self) -> Caller {
        self.caller.clone()
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(LIMIT, task)
                .await
                .expect("the gateway stops")
                .unwrap()
                .unwrap();
        }
    }
}

impl Caller {
    /// Sends one request and reads the whole answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let exchange = async {
            let response = self.http.request(request).await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let headers = response.headers().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Answer {
                status,
                content_type,
                headers,
                body,
            }
        };
        tokio::time::timeout(LIMIT, exchange)
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer within {LIMIT:?}"))
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> Answer {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], Bytes::new()).await
    }

    /// A WebSocket to `path` of the gateway (the handshake answered 101,
    /// not compressed, though it accepts gzip as browsers do).
    pub async fn websocket(&self, path: &str) -> WebSocket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;

        let url = format!("{}{path}", self.base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
        let (socket, response) =
            tokio::time::timeout(LIMIT, tokio_tungstenite::connect_async(request))
                .await
                .unwrap_or_else(|_| panic!("{path}: no handshake within {LIMIT:?}"))
                .unwrap();
        assert_eq!(response.status().as_u16(), 101);
        assert_eq!(response.headers().get("content-encoding"), None);
        socket
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
