//! volo-grpc 0.12 (CloudWeGo): the same `proto/greeter.proto` compiled by
//! volo-build (pilota messages), a volo-grpc `Server`, and one client
//! (built with the server's address, so no discovery) cloned per task.

// The trait's signatures return volo's large `Status` by value.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;

use futures_util::{StreamExt as _, stream};
use volo_grpc::server::{Server, ServiceBuilder};
use volo_grpc::{BoxStream, RecvStream, Request, Response, Status};

use crate::load::MessageClock;
use crate::payload::{self, Payload};
use crate::systems::micro::{check_len, confirm_collected, read_greetings};
use crate::volo_pb::volo_gen::greeter::v1 as pb;

/// The bench's greeter for volo-grpc; streams yield their messages from an
/// iterator.
#[derive(Debug, Default)]
pub struct VoloGreeter;

impl pb::Greeter for VoloGreeter {
    async fn hello(&self, request: Request<pb::Request>) -> Result<Response<pb::Response>, Status> {
        Ok(Response::new(pb::Response {
            greeting: payload::greeting(&request.into_inner().name).into(),
        }))
    }

    async fn hello_stream(
        &self,
        request: Request<pb::Request>,
    ) -> Result<Response<BoxStream<'static, Result<pb::Response, Status>>>, Status> {
        let request = request.into_inner();
        let (name, count) = payload::parse_stream_request(&request.name);
        let greeting: pilota::FastStr = payload::greeting(name).into();
        let messages = (0..count).map(move |_| {
            Ok(pb::Response {
                greeting: greeting.clone(),
            })
        });
        Ok(Response::new(Box::pin(stream::iter(messages))))
    }

    async fn collect(
        &self,
        request: Request<RecvStream<pb::Request>>,
    ) -> Result<Response<pb::Response>, Status> {
        let mut requests = request.into_inner();
        let mut names = Vec::new();
        while let Some(request) = requests.next().await {
            names.push(request?.name.to_string());
        }
        Ok(Response::new(pb::Response {
            greeting: payload::greeting(&names.join(", ")).into(),
        }))
    }

    async fn chat(
        &self,
        request: Request<RecvStream<pb::Request>>,
    ) -> Result<Response<BoxStream<'static, Result<pb::Response, Status>>>, Status> {
        let responses = request.into_inner().map(|request| {
            request.map(|request| pb::Response {
                greeting: payload::greeting(&request.name).into(),
            })
        });
        Ok(Response::new(Box::pin(responses)))
    }
}

/// Serves volo-grpc on 127.0.0.1:`port`, calls `ready` with the address,
/// and serves until the process ends.
///
/// # Errors
///
/// When the port cannot be bound or the server fails.
pub async fn serve(port: u16, ready: impl FnOnce(&str)) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    ready(&listener.local_addr()?.to_string());
    Server::new()
        .add_service(ServiceBuilder::new(pb::GreeterServer::new(VoloGreeter)).build())
        .run(volo::net::incoming::DefaultIncoming::from(listener))
        .await
        .map_err(|e| anyhow::anyhow!("volo-grpc server: {e}"))
}

/// A volo-grpc client aimed at one address, cloned per call.
#[derive(Clone)]
pub struct Client {
    greeter: pb::GreeterClient,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("volo::Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `address`.
    ///
    /// # Errors
    ///
    /// When `address` is not a socket address.
    pub async fn connect(address: &str) -> anyhow::Result<Client> {
        let address: SocketAddr = address.parse()?;
        let greeter = pb::GreeterClientBuilder::new("micro.bench.greeter")
            .address(volo::net::Address::from(address))
            .build();
        Ok(Client { greeter })
    }

    /// One unary call.
    ///
    /// # Errors
    ///
    /// The call's status, or a greeting of the wrong size.
    pub async fn hello(&self, payload: &Payload) -> Result<(), String> {
        let request = pb::Request {
            name: payload.name.clone().into(),
        };
        let response = self
            .greeter
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
            name: payload::stream_request(&payload.name, count).into(),
        };
        let responses = self
            .greeter
            .hello_stream(request)
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        let greetings = responses.map(|r| r.map(|r| r.greeting.len()).map_err(|s| s.to_string()));
        read_greetings(greetings, payload, count, clock).await
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
            .chat(requests(payload, count))
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        let greetings = responses.map(|r| r.map(|r| r.greeting.len()).map_err(|s| s.to_string()));
        read_greetings(greetings, payload, count, clock).await
    }
}

/// `count` requests named after `payload`, as a stream volo sends.
fn requests(
    payload: &Payload,
    count: u32,
) -> impl futures_util::Stream<Item = pb::Request> + Send + Sync + 'static {
    let name: pilota::FastStr = payload.name.clone().into();
    stream::iter((0..count).map(move |_| pb::Request { name: name.clone() }))
}
