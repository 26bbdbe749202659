//! `micro sidecar`: micro-sidecar in front of an HTTP app, until Ctrl-C or
//! SIGTERM. All the behaviour lives in micro-sidecar; this turns flags
//! into options and backends.

use std::io::Write;

use micro_runtime::{Error, Service};
use micro_sidecar::{Sidecar, SidecarOptions, Subscription};

use super::drain::{self, DRAIN};
use crate::args::SidecarArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: SidecarArgs) -> Outcome {
    let subscriptions = args
        .subscribe
        .iter()
        .map(|s| s.parse::<Subscription>())
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(health) = &args.health
        && !health.starts_with('/')
    {
        return Err(Failure::bad_request(format!(
            "--health {health:?} must be a path such as /health"
        )));
    }
    let endpoints = match (&args.endpoints, &args.openapi) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Failure::local(format!("cannot read {}: {e}", file.display())))?;
            micro_sidecar::endpoints::from_file(&file.display().to_string(), &text)?
        }
        (None, Some(url)) => micro_sidecar::endpoints::from_openapi_url(url).await?,
        (None, None) => {
            let url = format!("{}/openapi.json", args.app.trim_end_matches('/'));
            micro_sidecar::endpoints::from_openapi_url(&url)
                .await
                .map_err(|e| {
                    Error::new(
                        e.code(),
                        format!("{} (or give --endpoints FILE or --openapi URL)", e.detail()),
                    )
                })?
        }
    };
    let mut options = SidecarOptions::new(args.app.clone(), endpoints);
    options.subscriptions = subscriptions;
    options.health = args.health.clone();
    options.health_interval = args.health_interval;
    options.max_body = args.max_body;
    options.timeout = args.timeout;
    options.insecure = args.insecure;
    // Refused (an open address without --insecure) before anything is bound.
    let listener = micro_sidecar::listen(&args.http, &options).await?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::local(format!("cannot listen on {}: {e}", args.http)))?;
    let client = session.client()?;
    let mut builder = Service::builder()
        .name(&args.name)
        .registry(client.registry().clone())
        .broker(session.broker(Some(args.insecure))?)
        .client_options(client.options().clone());
    if let Some(native) = &args.address {
        builder = builder.address(native);
    }
    let sidecar = Sidecar::new(builder, options)?;
    let signal = drain::signal();
    if session.out.json() {
        println!(
            "{}",
            serde_json::json!({ "service": args.name, "app": args.app,
                "listening": format!("http://{address}") })
        );
    } else {
        println!(
            "sidecar for {} (app {}) listening on http://{address}",
            args.name, args.app
        );
    }
    let _ = std::io::stdout().flush();
    let served = sidecar.run(listener, signal.clone());
    match drain::bounded(served, signal, DRAIN).await {
        Some(served) => Ok(served?),
        None => {
            eprintln!("micro: stopped with requests still in flight");
            Ok(())
        }
    }
}
