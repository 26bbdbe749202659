//! `micro mcp`: the services as MCP tools for AI agents.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{Secret, parse_duration};

/// `micro mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: McpCommand,
}

/// The `micro mcp` commands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serves the tools over MCP: stdio, or Streamable HTTP at /mcp with `--address`.
    Serve(McpServeArgs),
    /// Lists the tools with their schemas (and the services left out, with why).
    List(McpFlags),
    /// Calls one tool with JSON arguments, as an agent would.
    Call(McpCallArgs),
}

/// What is exposed and how tools call, shared by the `micro mcp` commands.
#[derive(Debug, Clone, Args)]
pub struct McpFlags {
    /// Services to expose: patterns with `*`, `!` to exclude (repeatable, comma separated).
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub services: Vec<String>,
    /// Endpoints or tool names to expose, like `Greeter.*` or `!*.Delete`
    /// (repeatable, comma separated); `Debug.*` is always left out.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub tools: Vec<String>,
    /// How many messages a tool collects from a stream of responses.
    #[arg(long, default_value_t = 100)]
    pub max_stream_items: usize,
    /// The deadline of each call, e.g. `5s`.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

/// `micro mcp serve`.
#[derive(Debug, Args)]
pub struct McpServeArgs {
    /// Serve Streamable HTTP at /mcp on this address (`host:port`; port 0
    /// picks a free one) instead of stdio. Beyond loopback only with
    /// --auth-token or --insecure.
    #[arg(long, env = "MICRO_MCP_ADDRESS")]
    pub address: Option<String>,
    /// HTTP clients must send `Authorization: Bearer TOKEN`.
    #[arg(
        long,
        env = "MICRO_MCP_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub auth_token: Option<Secret>,
    /// Serve beyond loopback without --auth-token: anyone who reaches the
    /// address can call every exposed endpoint.
    #[arg(long)]
    pub insecure: bool,
    /// What is exposed.
    #[command(flatten)]
    pub flags: McpFlags,
}

/// `micro mcp call`.
#[derive(Debug, Args)]
pub struct McpCallArgs {
    /// The tool's name, as `micro mcp list` shows it.
    pub tool: String,
    /// The arguments as a JSON object; `-` reads them from stdin; `{}` when left out.
    pub arguments: Option<String>,
    /// What is exposed.
    #[command(flatten)]
    pub flags: McpFlags,
}
