//! `micro describe SERVICE`: versions, nodes, endpoints with their fields
//! as a tree, and subscriptions.

use micro_runtime::debug::{EndpointDescription, ServiceDescription};
use micro_runtime::registry::{Node, Service};
use serde::Serialize;
use serde_json::Value;

use super::services::is_callable;
use super::target::service_name;
use crate::failure::Outcome;
use crate::output::{Output, Table};
use crate::schema::{self, Field};
use crate::session::Session;

/// One version in `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    version: String,
    nodes: Vec<Node>,
    endpoints: Vec<Endpoint>,
    subscriptions: Vec<Subscription>,
    /// False when the service did not answer `Debug.Describe`: endpoints
    /// then come from the registry, without fields.
    described: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    name: String,
    kind: String,
    docs: String,
    idempotent: bool,
    timeout_ms: Option<u64>,
    request_type: String,
    response_type: String,
    request_fields: Vec<Field>,
    response_fields: Vec<Field>,
    request_schema: Value,
    response_schema: Value,
}

#[derive(Debug, Serialize)]
struct Subscription {
    topic: String,
    queue: Option<String>,
    #[serde(rename = "messageType")]
    message_type: String,
}

pub(crate) async fn run(session: &Session, wanted: &str) -> Outcome {
    let name = service_name(session, wanted).await?;
    let records: Vec<Service> = session
        .client()?
        .services()
        .await?
        .into_iter()
        .filter(|s| s.name == name)
        .collect();
    let describer = session.describer()?;
    let mut versions = Vec::new();
    for record in records {
        let described = describer.describe_version(&name, &record.version).await;
        versions.push(version(record, described.ok().as_deref()));
    }
    if session.out.json() {
        return session
            .out
            .print_json(&serde_json::json!({ "name": name, "versions": versions }));
    }
    let text = versions
        .iter()
        .map(|v| render(&session.out, &name, v))
        .collect::<Vec<_>>()
        .join("\n\n");
    session.out.line(&text)
}

fn version(record: Service, described: Option<&ServiceDescription>) -> Version {
    let Some(description) = described else {
        // From the registry alone.
        let endpoints = record
            .endpoints
            .iter()
            .filter(|e| is_callable(e))
            .map(|e| Endpoint {
                name: e.name.clone(),
                kind: e.metadata.get("stream").cloned().unwrap_or("unary".into()),
                docs: e.metadata.get("description").cloned().unwrap_or_default(),
                idempotent: e.metadata.get("idempotent").is_some_and(|v| v == "true"),
                timeout_ms: e.metadata.get("timeout_ms").and_then(|v| v.parse().ok()),
                request_type: e.request.clone(),
                response_type: e.response.clone(),
                request_fields: Vec::new(),
                response_fields: Vec::new(),
                request_schema: Value::Null,
                response_schema: Value::Null,
            })
            .collect();
        let subscriptions = record
            .endpoints
            .iter()
            .filter_map(|e| {
                Some(Subscription {
                    topic: e.metadata.get("topic")?.clone(),
                    queue: e.metadata.get("queue").cloned(),
                    message_type: e.request.clone(),
                })
            })
            .collect();
        return Version {
            version: record.version,
            nodes: record.nodes,
            endpoints,
            subscriptions,
            described: false,
        };
    };
    Version {
        version: record.version,
        nodes: record.nodes,
        endpoints: description.endpoints.iter().map(endpoint).collect(),
        subscriptions: description
            .subscriptions
            .iter()
            .map(|s| Subscription {
                topic: s.topic.clone(),
                queue: s.queue.clone(),
                message_type: s.message_type.clone(),
            })
            .collect(),
        described: true,
    }
}

fn endpoint(e: &EndpointDescription) -> Endpoint {
    let request: Value = serde_json::from_str(&e.request_schema).unwrap_or(Value::Null);
    let response: Value = serde_json::from_str(&e.response_schema).unwrap_or(Value::Null);
    Endpoint {
        name: e.name.clone(),
        kind: e.kind.clone(),
        docs: e.docs.clone(),
        idempotent: e.idempotent,
        timeout_ms: e.timeout_ms,
        request_type: e.request_type.clone(),
        response_type: e.response_type.clone(),
        request_fields: schema::fields(&request),
        response_fields: schema::fields(&response),
        request_schema: request,
        response_schema: response,
    }
}

fn render(out: &Output, name: &str, version: &Version) -> String {
    let mut text = format!(
        "{} {}  {}\n",
        out.bold("service"),
        name,
        out.dim(&format!("version {}", version.version))
    );
    text.push_str(&format!("\n{}\n", out.bold("nodes")));
    let mut nodes = Table::new(&["ID", "ADDRESS", "METADATA"]);
    for node in &version.nodes {
        let metadata: Vec<String> = node
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        nodes.row(vec![
            node.id.clone(),
            node.address.clone(),
            metadata.join(" "),
        ]);
    }
    text.push_str(&indent(&nodes.render(), 1));
    text.push_str(&format!("\n\n{}\n", out.bold("endpoints")));
    if version.endpoints.is_empty() {
        text.push_str("  (none)\n");
    }
    for e in &version.endpoints {
        let mut traits = vec![e.kind.clone()];
        if e.idempotent {
            traits.push("idempotent".into());
        }
        if let Some(ms) = e.timeout_ms {
            traits.push(format!("timeout {ms}ms"));
        }
        text.push_str(&format!(
            "  {}  {}\n",
            out.bold(&e.name),
            out.dim(&traits.join(", "))
        ));
        if !e.docs.is_empty() {
            text.push_str(&indent(&e.docs, 2));
            text.push('\n');
        }
        for (label, ty, fields) in [
            ("request", &e.request_type, &e.request_fields),
            ("response", &e.response_type, &e.response_fields),
        ] {
            text.push_str(&format!("    {label} {ty}\n"));
            text.push_str(&field_tree(fields, 3));
        }
    }
    if !version.described {
        text.push_str(&out.dim("  (the service does not answer Debug.Describe: fields unknown)\n"));
    }
    if !version.subscriptions.is_empty() {
        text.push_str(&format!("\n{}\n", out.bold("subscriptions")));
        let mut subs = Table::new(&["TOPIC", "QUEUE", "MESSAGE"]);
        for s in &version.subscriptions {
            subs.row(vec![
                s.topic.clone(),
                s.queue.clone().unwrap_or_else(|| "-".into()),
                s.message_type.clone(),
            ]);
        }
        text.push_str(&indent(&subs.render(), 1));
    }
    text.trim_end().to_owned()
}

/// Fields as aligned lines, nested ones indented, at `level`.
pub(crate) fn field_tree(fields: &[Field], level: usize) -> String {
    let mut table = Table::plain();
    for f in fields {
        table.row(vec![
            format!("{}{}", "  ".repeat(f.depth), f.name),
            f.kind.clone(),
            f.description.lines().next().unwrap_or_default().to_owned(),
        ]);
    }
    if fields.is_empty() {
        return String::new();
    }
    format!("{}\n", indent(&table.render(), level))
}

fn indent(text: &str, level: usize) -> String {
    let pad = "  ".repeat(level);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
