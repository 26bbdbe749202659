//! `micro gateway` (and `micro web`, the dashboard alone): micro-gateway's
//! router on an address, until Ctrl-C or SIGTERM. All the gateway's
//! behaviour lives in micro-gateway; this only turns flags into options.

use std::io::Write;

use micro_gateway::GatewayOptions;

use super::drain::{self, DRAIN};
use crate::args::GatewayArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

/// What to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Serve {
    /// Every route, and the dashboard unless `--no-dashboard`.
    Gateway,
    /// The dashboard and the routes it calls through (`micro web`).
    Dashboard,
}

pub(crate) async fn run(session: &Session, args: GatewayArgs, serve: Serve) -> Outcome {
    if serve == Serve::Dashboard && (args.mcp || args.no_dashboard) {
        return Err(Failure::bad_request(
            "micro web serves the dashboard: --mcp and --no-dashboard are for micro gateway",
        ));
    }
    #[cfg(not(feature = "metrics"))]
    if args.metrics {
        return Err(Failure::bad_request(
            "--metrics needs the cargo feature `metrics` of micro-cli (on by default)",
        ));
    }
    let options = options(args.clone());
    // Refused (an open address without a token) before anything is bound
    // or discovered.
    let listener = micro_gateway::listen(&args.address, &options).await?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::local(format!("cannot listen on {}: {e}", args.address)))?;
    let client = client_with_broker(session, args.insecure)?;
    // Descriptions are fetched with the session's token (`--token`,
    // MICRO_AUTH_TOKEN); callers' calls go without it.
    let options = options.describe_client(session.client()?.clone());
    let (mut router, what) = match serve {
        Serve::Gateway => (micro_gateway::router(client, options), "gateway"),
        Serve::Dashboard => (
            micro_gateway::dashboard_router(client, options),
            "web dashboard",
        ),
    };
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
        println!("{what} listening on http://{address}");
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

/// The session's client with a broker, for the dashboard's events page
/// (publish and live tail); the HTTP broker listens on loopback unless
/// `insecure`.
fn client_with_broker(session: &Session, insecure: bool) -> Outcome<micro_runtime::Client> {
    let client = session.client()?;
    let builder = micro_runtime::Client::builder()
        .registry(client.registry().clone())
        .transport(micro_runtime::defaults::transport_from_env()?)
        .selector(micro_runtime::defaults::selector_from_env()?)
        .options(client.options().clone())
        .broker(session.broker(Some(insecure))?);
    Ok(crate::session::traced(builder)?.build()?)
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
        .max_concurrent(args.max_concurrent)
        .dashboard(!args.no_dashboard);
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
    #[cfg(feature = "metrics")]
    if args.metrics {
        options = options.metrics(micro_runtime::metrics::Metrics::new());
    }
    options
}
