//! tarpc 0.38: a `#[tarpc::service]` with `hello(name) -> greeting` over
//! tokio TCP with tarpc's serde transport (length-delimited bincode).
//! tarpc has no server streaming, so its stream row is n/a.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt as _;
use tarpc::server::{BaseChannel, Channel as _};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tarpc::{client, context};
use tokio::net::{TcpListener, TcpStream};

use crate::payload::{self, Payload};
use crate::systems::micro::check_len;

/// The tarpc service definition.
#[allow(missing_docs, unreachable_pub)]
pub mod service {
    /// The greeter as a tarpc service.
    #[tarpc::service]
    pub trait Greet {
        /// Says hello to one person.
        async fn hello(name: String) -> String;
    }
}

use service::{Greet, GreetClient};

/// The bench's greeter for tarpc.
#[derive(Clone, Copy, Debug, Default)]
pub struct TarpcGreeter;

impl Greet for TarpcGreeter {
    async fn hello(self, _: context::Context, name: String) -> String {
        payload::greeting(&name)
    }
}

const MAX_FRAME: usize = 8 << 20;

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

async fn spawn(fut: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(fut);
}

/// Serves tarpc on 127.0.0.1:`port`, calls `ready` with the address, and
/// serves until the process ends.
///
/// # Errors
///
/// When the port cannot be bound.
pub async fn serve(port: u16, ready: impl FnOnce(&str)) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    ready(&listener.local_addr()?.to_string());
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("tarpc server: accept: {err}");
                continue;
            }
        };
        socket.set_nodelay(true)?;
        let transport = tarpc::serde_transport::new(tokio_util_framed(socket), Bincode::default());
        let channel = BaseChannel::with_defaults(transport);
        tokio::spawn(channel.execute(TarpcGreeter.serve()).for_each(spawn));
    }
}

fn tokio_util_framed(
    socket: TcpStream,
) -> tarpc::tokio_util::codec::Framed<TcpStream, LengthDelimitedCodec> {
    tarpc::tokio_util::codec::Framed::new(socket, codec())
}

/// A tarpc client: `connections` connections, each a multiplexed tarpc client.
#[derive(Clone, Debug)]
pub struct Client {
    clients: Arc<[GreetClient]>,
}

impl Client {
    /// Opens `connections` connections to `address`.
    ///
    /// # Errors
    ///
    /// When a connection cannot be made.
    pub async fn connect(address: &str, connections: usize) -> anyhow::Result<Client> {
        let mut clients = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let socket = TcpStream::connect(address).await?;
            socket.set_nodelay(true)?;
            let transport =
                tarpc::serde_transport::new(tokio_util_framed(socket), Bincode::default());
            clients.push(GreetClient::new(client::Config::default(), transport).spawn());
        }
        Ok(Client {
            clients: clients.into(),
        })
    }

    /// One unary call on connection `connection` (modulo their number).
    ///
    /// # Errors
    ///
    /// The call's error, or a greeting of the wrong size.
    pub async fn hello(&self, connection: usize, payload: &Payload) -> Result<(), String> {
        let client = &self.clients[connection % self.clients.len()];
        let greeting = client
            .hello(context::current(), payload.name.clone())
            .await
            .map_err(|e| e.to_string())?;
        check_len(greeting.len(), payload.greeting_len)
    }
}
