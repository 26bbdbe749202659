//! The command line: every command, its flags and the options all share.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod bot;
mod config;
mod mcp;
mod store;
pub use bot::{BotArgs, BotInput};
pub use config::{ConfigArgs, ConfigCommand};
pub use mcp::{McpArgs, McpCallArgs, McpCommand, McpFlags, McpServeArgs};
pub use store::{
    StoreArgs, StoreCommand, StoreFlags, StoreKeyArgs, StoreListArgs, StoreReadArgs, StoreWriteArgs,
};

/// Exit codes, shown at the end of `micro --help`.
const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the call, the service or the backend failed (the one line on stderr says why, with its code)
  2    the command line is wrong (unknown flag, missing argument)
  130  interrupted (Ctrl-C)

A service can also be called by its short name and method:
  micro greeter hello --name John
  micro greeter hello --help";

/// Look at, call and watch micro services.
#[derive(Debug, Parser)]
#[command(
    name = "micro",
    version,
    about,
    after_help = EXIT_CODES,
    allow_external_subcommands = true
)]
pub struct Cli {
    /// Where services are found and messages published.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The registry: mdns, etcd or memory.
    #[arg(long, global = true, env = "MICRO_REGISTRY", default_value = "mdns")]
    pub registry: String,
    /// The registry's address (etcd: host:port, comma separated).
    #[arg(long, global = true, env = "MICRO_REGISTRY_ADDRESS")]
    pub registry_address: Option<String>,
    /// The broker: http, nats, rabbitmq, kafka or memory.
    #[arg(long, global = true, env = "MICRO_BROKER", default_value = "http")]
    pub broker: String,
    /// The broker's address.
    #[arg(long, global = true, env = "MICRO_BROKER_ADDRESS")]
    pub broker_address: Option<String>,
    /// How results are printed: a table for people, JSON for scripts.
    #[arg(short, long, global = true, value_enum, env = "MICRO_OUTPUT", default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// A bearer token (JWT) every call presents to services
    /// (`authorization: Bearer TOKEN`); MICRO_AUTH_TOKEN_FILE reads it
    /// from a file. Not the gateway's own --auth-token.
    #[arg(
        long,
        global = true,
        env = "MICRO_AUTH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<Secret>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns and trees, for people.
    Table,
    /// JSON with stable field names, for scripts.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every service with its versions, nodes and endpoints.
    #[command(visible_alias = "list")]
    Services,
    /// A service's versions, nodes, endpoints (with their fields) and subscriptions.
    Describe(DescribeArgs),
    /// Shows a resource: `micro get service NAME` is `micro describe NAME`.
    Get(GetArgs),
    /// Calls an endpoint with a JSON request (argument, or `-` for stdin).
    Call(CallArgs),
    /// Calls a streaming endpoint: requests as JSON lines on stdin,
    /// responses as JSON lines on stdout as they arrive.
    Stream(StreamArgs),
    /// Publishes one JSON message to a topic.
    Publish(PublishArgs),
    /// Prints a topic's messages as JSON lines until Ctrl-C.
    Subscribe(SubscribeArgs),
    /// Asks every node for `Debug.Health`; exit code 1 when any is not ok.
    Health(HealthArgs),
    /// Prints registry changes as they happen, until Ctrl-C.
    Watch(WatchArgs),
    /// Reads, writes and watches the configuration tree in etcd
    /// (`micro config set app/db/host db1`, `micro config get app`).
    Config(ConfigArgs),
    /// Serves services over HTTP/JSON (`/api/...`, `/rpc`, `/openapi.json`)
    /// until Ctrl-C or SIGTERM.
    Gateway(GatewayArgs),
    /// Serves the web dashboard alone (with the `/api/...` routes it calls
    /// through) until Ctrl-C or SIGTERM; the same flags as `gateway`.
    Web(GatewayArgs),
    /// Creates a new service crate that builds and whose test passes.
    New(NewArgs),
    /// Serves the services as MCP tools for AI agents (stdio or Streamable HTTP).
    Mcp(McpArgs),
    /// Makes an HTTP app in any language a service: registers its
    /// endpoints, forwards calls and events to it, serves it /rpc,
    /// /registry and /broker, until Ctrl-C or SIGTERM.
    Sidecar(SidecarArgs),
    /// Answers chat messages (console, IRC, Slack) with the toolkit's commands
    /// and the commands services serve.
    Bot(BotArgs),
    /// Reads and writes a key-value store (file, memory, redis, postgres, etcd).
    Store(StoreArgs),
    /// Prints a shell completion script.
    Completions(CompletionsArgs),
    /// Makes certificates: `micro certs dev` for TLS on one machine.
    Certs(CertsArgs),
    /// `micro SERVICE ENDPOINT --field value`: calls by short names, the
    /// request built from flags.
    #[command(external_subcommand)]
    Dynamic(Vec<String>),
}

/// `micro describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The service: its full name or a unique suffix (`greeter`).
    pub service: String,
}

/// `micro get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to show: `service`.
    pub kind: GetKind,
    /// Its name.
    pub name: String,
}

/// What `micro get` shows.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GetKind {
    /// A service, as `micro describe` shows it.
    Service,
}

/// How a call is made, shared by `call`, `stream` and the dynamic form.
#[derive(Debug, Clone, Default, Args)]
pub struct CallFlags {
    /// Request metadata, `key=value` (repeatable).
    #[arg(short, long = "metadata", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub metadata: Vec<(String, String)>,
    /// The deadline, e.g. `500ms`, `5s`, `1m`.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Call this node (`host:port`) without discovery.
    #[arg(long)]
    pub address: Option<String>,
    /// Only nodes of this service version.
    #[arg(id = "service_version", long = "version", value_name = "VERSION")]
    pub service_version: Option<String>,
    /// How many times a failed call is retried.
    #[arg(long)]
    pub retries: Option<u32>,
}

/// `micro call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The service: its full name or a unique suffix.
    pub service: String,
    /// The endpoint: `Greeter.Hello` or the method name (`hello`).
    pub endpoint: String,
    /// The request as JSON; `-` reads it from stdin; `{}` when left out.
    pub request: Option<String>,
    /// How the call is made.
    #[command(flatten)]
    pub flags: CallFlags,
}

/// `micro stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The service: its full name or a unique suffix.
    pub service: String,
    /// The endpoint: `Greeter.Chat` or the method name (`chat`).
    pub endpoint: String,
    /// One request as JSON instead of stdin's lines.
    pub request: Option<String>,
    /// How the call is made.
    #[command(flatten)]
    pub flags: CallFlags,
}

/// `micro publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The topic.
    pub topic: String,
    /// The message as JSON; `-` reads it from stdin.
    pub message: String,
    /// Message headers, `key=value` (repeatable).
    #[arg(short, long = "metadata", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub metadata: Vec<(String, String)>,
}

/// `micro subscribe`.
#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The topic.
    pub topic: String,
    /// A queue group: each message goes to one member of the group.
    #[arg(long)]
    pub queue: Option<String>,
    /// Let the HTTP broker listen beyond loopback (`--broker-address`),
    /// where anyone who reaches it can post messages.
    #[arg(long)]
    pub insecure: bool,
}

/// `micro health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// One service (full name or unique suffix); every service when left out.
    pub service: Option<String>,
    /// How long each node has to answer.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
}

/// `micro watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this service (full name).
    pub service: Option<String>,
}

/// `micro gateway`.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Where to listen, `host:port` (port 0 picks a free one). Beyond
    /// loopback only with --auth-token or --insecure.
    #[arg(long, env = "MICRO_GATEWAY_ADDRESS", default_value = "127.0.0.1:8080")]
    pub address: String,
    /// Short paths resolve in this namespace first (`/api/greeter/hello`
    /// with `com.example.srv` calls `com.example.srv.greeter`).
    #[arg(long)]
    pub namespace: Option<String>,
    /// The largest request body, in bytes (`4MiB`, `512KiB`, `1000000`);
    /// larger ones answer 413.
    #[arg(long, value_parser = parse_size, default_value = "4MiB")]
    pub max_body: usize,
    /// How long a call may take when the request sets no `Timeout` header.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Only endpoints matching one of these patterns are served
    /// (`Greeter.*`, `*.greeter/Greeter.Hello`; repeatable). Default: all.
    #[arg(long, value_name = "PATTERN")]
    pub allow: Vec<String>,
    /// Endpoints matching these patterns answer 403 (repeatable). Replaces
    /// the default `Debug.*`; `--deny ''` denies nothing.
    #[arg(long, value_name = "PATTERN")]
    pub deny: Vec<String>,
    /// Every route but /health wants `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "MICRO_GATEWAY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<Secret>,
    /// Serve beyond loopback without --auth-token: anyone who reaches the
    /// address can call every allowed endpoint.
    #[arg(long)]
    pub insecure: bool,
    /// Also serve the services as MCP tools (Streamable HTTP) at /mcp, with
    /// the same token.
    #[arg(long)]
    pub mcp: bool,
    /// An origin web pages may call from (`https://app.example.com`, `*`
    /// for any; repeatable). Other web pages get 403. Default: none.
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Vec<String>,
    /// At most this many requests per client address (`100/s`, `6000/m`,
    /// `10000/h`); more answer 429 with `Retry-After`. Default: no limit.
    #[arg(long, env = "MICRO_GATEWAY_RATE_LIMIT", value_name = "COUNT/UNIT")]
    pub rate_limit: Option<micro_gateway::RateLimit>,
    /// The gateway runs behind your own proxy: a client's address is the
    /// last one in `X-Forwarded-For`. Without such a proxy, clients could
    /// pick their own address.
    #[arg(long)]
    pub trust_forwarded: bool,
    /// At most this many calls in flight per service (streams and web
    /// requests count while open); one more answers 503 at once. 0: no
    /// limit.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_concurrent: usize,
    /// Do not serve the web dashboard at `/`.
    #[arg(long)]
    pub no_dashboard: bool,
    /// Serve Prometheus metrics at `/metrics` (behind --auth-token, like
    /// every route but `/health`): HTTP requests by route and status, and
    /// the calls the gateway makes.
    #[arg(long)]
    pub metrics: bool,
}

/// `micro sidecar`.
#[derive(Debug, Clone, Args)]
#[command(group = clap::ArgGroup::new("declared").args(["endpoints", "openapi"]))]
pub struct SidecarArgs {
    /// The service name the app is registered as.
    #[arg(long)]
    pub name: String,
    /// The app's base URL, `http://127.0.0.1:5000`: a call to
    /// `Greeter.Hello` is `POST {app}/Greeter.Hello`.
    #[arg(long, value_name = "URL")]
    pub app: String,
    /// A file listing the app's endpoints (JSON or YAML):
    /// `[{"name": "Greeter.Hello", "request": {JSON Schema}, "response": {...}}]`.
    #[arg(long, value_name = "FILE")]
    pub endpoints: Option<PathBuf>,
    /// The URL of the app's OpenAPI document: each `POST /{Endpoint.Method}`
    /// operation is an endpoint. Default (without --endpoints):
    /// `{app}/openapi.json`.
    #[arg(long, value_name = "URL")]
    pub openapi: Option<String>,
    /// The app's health path (`/health`): 2xx is up. Default: up while it
    /// accepts connections.
    #[arg(long, value_name = "PATH")]
    pub health: Option<String>,
    /// How often the app's health is asked; a failed check deregisters it.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub health_interval: Duration,
    /// The native server's address (what the registry advertises). Default:
    /// MICRO_SERVER_ADDRESS, else any interface.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
    /// The HTTP address for the app (/rpc, /{service}/{endpoint},
    /// /registry, /broker/{topic}, /health). Beyond loopback only with
    /// --insecure.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8082")]
    pub http: String,
    /// A topic delivered to the app: `TOPIC[:QUEUE]=/path` (repeatable).
    #[arg(long, value_name = "TOPIC[:QUEUE]=/PATH")]
    pub subscribe: Vec<String>,
    /// The largest body from the app or to it (`4MiB`, `512KiB`, `1000`).
    #[arg(long, value_parser = parse_size, default_value = "4MiB")]
    pub max_body: usize,
    /// How long a call from the app may take when it sets no `Timeout` header.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Serve the HTTP side (and the HTTP broker) beyond loopback.
    #[arg(long)]
    pub insecure: bool,
}

/// `micro new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service's name, e.g. `orders` (a crate name: letters, digits, `-`, `_`).
    pub name: String,
    /// The directory to create it in (default: `./NAME`).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Depend on the micro crates of this checkout by path instead of by
    /// version (found automatically when `micro` runs from a checkout).
    #[arg(long)]
    pub micro_path: Option<PathBuf>,
}

/// `micro certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// What to make.
    #[command(subcommand)]
    pub command: CertsCommand,
}

/// The `micro certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// A local CA, a server certificate for the hosts and a client
    /// certificate, signed by the CA; prints the MICRO_TLS_* lines to export.
    /// For development only: the CA's key is not kept.
    Dev(CertsDevArgs),
}

/// `micro certs dev`.
#[derive(Debug, Args)]
pub struct CertsDevArgs {
    /// The directory to write them in (created if missing).
    #[arg(long, default_value = "certs")]
    pub dir: PathBuf,
    /// Names and addresses the server certificate is valid for, comma separated.
    #[arg(long, default_value = "localhost,127.0.0.1", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Overwrite certificates and keys already in the directory.
    #[arg(long)]
    pub force: bool,
}

/// `micro completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// The options every command takes, as they are spelled after the dynamic
/// form's words.
const GLOBAL_FLAGS: [&str; 6] = [
    "-o",
    "--output",
    "--registry",
    "--registry-address",
    "--broker",
    "--broker-address",
];

/// Parses the process's arguments.
///
/// # Errors
///
/// clap's error (help and version included).
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses `argv` (with the program first). clap hands the dynamic form's
/// words over unparsed, so options every command takes that follow them
/// (`micro greeter hello --name x -o json`) are moved before the command
/// and parsed again.
///
/// # Errors
///
/// clap's error (help and version included).
pub fn parse_from(
    argv: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
) -> Result<Cli, clap::Error> {
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    let cli = Cli::try_parse_from(&argv)?;
    let Command::Dynamic(words) = &cli.command else {
        return Ok(cli);
    };
    let (mut globals, mut rest) = (Vec::new(), Vec::new());
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        let (flag, value) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => (flag, Some(value)),
            _ if word.starts_with("-o") && !word.starts_with("--") && word.len() > 2 => {
                ("-o", Some(&word[2..]))
            }
            _ => (word.as_str(), None),
        };
        if !GLOBAL_FLAGS.contains(&flag) {
            rest.push(word.clone());
            continue;
        }
        globals.push(flag.to_owned());
        // Without a value, clap says so.
        globals.extend(value.map(str::to_owned).or_else(|| iter.next().cloned()));
    }
    if globals.is_empty() {
        return Ok(cli);
    }
    let before = argv.len() - words.len();
    let reordered: Vec<std::ffi::OsString> = argv[..before]
        .iter()
        .cloned()
        .chain(globals.into_iter().chain(rest).map(Into::into))
        .collect();
    Cli::try_parse_from(reordered)
}

/// `key=value`.
pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `250ms`, `5s`, `2m`, `1h` or plain seconds (`1.5`), as services read
/// their `MICRO_*` durations.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    micro_runtime::parse_duration(text)
        .ok_or_else(|| format!("expected a duration like 500ms, 5s or 1m, got {text:?}"))
}

/// A value never shown: its `Debug` is `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A size in bytes: `1000`, `64KiB`, `4MiB`, `1GiB` (`K`, `KB`, `M`, `MB`,
/// `G`, `GB` are the same powers of 1024).
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "expected a size like 4MiB, 512KiB or 1000, got {text:?}"
            ));
        }
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("expected a size like 4MiB, 512KiB or 1000, got {text:?}"))
}

impl Command {
    /// True for commands that stop themselves on Ctrl-C and SIGTERM
    /// (gracefully, exit code 0) instead of being interrupted.
    pub fn stops_on_signal(&self) -> bool {
        match self {
            Command::Gateway(_) | Command::Web(_) | Command::Sidecar(_) => true,
            Command::Mcp(mcp) => {
                matches!(&mcp.command, McpCommand::Serve(serve) if serve.address.is_some())
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn the_token_is_not_shown() {
        let cli = Cli::try_parse_from(["micro", "gateway", "--auth-token", "s3cret"]).unwrap();
        let Command::Gateway(args) = &cli.command else {
            panic!("{cli:?}");
        };
        assert_eq!(args.auth_token, Some(Secret("s3cret".into())));
        assert!(!format!("{cli:?}").contains("s3cret"));
        assert!(cli.command.stops_on_signal());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("4 lots").is_err());
        assert!(parse_size("99999999999999999999").is_err());
    }

    #[test]
    fn options_after_the_dynamic_form_are_parsed() {
        let cli = parse_from([
            "micro",
            "--broker",
            "memory",
            "greeter",
            "hello",
            "--name",
            "x",
            "-o",
            "json",
            "--registry=etcd",
            "--registry-address",
            "10.0.0.1:2379",
        ])
        .unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.registry, "etcd");
        assert_eq!(
            cli.global.registry_address.as_deref(),
            Some("10.0.0.1:2379")
        );
        assert_eq!(cli.global.broker, "memory");
        let Command::Dynamic(words) = cli.command else {
            panic!("the dynamic form")
        };
        assert_eq!(words, ["greeter", "hello", "--name", "x"]);
        let cli = parse_from(["micro", "greeter", "hello", "-ojson"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert!(parse_from(["micro", "greeter", "hello", "-o", "yaml"]).is_err());
        assert!(parse_from(["micro", "greeter", "hello", "--output"]).is_err());
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_pair("novalue").is_err());
        assert!(parse_pair("=x").is_err());
    }
}
