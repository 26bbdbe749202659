//! `micro services`: every service with its versions, nodes and endpoints.

use std::collections::BTreeMap;

use micro_runtime::registry::Service;
use serde::Serialize;

use crate::failure::Outcome;
use crate::output::Table;
use crate::session::Session;

/// One service in `--output json`.
#[derive(Debug, Serialize)]
struct Summary {
    name: String,
    versions: Vec<String>,
    nodes: usize,
    endpoints: usize,
}

pub(crate) async fn run(session: &Session) -> Outcome {
    let services = session.client()?.services().await?;
    let summaries = summarise(&services);
    if session.out.json() {
        return session.out.print_json(&summaries);
    }
    if summaries.is_empty() {
        return session.out.line("no services are registered");
    }
    let mut table = Table::new(&["NAME", "VERSIONS", "NODES", "ENDPOINTS"]);
    for s in &summaries {
        table.row(vec![
            s.name.clone(),
            s.versions.join(", "),
            s.nodes.to_string(),
            s.endpoints.to_string(),
        ]);
    }
    session.out.line(&table.render())
}

/// One summary per name, versions in order; endpoints counted once across
/// versions, without the built-in `Debug.*` ones and subscriptions.
fn summarise(services: &[Service]) -> Vec<Summary> {
    let mut by_name: BTreeMap<&str, (Vec<String>, usize, Vec<&str>)> = BTreeMap::new();
    for service in services {
        let entry = by_name.entry(&service.name).or_default();
        entry.0.push(service.version.clone());
        entry.1 += service.nodes.len();
        entry.2.extend(
            service
                .endpoints
                .iter()
                .filter(|e| is_callable(e))
                .map(|e| e.name.as_str()),
        );
    }
    by_name
        .into_iter()
        .map(|(name, (mut versions, nodes, mut endpoints))| {
            versions.sort();
            versions.dedup();
            endpoints.sort_unstable();
            endpoints.dedup();
            Summary {
                name: name.to_owned(),
                versions,
                nodes,
                endpoints: endpoints.len(),
            }
        })
        .collect()
}

/// An endpoint a user calls: not `Debug.*`, not a subscription.
pub(crate) fn is_callable(endpoint: &micro_runtime::registry::Endpoint) -> bool {
    !endpoint.name.starts_with("Debug.") && !endpoint.metadata.contains_key("subscriber")
}
