//! `micro mcp serve | list | call`: the services as MCP tools (micro-mcp).

use std::net::SocketAddr;
use std::time::Duration;

use micro_mcp::{Filter, HttpOptions, McpOptions, McpServer};
use micro_runtime::Error;
use serde_json::{Value, json};

use super::drain::{self, DRAIN};
use super::input::argument_or_stdin;
use crate::args::{McpArgs, McpCallArgs, McpCommand, McpFlags, McpServeArgs};
use crate::failure::{Failure, Outcome};
use crate::output::Table;
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: McpArgs) -> Outcome {
    match args.command {
        McpCommand::Serve(args) => serve(session, args).await,
        McpCommand::List(flags) => list(session, &flags).await,
        McpCommand::Call(args) => call(session, args).await,
    }
}

fn server(session: &Session, flags: &McpFlags) -> Outcome<McpServer> {
    let mut options = McpOptions::default()
        .services(Filter::parse(&flags.services))
        .max_stream_items(flags.max_stream_items);
    options.tools = options.tools.and(Filter::parse(&flags.tools));
    if let Some(timeout) = flags.timeout {
        options = options.timeout(timeout);
    }
    Ok(McpServer::new(session.client()?.clone(), options))
}

async fn serve(session: &Session, args: McpServeArgs) -> Outcome {
    let server = server(session, &args.flags)?;
    let Some(address) = args.address else {
        return micro_mcp::serve_stdio(server)
            .await
            .map_err(|e| Failure::local(format!("mcp over stdio: {e}")));
    };
    let token = args.auth_token.map(|t| t.0).filter(|t| !t.is_empty());
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(&address)
        .await
        .map_err(|e| Failure::bad_request(format!("mcp address {address:?}: {e}")))?
        .collect();
    let open = addresses.iter().find(|a| !a.ip().is_loopback());
    if let Some(open) = open
        && token.is_none()
        && !args.insecure
    {
        return Err(Failure::bad_request(format!(
            "refusing to listen on {address} ({}) without an auth token: anyone who reaches \
             it could call every service; set a token (--auth-token or MICRO_MCP_TOKEN), \
             listen on 127.0.0.1, or pass --insecure",
            open.ip()
        )));
    }
    let listener = tokio::net::TcpListener::bind(&addresses[..])
        .await
        .map_err(|e| Failure::bad_request(format!("cannot listen on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::local(format!("cannot listen on {address}: {e}")))?;
    let options = HttpOptions {
        auth_token: token,
        allowed_hosts: Vec::new(),
        // Names other than localhost only with a token, or when asked.
        any_host: open.is_some(),
    };
    let signal = drain::signal();
    let url = format!("http://{bound}/mcp");
    if session.out.json() {
        session.out.print_json(&json!({ "listening": url }))?;
    } else {
        session.out.line(&format!("mcp listening on {url}"))?;
    }
    let served = micro_mcp::serve_http(listener, server, options, signal.clone(), DRAIN);
    // micro-mcp drains for DRAIN; a little more before giving up on it.
    let stopped = drain::bounded(served, signal, DRAIN + Duration::from_secs(2))
        .await
        .transpose()
        .map_err(|e| Failure::local(format!("serving on {bound}: {e}")))?;
    match stopped {
        Some(stopped) if stopped.cut_short == 0 => Ok(()),
        Some(stopped) => {
            eprintln!(
                "micro: stopped with {} requests still in flight",
                stopped.cut_short
            );
            Ok(())
        }
        None => {
            eprintln!("micro: stopped with requests still in flight");
            Ok(())
        }
    }
}

async fn list(session: &Session, flags: &McpFlags) -> Outcome {
    let listing = server(session, flags)?.list().await?;
    if session.out.json() {
        let left_out: Vec<Value> = listing
            .left_out
            .iter()
            .map(|(service, endpoint, reason)| {
                json!({"service": service, "endpoint": endpoint, "reason": reason})
            })
            .collect();
        return session
            .out
            .print_json(&json!({"tools": listing.tools, "left_out": left_out}));
    }
    if listing.tools.is_empty() {
        session
            .out
            .line("no tools: no service is registered (or none passes the filters)")?;
    } else {
        let mut table = Table::new(&["TOOL", "ENDPOINT", "HINTS", "INPUT"]);
        for tool in &listing.tools {
            let hints = tool
                .annotations
                .as_ref()
                .map(|a| {
                    let mut hints = Vec::new();
                    if a.read_only_hint == Some(true) {
                        hints.push("read-only");
                    }
                    if a.idempotent_hint == Some(true) {
                        hints.push("idempotent");
                    }
                    hints.join(", ")
                })
                .unwrap_or_default();
            table.row(vec![
                tool.name.to_string(),
                tool.title.clone().unwrap_or_default(),
                hints,
                fields(&Value::Object((*tool.input_schema).clone())),
            ]);
        }
        session.out.line(&table.render())?;
    }
    for (service, endpoint, reason) in &listing.left_out {
        let what = if endpoint.is_empty() {
            service.clone()
        } else {
            format!("{service} {endpoint}")
        };
        session
            .out
            .line(&session.out.dim(&format!("left out: {what}: {reason}")))?;
    }
    Ok(())
}

/// The top-level fields of an input schema, `name: string, age: integer`.
fn fields(schema: &Value) -> String {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    properties
        .iter()
        .map(|(name, p)| {
            let kind = p
                .get("type")
                .map(|t| match t {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "object".into());
            format!("{name}: {kind}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn call(session: &Session, args: McpCallArgs) -> Outcome {
    let text = argument_or_stdin(args.arguments.as_deref(), "{}").await?;
    let arguments = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(Failure::bad_request("the arguments must be a JSON object")),
        Err(e) => {
            return Err(Failure::bad_request(format!(
                "the arguments are not JSON: {e}"
            )));
        }
    };
    let result = server(session, &args.flags)?
        .call(&args.tool, Some(arguments))
        .await?;
    if result.is_error == Some(true) {
        let meta = result.meta.as_ref().map(|m| &m.0);
        let code = meta
            .and_then(|m| m.get("code"))
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(500);
        let detail = meta
            .and_then(|m| m.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("the tool failed");
        return Err(Failure::from_error(&Error::new(code, detail)));
    }
    if session.out.json() {
        return session.out.print_json(&result);
    }
    match &result.structured_content {
        Some(value) => session.out.print_json(value),
        None => {
            for block in &result.content {
                if let Some(text) = block.as_text() {
                    session.out.line(&text.text)?;
                }
            }
            Ok(())
        }
    }
}
