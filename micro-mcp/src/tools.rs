//! The tools: one per unary and server-streaming endpoint of every
//! registered service, made from the registry and `Debug.Describe`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use micro_runtime::Client;
use micro_runtime::debug::{Describer, EndpointDescription, ServiceDescription};
use micro_runtime::endpoint::CallKind;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::naming::tool_names;
use crate::options::McpOptions;

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
    /// Unary or server streaming.
    pub(crate) kind: CallKind,
    /// Safe to retry.
    pub(crate) idempotent: bool,
}

/// An endpoint that is not a tool, and why.
#[derive(Debug, Clone)]
pub(crate) struct LeftOut {
    /// The service.
    pub(crate) service: String,
    /// The endpoint (empty when the whole service is left out).
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
        for (i, endpoint) in description.endpoints.iter().enumerate() {
            let kind = CallKind::parse(&endpoint.kind).unwrap_or(CallKind::Unary);
            if !matches!(kind, CallKind::Unary | CallKind::ServerStreaming) {
                left_out.push(LeftOut {
                    service: name.clone(),
                    endpoint: endpoint.name.clone(),
                    reason: format!("{} streaming: tools take one request", endpoint.kind),
                });
                continue;
            }
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
    let streams = kind == CallKind::ServerStreaming;
    let mut description = String::new();
    if !endpoint.docs.trim().is_empty() {
        description.push_str(endpoint.docs.trim());
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "Calls {} of service {} (version {}).",
        endpoint.name, service.name, service.version
    ));
    if streams {
        description.push_str(
            " Server streaming: the result's `items` holds the messages, \
             `truncated` tells whether the stream was cut at the limit.",
        );
    }
    let input = input_schema(&endpoint.request_schema);
    let response = parse_object(&endpoint.response_schema);
    let output = if streams {
        response.and_then(stream_schema)
    } else {
        response.filter(|s| s.get("type") == Some(&json!("object")))
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

/// A schema text as a JSON object, if it is one.
fn parse_object(text: &str) -> Option<JsonObject> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// The request's schema, with `"type": "object"` at the top level as MCP
/// requires (any object when the service gave none usable).
fn input_schema(text: &str) -> JsonObject {
    match parse_object(text) {
        Some(object) if object.get("type") == Some(&json!("object")) => object,
        Some(object) if !object.contains_key("type") && !object.contains_key("$ref") => {
            let mut object = object;
            object.insert("type".into(), json!("object"));
            object
        }
        _ => {
            let mut object = Map::new();
            object.insert("type".into(), json!("object"));
            object
        }
    }
}

/// The result schema of a server-streaming tool: `{items: [response],
/// truncated}`, the response's `$defs` moved to the top. `None` when the
/// response refers to its own root (`"$ref": "#"`), which would then point
/// at the wrapper.
fn stream_schema(mut response: JsonObject) -> Option<JsonObject> {
    if Value::Object(response.clone())
        .to_string()
        .contains(r##""$ref":"#""##)
    {
        return None;
    }
    let schema = response.remove("$schema");
    let defs = response.remove("$defs");
    let mut out = Map::new();
    if let Some(schema) = schema {
        out.insert("$schema".into(), schema);
    }
    out.insert("type".into(), json!("object"));
    out.insert(
        "properties".into(),
        json!({
            "items": {"type": "array", "items": Value::Object(response)},
            "truncated": {"type": "boolean", "description": "The stream had more messages than the tool collects."}
        }),
    );
    out.insert("required".into(), json!(["items", "truncated"]));
    if let Some(defs) = defs {
        out.insert("$defs".into(), defs);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_schema_is_an_object() {
        assert_eq!(
            input_schema("not json"),
            *json!({"type": "object"}).as_object().unwrap()
        );
        assert_eq!(
            input_schema("{}"),
            *json!({"type": "object"}).as_object().unwrap()
        );
        let kept = r#"{"type":"object","properties":{"name":{"type":"string"}}}"#;
        assert_eq!(
            Value::Object(input_schema(kept)),
            serde_json::from_str::<Value>(kept).unwrap()
        );
    }

    #[test]
    fn stream_schema_wraps_items_and_hoists_defs() {
        let response = parse_object(
            r##"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"a":{"$ref":"#/$defs/x.A"}},"$defs":{"x.A":{"type":"object"}}}"##,
        )
        .unwrap();
        let out = Value::Object(stream_schema(response).unwrap());
        assert_eq!(out["type"], "object");
        assert_eq!(
            out["properties"]["items"]["items"]["properties"]["a"]["$ref"],
            "#/$defs/x.A"
        );
        assert!(out["properties"]["items"]["items"].get("$defs").is_none());
        assert_eq!(out["$defs"]["x.A"]["type"], "object");
        let recursive =
            parse_object(r##"{"type":"object","properties":{"self":{"$ref":"#"}}}"##).unwrap();
        assert!(stream_schema(recursive).is_none());
    }
}
