//! `micro gateway`: micro-gateway's router on an address, until Ctrl-C or
//! SIGTERM. All the gateway's behaviour lives in micro-gateway; this only
//! turns flags into options.

use std::io::Write;

use micro_gateway::GatewayOptions;

use super::drain::{self, DRAIN};
use crate::args::GatewayArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: GatewayArgs) -> Outcome {
    let options = options(args.clone());
    // Refused (an open address without a token) before anything is bound
    // or discovered.
    let listener = micro_gateway::listen(&args.address, &options).await?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::local(format!("cannot listen on {}: {e}", args.address)))?;
    let mut router = micro_gateway::router(session.client()?.clone(), options);
    if args.mcp {
        router = router.merge(mcp_router(session, &args, address)?);
    }
    let signal = drain::signal();
    if session.out.json() {
        println!(
            "{}",
            serde_json::json!({ "listening": format!("http://{address}") })
        );
    } else {
        println!("gateway listening on http://{address}");
    }
    let _ = std::io::stdout().flush();

    let served = micro_gateway::serve(listener, router, signal.clone());
    match drain::bounded(served, signal, DRAIN).await {
        Some(served) => {
            served.map_err(|e| Failure::local(format!("the gateway on {address} failed: {e}")))
        }
        None => {
            eprintln!("micro: stopped with requests still in flight");
            Ok(())
        }
    }
}

/// micro-mcp's Streamable HTTP endpoint at /mcp, behind the gateway's token.
fn mcp_router(
    session: &Session,
    args: &GatewayArgs,
    address: std::net::SocketAddr,
) -> Outcome<micro_gateway::Router> {
    let server =
        micro_mcp::McpServer::new(session.client()?.clone(), micro_mcp::McpOptions::default());
    let token = args.auth_token.as_ref().map(|t| t.0.clone());
    let options = micro_mcp::HttpOptions {
        // Without a token, only requests addressed to loopback names (DNS rebinding).
        any_host: token.is_some() || !address.ip().is_loopback(),
        auth_token: token,
        allowed_hosts: Vec::new(),
    };
    Ok(micro_mcp::router_with(server, options))
}

/// The flags as gateway options.
fn options(args: GatewayArgs) -> GatewayOptions {
    let mut options = GatewayOptions::new()
        .max_body(args.max_body)
        .timeout(args.timeout)
        .allow(args.allow)
        .insecure(args.insecure)
        .cors_origins(&args.cors_origin)
        .trust_forwarded(args.trust_forwarded)
        .max_concurrent(args.max_concurrent);
    if let Some(namespace) = args.namespace {
        options = options.namespace(namespace);
    }
    if !args.deny.is_empty() {
        options = options.deny(args.deny.into_iter().filter(|p| !p.is_empty()));
    }
    if let Some(rate) = args.rate_limit {
        options = options.rate_limit(rate);
    }
    if let Some(token) = args.auth_token {
        options = options.auth_token(token.0);
    }
    options
}
