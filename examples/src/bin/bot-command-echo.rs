//! A command for `micro bot`, served as a service: `echo WORDS...` says the
//! words back (`echo` alone is an error, to show how one reads).
//!
//! Registers as `micro.bot.echo` (`BOT_COMMAND_SERVICE` changes it), prints
//! `listening on <address>` once serving, and deregisters on SIGINT or
//! SIGTERM, which removes the command from the bots that see it.

use std::io::Write;

use examples::bot_pb::{self, ExecRequest, ExecResponse, HelpRequest, HelpResponse};
use micro_runtime::{Context, Result, Service};

/// The `echo` command.
struct Echo;

#[micro_runtime::service]
impl bot_pb::Command for Echo {
    async fn help(&self, _ctx: Context, _req: HelpRequest) -> Result<HelpResponse> {
        Ok(HelpResponse {
            usage: "echo WORDS...".into(),
            description: "says the words back".into(),
        })
    }

    async fn exec(&self, _ctx: Context, req: ExecRequest) -> Result<ExecResponse> {
        if req.args.is_empty() {
            return Ok(ExecResponse {
                result: String::new(),
                error: "nothing to echo: say echo WORDS...".into(),
            });
        }
        Ok(ExecResponse {
            result: req.args.join(" "),
            error: String::new(),
        })
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    if let Err(err) = run().await {
        eprintln!("bot-command-echo: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let name = std::env::var("BOT_COMMAND_SERVICE").unwrap_or_else(|_| "micro.bot.echo".into());
    let service = Service::builder().name(name).version("1.0.0").build()?;
    service.handle(Echo)?;
    // Installed before registering: SIGTERM from then on stops gracefully.
    let signal = micro_runtime::shutdown_signal();
    service.start().await?;
    println!(
        "listening on {}",
        service.address().await.unwrap_or_default()
    );
    let _ = std::io::stdout().flush();
    signal.await;
    service.stop().await
}
