//! One module per command; [`run`] dispatches.

mod bot;
mod call;
mod certs;
mod completions;
mod config;
mod describe;
mod drain;
mod dynamic;
mod gateway;
mod health;
mod input;
mod mcp;
mod new;
mod publish;
mod services;
mod sidecar;
mod store;
mod stream;
mod subscribe;
mod target;
mod watch;

use crate::args::{Command, GetKind};
use crate::failure::Outcome;
use crate::session::Session;

/// Runs `command`.
pub(crate) async fn run(command: Command, session: &Session) -> Outcome {
    match command {
        Command::Services => services::run(session).await,
        Command::Describe(args) => describe::run(session, &args.service).await,
        Command::Get(args) => match args.kind {
            GetKind::Service => describe::run(session, &args.name).await,
        },
        Command::Call(args) => call::run(session, args).await,
        Command::Stream(args) => stream::run(session, args).await,
        Command::Publish(args) => publish::run(session, args).await,
        Command::Subscribe(args) => subscribe::run(session, args).await,
        Command::Health(args) => health::run(session, args).await,
        Command::Watch(args) => watch::run(session, args).await,
        Command::Config(args) => config::run(session, args).await,
        Command::Gateway(args) => gateway::run(session, args, gateway::Serve::Gateway).await,
        Command::Web(args) => gateway::run(session, args, gateway::Serve::Dashboard).await,
        Command::New(args) => new::run(session, &args),
        Command::Mcp(args) => mcp::run(session, args).await,
        Command::Sidecar(args) => sidecar::run(session, args).await,
        Command::Bot(args) => bot::run(session, args).await,
        Command::Store(args) => store::run(session, args).await,
        Command::Completions(args) => completions::run(&args),
        Command::Certs(args) => certs::run(session, &args),
        Command::Dynamic(words) => dynamic::run(session, words).await,
    }
}
