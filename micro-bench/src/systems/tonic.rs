//! tonic 0.14: the same `proto/greeter.proto` compiled by tonic-prost-build
//! (prost messages), a tonic `Server`, and one `Channel` cloned per task.

use std::net::SocketAddr;
use std::pin::Pin;

use futures_util::{Stream, stream};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

use crate::load::MessageClock;
use crate::payload::{self, Payload};
use crate::systems::micro::{check_len, confirm_collected, read_greetings};
use crate::tonic_pb as pb;
use crate::tonic_pb::greeter_client::GreeterClient;
use crate::tonic_pb::greeter_server::{Greeter, GreeterServer};

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::Response, Status>> + Send>>;

/// The bench's greeter for tonic; streams yield their messages from an
/// iterator (tonic's fastest way to stream).
#[derive(Debug, Default)]
pub struct TonicGreeter;

#[tonic::async_trait]
impl Greeter for TonicGreeter {
    async fn hello(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        Ok(Response::new(pb::Response {
            greeting: payload::greeting(&request.into_inner().name),
        }))
    }

    type HelloStreamStream = ResponseStream;

    async fn hello_stream(
        &self,
        request: Request<pb::Request>,
    ) -> Result<Response<Self::HelloStreamStream>, Status> {
        let request = request.into_inner();
        let (name, count) = payload::parse_stream_request(&request.name);
        let greeting = payload::greeting(name);
        let messages = (0..count).map(move |_| {
            Ok(pb::Response {
                greeting: greeting.clone(),
            })
        });
        Ok(Response::new(Box::pin(stream::iter(messages))))
    }

    async fn collect(
        &self,
        request: Request<Streaming<pb::Request>>,
    ) -> Result<Response<pb::Response>, Status> {
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = requests.message().await? {
            names.push(request.name);
        }
        Ok(Response::new(pb::Response {
            greeting: payload::greeting(&names.join(", ")),
        }))
    }

    type ChatStream = ResponseStream;

    async fn chat(
        &self,
        request: Request<Streaming<pb::Request>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        use futures_util::StreamExt as _;
        let responses = request.into_inner().map(|request| {
            request.map(|request| pb::Response {
                greeting: payload::greeting(&request.name),
            })
        });
        Ok(Response::new(Box::pin(responses)))
    }
}

/// Serves tonic on 127.0.0.1:`port`, calls `ready` with the address, and
/// serves until the process ends.
///
/// # Errors
///
/// When the port cannot be bound or the server fails.
pub async fn serve(port: u16, ready: impl FnOnce(&str)) -> anyhow::Result<()> {
    let incoming =
        TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], port)))?.with_nodelay(Some(true));
    ready(&incoming.local_addr()?.to_string());
    Server::builder()
        .add_service(GreeterServer::new(TonicGreeter))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

/// A tonic client: one `Channel` (one HTTP/2 connection), cloned per call.
#[derive(Clone, Debug)]
pub struct Client {
    greeter: GreeterClient<Channel>,
}

impl Client {
    /// Connects one channel to `address`.
    ///
    /// # Errors
    ///
    /// When the connection cannot be made.
    pub async fn connect(address: &str) -> anyhow::Result<Client> {
        let channel = Channel::from_shared(format!("http://{address}"))?
            .connect()
            .await?;
        Ok(Client {
            greeter: GreeterClient::new(channel),
        })
    }

    /// One unary call.
    ///
    /// # Errors
    ///
    /// The call's status, or a greeting of the wrong size.
    pub async fn hello(&self, payload: &Payload) -> Result<(), String> {
        let request = pb::Request {
            name: payload.name.clone(),
        };
        let response = self
            .greeter
            .clone()
            .hello(request)
            .await
            .map_err(|s| s.to_string())?;
        check_len(response.into_inner().greeting.len(), payload.greeting_len)
    }

    /// One stream of `count` greetings of `payload`'s name.
    ///
    /// # Errors
    ///
    /// The call's status, or fewer messages than asked for.
    pub async fn stream(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> Result<(), String> {
        let request = pb::Request {
            name: payload::stream_request(&payload.name, count),
        };
        let responses = self
            .greeter
            .clone()
            .hello_stream(request)
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        read_greetings(greetings(responses), payload, count, clock).await
    }

    /// One `Collect` call of `count` requests named after `payload`;
    /// `clock` counts them when the response confirms them.
    ///
    /// # Errors
    ///
    /// The call's status, or a response that does not hold every name.
    pub async fn collect(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> Result<(), String> {
        let response = self
            .greeter
            .clone()
            .collect(requests(payload, count))
            .await
            .map_err(|s| s.to_string())?;
        confirm_collected(response.into_inner().greeting.len(), payload, count, clock)
    }

    /// One `Chat` call: `count` requests streamed while the responses are
    /// read, `clock` ticking per response.
    ///
    /// # Errors
    ///
    /// The call's status, or fewer responses than requests.
    pub async fn chat(
        &self,
        payload: &Payload,
        count: u32,
        clock: &mut MessageClock,
    ) -> Result<(), String> {
        let responses = self
            .greeter
            .clone()
            .chat(requests(payload, count))
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        read_greetings(greetings(responses), payload, count, clock).await
    }
}

/// The lengths of the greetings a tonic stream brings.
fn greetings(responses: Streaming<pb::Response>) -> impl Stream<Item = Result<usize, String>> {
    use futures_util::StreamExt as _;
    responses.map(|r| r.map(|r| r.greeting.len()).map_err(|s| s.to_string()))
}

/// `count` requests named after `payload`, as a stream tonic sends.
fn requests(payload: &Payload, count: u32) -> impl Stream<Item = pb::Request> + Send + 'static {
    let name = payload.name.clone();
    stream::iter((0..count).map(move |_| pb::Request { name: name.clone() }))
}
