//! `micro health [SERVICE]`: `Debug.Health` of every node, one line each
//! with its latency; exit code 1 when any node is unhealthy or unreachable.

use std::time::Duration;

use futures_util::future::join_all;
use micro_runtime::debug::probe_health;
use micro_runtime::{Client, Error};
use serde::Serialize;

use super::target::service_name;
use crate::args::HealthArgs;
use crate::failure::{Failure, Outcome};
use crate::output::Table;
use crate::session::Session;

/// One node's answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    service: String,
    version: String,
    node: String,
    address: String,
    /// `ok`, or what went wrong.
    status: String,
    healthy: bool,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Error>,
}

pub(crate) async fn run(session: &Session, args: HealthArgs) -> Outcome {
    let client = session.client()?;
    let only = match &args.service {
        Some(wanted) => Some(service_name(session, wanted).await?),
        None => None,
    };
    let services: Vec<_> = client
        .services()
        .await?
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|name| *name == s.name))
        .collect();
    let checks = services.iter().flat_map(|service| {
        service.nodes.iter().map(move |node| {
            check(
                client,
                &service.name,
                &service.version,
                &node.id,
                &node.address,
                args.timeout,
            )
        })
    });
    let checks = join_all(checks).await;
    let unhealthy = checks.iter().filter(|c| !c.healthy).count();
    if session.out.json() {
        session.out.print_json(&checks)?;
    } else if checks.is_empty() {
        session.out.line("no services are registered")?;
    } else {
        let mut table = Table::new(&["STATUS", "SERVICE", "VERSION", "NODE", "ADDRESS", "LATENCY"]);
        for c in &checks {
            table.row(vec![
                session.out.verdict(c.healthy, &c.status),
                c.service.clone(),
                c.version.clone(),
                c.node.clone(),
                c.address.clone(),
                format!("{:.1}ms", c.latency_ms),
            ]);
        }
        session.out.line(&table.render())?;
    }
    if unhealthy > 0 {
        return Err(Failure::from_error(&Error::unavailable(format!(
            "{unhealthy} of {} nodes are not healthy",
            checks.len()
        ))));
    }
    Ok(())
}

async fn check(
    client: &Client,
    service: &str,
    version: &str,
    node: &str,
    address: &str,
    timeout: Duration,
) -> Check {
    let answer = probe_health(client, service, address, timeout).await;
    let (status, healthy, error) = (answer.status, answer.healthy, answer.error);
    let latency_ms = answer.latency.as_secs_f64() * 1000.0;
    Check {
        service: service.to_owned(),
        version: version.to_owned(),
        node: node.to_owned(),
        address: address.to_owned(),
        status,
        healthy,
        latency_ms,
        error,
    }
}
