//! The tools: one per endpoint of every registered service, made from the
//! registry and `Debug.Describe`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use micro_runtime::Client;
use micro_runtime::debug::{Describer, EndpointDescription, ServiceDescription};
use micro_runtime::endpoint::CallKind;
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::json;

use crate::naming::tool_names;
use crate::options::McpOptions;
use crate::schemas::{input_schema, items_schema, messages_schema, parse_object};

/// Live services and their endpoint names: what decides whether the tool
/// list changed.
pub(crate) type Fingerprint = BTreeMap<String, BTreeSet<String>>;

/// One tool and what it calls.
#[derive(Debug, Clone)]
pub(crate) struct ToolEntry {
    /// What `tools/list` shows.
    pub(crate) tool: Tool,
    /// The service it calls.
    pub(crate) service: String,
    /// The endpoint, `Greeter.Hello`.
    pub(crate) endpoint: String,
    /// How it is called.
    pub(crate) kind: CallKind,
    /// Safe to retry.
    pub(crate) idempotent: bool,
}

/// An endpoint that is not a tool, and why.
#[derive(Debug, Clone)]
pub(crate) struct LeftOut {
    /// The service.
    pub(crate) service: String,
    /// The endpoint (empty: the whole service, which did not describe itself).
    pub(crate) endpoint: String,
    /// Why.
    pub(crate) reason: String,
}

/// Every tool at one moment.
#[derive(Debug, Default)]
pub(crate) struct ToolSet {
    /// The tools, sorted by name.
    pub(crate) tools: Vec<ToolEntry>,
    /// Tool name -> index in `tools`.
    by_name: HashMap<String, usize>,
    /// Endpoints that are not tools.
    pub(crate) left_out: Vec<LeftOut>,
    /// The live services when the set was made.
    pub(crate) fingerprint: Fingerprint,
}

impl ToolSet {
    /// The tool named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }
}

/// Live services allowed by `options`, with their newest version and
/// endpoint names.
pub(crate) async fn fingerprint(
    client: &Client,
    options: &McpOptions,
) -> micro_runtime::Result<(Fingerprint, BTreeMap<String, String>)> {
    let mut endpoints = Fingerprint::new();
    let mut newest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for version in client.services().await? {
        if version.nodes.is_empty() || !options.services.allows(&version.name) {
            continue;
        }
        newest
            .entry(version.name.clone())
            .or_default()
            .push(version.version.clone());
        endpoints
            .entry(version.name)
            .or_default()
            .extend(version.endpoints.into_iter().map(|e| e.name));
    }
    let newest = newest
        .into_iter()
        .filter_map(|(name, mut versions)| {
            versions.sort();
            Some((name, versions.pop()?))
        })
        .collect();
    Ok((endpoints, newest))
}

/// The tools of every live service `options` allows, described now
/// (descriptions are cached per version by `describer`).
pub(crate) async fn build(
    client: &Client,
    describer: &Describer,
    options: &McpOptions,
) -> micro_runtime::Result<ToolSet> {
    let (fingerprint, newest) = fingerprint(client, options).await?;
    let answers = join_all(
        newest
            .iter()
            .map(|(name, version)| describer.describe_version(name, version)),
    )
    .await;
    let mut left_out = Vec::new();
    let mut candidates: Vec<(Arc<ServiceDescription>, usize)> = Vec::new();
    for ((name, _), answer) in newest.iter().zip(answers) {
        let description = match answer {
            Ok(description) => description,
            Err(err) => {
                left_out.push(LeftOut {
                    service: name.clone(),
                    endpoint: String::new(),
                    reason: format!("Debug.Describe failed: {} ({})", err.detail(), err.code()),
                });
                continue;
            }
        };
        for i in 0..description.endpoints.len() {
            candidates.push((description.clone(), i));
        }
    }
    let pairs: Vec<(&str, &str)> = candidates
        .iter()
        .map(|(d, i)| (d.name.as_str(), d.endpoints[*i].name.as_str()))
        .collect();
    let names = tool_names(&pairs);
    let mut tools = Vec::new();
    for ((description, i), name) in candidates.iter().zip(names) {
        let endpoint = &description.endpoints[*i];
        if !options.tools.allows_any(&[&endpoint.name, &name]) {
            continue;
        }
        tools.push(entry(description, endpoint, name));
    }
    tools.sort_by(|a, b| a.tool.name.cmp(&b.tool.name));
    let by_name = tools
        .iter()
        .enumerate()
        .map(|(i, t)| (t.tool.name.to_string(), i))
        .collect();
    Ok(ToolSet {
        tools,
        by_name,
        left_out,
        fingerprint,
    })
}

/// The tool of one endpoint.
fn entry(service: &ServiceDescription, endpoint: &EndpointDescription, name: String) -> ToolEntry {
    let kind = CallKind::parse(&endpoint.kind).unwrap_or(CallKind::Unary);
    let mut description = String::new();
    if !endpoint.docs.trim().is_empty() {
        description.push_str(endpoint.docs.trim());
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "Calls {} of service {} (version {}).",
        endpoint.name, service.name, service.version
    ));
    description.push_str(match kind {
        CallKind::Unary => "",
        CallKind::ServerStreaming => {
            " Server streaming: the result's `items` holds the messages, \
             `truncated` tells whether the stream was cut at the limit."
        }
        CallKind::ClientStreaming => {
            " Client streaming: `messages` holds the requests, sent in order; \
             the result is the one response."
        }
        CallKind::Bidi => {
            " Bidirectional streaming: `messages` holds the requests, sent in \
             order; the result's `items` holds the messages answered, \
             `truncated` tells whether the stream was cut at the limit."
        }
    });
    let streams_in = matches!(kind, CallKind::ClientStreaming | CallKind::Bidi);
    let streams_out = matches!(kind, CallKind::ServerStreaming | CallKind::Bidi);
    let input = if streams_in {
        messages_schema(&endpoint.request_schema)
    } else {
        input_schema(&endpoint.request_schema)
    };
    let response =
        parse_object(&endpoint.response_schema).filter(|s| s.get("type") == Some(&json!("object")));
    let output = if streams_out {
        response.map(items_schema)
    } else {
        response
    };
    let mut tool = Tool::new(name, description, input).with_title(endpoint.name.clone());
    if let Some(output) = output {
        tool = tool.with_raw_output_schema(Arc::new(output));
    }
    tool = tool.with_annotations(
        ToolAnnotations::with_title(endpoint.name.clone())
            .read_only(endpoint.idempotent)
            .idempotent(endpoint.idempotent)
            .destructive(!endpoint.idempotent)
            .open_world(false),
    );
    ToolEntry {
        tool,
        service: service.name.clone(),
        endpoint: endpoint.name.clone(),
        kind,
        idempotent: endpoint.idempotent,
    }
}
