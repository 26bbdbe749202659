//! The greeter used by the example binaries: the generated code and one
//! implementation of its handler trait.

#![forbid(unsafe_code)]

use std::time::Duration;

use micro_runtime::{Context, Receiver, Result, Sender};

mod world;

pub use world::World;

/// Code generated from `proto/greeter.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    micro_runtime::include_proto!("greeter.v1");
}

/// Code generated from `proto/events.proto`.
#[allow(missing_docs, clippy::all)]
pub mod events {
    micro_runtime::include_proto!("events.v1");
}

/// Code generated from `proto/bot.proto`: a command of `micro bot`.
#[allow(missing_docs, clippy::all)]
pub mod bot_pb {
    micro_runtime::include_proto!("micro.bot.v1");
}

/// Code generated from `proto/describe_test.proto` (every shape the JSON
/// Schema generator knows; used by the `Debug.Describe` test).
#[allow(missing_docs, clippy::all)]
pub mod describe_pb {
    micro_runtime::include_proto!("describe.v1");
}

/// Echoes every `Thing` of `proto/describe_test.proto`: a handler whose
/// messages have every shape a JSON Schema can take (nested, repeated,
/// enums, maps, oneofs, recursion, well-known types).
///
/// For tests of other transports and languages, a `display_name` starting
/// with `mirror:` is a command rather than data:
///
/// * `mirror:fail:<code>` fails with that error code (detail `mirror asked to fail`);
/// * `mirror:sleep:<ms>` answers after that many milliseconds;
/// * `mirror:metadata` answers with `tags` set to the call's metadata, as
///   sorted `key=value` lines.
#[derive(Debug, Default)]
pub struct Mirror;

#[micro_runtime::service]
impl describe_pb::Mirror for Mirror {
    async fn echo(
        &self,
        ctx: Context,
        mut request: describe_pb::Thing,
    ) -> Result<describe_pb::Thing> {
        let command = request
            .display_name
            .strip_prefix("mirror:")
            .unwrap_or_default();
        if let Some(code) = command.strip_prefix("fail:") {
            let code = code.parse().unwrap_or(500);
            return Err(micro_runtime::Error::new(code, "mirror asked to fail"));
        }
        if let Some(ms) = command.strip_prefix("sleep:") {
            let ms = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if command == "metadata" {
            let mut pairs: Vec<String> = ctx
                .metadata()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.sort();
            request.tags = pairs;
        }
        Ok(request)
    }
}

/// The service name the examples register and call.
pub const SERVICE: &str = "com.example.srv.greeter";

/// Says hello.
#[derive(Debug, Default)]
pub struct Greeter {
    delay: Duration,
}

impl Greeter {
    /// A greeter whose every call takes `delay` (to watch calls in flight).
    pub fn with_delay(delay: Duration) -> Self {
        Self { delay }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`), as JSON lines
/// with `MICRO_LOG_FORMAT=json`, spans exported over OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (feature `otel`): see
/// `micro_runtime::trace::init`. Exits on a variable that does not parse.
pub fn init_logging() {
    if let Err(err) = micro_runtime::trace::init()
        && err.code() != 409
    {
        eprintln!("{err}");
        std::process::exit(2);
    }
}

#[micro_runtime::service]
impl pb::Greeter for Greeter {
    async fn hello(&self, _ctx: Context, request: pb::Request) -> Result<pb::Response> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(pb::Response {
            greeting: format!("Hello {}", request.name),
        })
    }

    async fn hello_stream(
        &self,
        _ctx: Context,
        request: pb::Request,
        responses: Sender<pb::Response>,
    ) -> Result<()> {
        for i in 1..=3 {
            responses
                .send(pb::Response {
                    greeting: format!("Hello {} #{i}", request.name),
                })
                .await?;
        }
        Ok(())
    }

    async fn collect(
        &self,
        _ctx: Context,
        mut requests: Receiver<pb::Request>,
    ) -> Result<pb::Response> {
        let mut names = Vec::new();
        while let Some(request) = requests.recv().await? {
            names.push(request.name);
        }
        Ok(pb::Response {
            greeting: format!("Hello {}", names.join(", ")),
        })
    }

    async fn chat(
        &self,
        _ctx: Context,
        mut requests: Receiver<pb::Request>,
        responses: Sender<pb::Response>,
    ) -> Result<()> {
        while let Some(request) = requests.recv().await? {
            responses
                .send(pb::Response {
                    greeting: format!("Hello {}", request.name),
                })
                .await?;
        }
        Ok(())
    }
}
