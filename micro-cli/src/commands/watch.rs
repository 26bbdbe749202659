//! `micro watch [SERVICE]`: registry changes as they happen, as nodes
//! coming up and going down and services appearing and leaving.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use micro_runtime::registry::{Action, Event, Service};
use serde::Serialize;

use crate::args::WatchArgs;
use crate::failure::Outcome;
use crate::session::Session;

/// One change, as printed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    /// Milliseconds since the Unix epoch.
    at_ms: u64,
    /// `service added`, `node up`, `node updated`, `node down` or `service removed`.
    event: &'static str,
    service: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
}

/// Nodes known per (service, version), with their address and metadata.
type Known = BTreeMap<(String, String), BTreeMap<String, String>>;

pub(crate) async fn run(session: &Session, args: WatchArgs) -> Outcome {
    let client = session.client()?;
    let mut watcher = client.watch(args.service.as_deref()).await?;
    let mut known = Known::new();
    for service in client.services().await? {
        if args.service.as_ref().is_none_or(|s| *s == service.name) {
            remember(&mut known, &service);
        }
    }
    // On stderr in both formats: changes from here on are printed.
    eprintln!(
        "watching {} (Ctrl-C to stop)",
        args.service.as_deref().unwrap_or("every service")
    );
    loop {
        let event = watcher.next().await?;
        for change in changes(&mut known, &event) {
            print(session, &change)?;
        }
    }
}

fn remember(known: &mut Known, service: &Service) {
    let nodes = known
        .entry((service.name.clone(), service.version.clone()))
        .or_default();
    for node in &service.nodes {
        nodes.insert(node.id.clone(), fingerprint(node));
    }
}

fn fingerprint(node: &micro_runtime::registry::Node) -> String {
    format!("{} {:?}", node.address, node.metadata)
}

/// What `event` changes in `known`; refreshes of unchanged nodes say nothing.
fn changes(known: &mut Known, event: &Event) -> Vec<Change> {
    let service = &event.service;
    let key = (service.name.clone(), service.version.clone());
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let change = |event: &'static str, node: Option<&micro_runtime::registry::Node>| Change {
        at_ms,
        event,
        service: service.name.clone(),
        version: service.version.clone(),
        node: node.map(|n| n.id.clone()),
        address: node.map(|n| n.address.clone()),
    };
    let mut out = Vec::new();
    match event.action {
        Action::Create | Action::Update => {
            if !known.contains_key(&key) {
                out.push(change("service added", None));
            }
            let nodes = known.entry(key).or_default();
            for node in &service.nodes {
                let print = fingerprint(node);
                match nodes.insert(node.id.clone(), print.clone()) {
                    None => out.push(change("node up", Some(node))),
                    Some(old) if old != print => out.push(change("node updated", Some(node))),
                    Some(_) => {}
                }
            }
        }
        Action::Delete => {
            let Some(nodes) = known.get_mut(&key) else {
                return out;
            };
            // A delete that names no node removes them all.
            let gone: Vec<micro_runtime::registry::Node> = if service.nodes.is_empty() {
                nodes
                    .iter()
                    .map(|(id, print)| micro_runtime::registry::Node {
                        id: id.clone(),
                        address: print.split(' ').next().unwrap_or_default().to_owned(),
                        metadata: BTreeMap::new(),
                    })
                    .collect()
            } else {
                service.nodes.clone()
            };
            for node in &gone {
                if nodes.remove(&node.id).is_some() {
                    out.push(change("node down", Some(node)));
                }
            }
            if nodes.is_empty() {
                known.remove(&key);
                out.push(change("service removed", None));
            }
        }
    }
    out
}

fn print(session: &Session, change: &Change) -> Outcome {
    if session.out.json() {
        return session.out.print_json_line(change);
    }
    let seconds = change.at_ms / 1000;
    let clock = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    );
    let good = matches!(change.event, "service added" | "node up" | "node updated");
    let mut line = format!(
        "{}  {:<15}  {} {}",
        session.out.dim(&clock),
        session.out.verdict(good, change.event),
        change.service,
        change.version
    );
    if let (Some(node), Some(address)) = (&change.node, &change.address) {
        line.push_str(&format!("  {node} {address}"));
    }
    session.out.line(&line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_runtime::registry::Node;

    fn event(action: Action, nodes: &[(&str, &str)]) -> Event {
        Event {
            action,
            service: Service {
                name: "s".into(),
                version: "1".into(),
                nodes: nodes
                    .iter()
                    .map(|(id, address)| Node {
                        id: (*id).into(),
                        address: (*address).into(),
                        metadata: BTreeMap::new(),
                    })
                    .collect(),
                ..Service::default()
            },
        }
    }

    fn names(changes: Vec<Change>) -> Vec<&'static str> {
        changes.into_iter().map(|c| c.event).collect()
    }

    #[test]
    fn nodes_come_and_go() {
        let mut known = Known::new();
        let up = event(Action::Create, &[("a", "1:1")]);
        assert_eq!(
            names(changes(&mut known, &up)),
            ["service added", "node up"]
        );
        let refresh = event(Action::Update, &[("a", "1:1")]);
        assert!(changes(&mut known, &refresh).is_empty());
        let second = event(Action::Update, &[("b", "1:2")]);
        assert_eq!(names(changes(&mut known, &second)), ["node up"]);
        let moved = event(Action::Update, &[("b", "1:3")]);
        assert_eq!(names(changes(&mut known, &moved)), ["node updated"]);
        let down = event(Action::Delete, &[("a", "1:1")]);
        assert_eq!(names(changes(&mut known, &down)), ["node down"]);
        let last = event(Action::Delete, &[("b", "1:3")]);
        assert_eq!(
            names(changes(&mut known, &last)),
            ["node down", "service removed"]
        );
    }
}
