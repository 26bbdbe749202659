//! `Debug.Describe`: what a service serves, with the JSON Schema of every
//! message, for tools that have neither its `.proto` files nor its types.

use std::collections::BTreeMap;
use std::time::Duration;

use super::wire::{base64_bytes, json_text, json_text_option};
use crate::broker::Subscriber;
use crate::codec::MessageCodec;
use crate::endpoint::{CallKind, EndpointDescriptor, TypedEndpoint};
use crate::schema::MessageSchema;
use crate::server::Handler;

/// Request of `Debug.Describe` (empty).
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct DescribeRequest {}

/// Everything one service version serves (the answer of `Debug.Describe`).
///
/// In JSON, schemas are nested JSON values and descriptor sets base64; in
/// protobuf, schemas are JSON text and descriptor sets bytes.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescription {
    /// The service name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its version.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Its endpoints (the internal `Debug.*` ones are not listed).
    #[prost(message, repeated, tag = "3")]
    pub endpoints: Vec<EndpointDescription>,
    /// The topics it subscribes to.
    #[prost(message, repeated, tag = "4")]
    pub subscriptions: Vec<SubscriptionDescription>,
    /// The encoded descriptor sets of its proto packages, one per package.
    #[prost(message, repeated, tag = "5")]
    pub descriptor_sets: Vec<DescriptorSet>,
}

/// One endpoint: how to call it and what it takes and returns.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointDescription {
    /// `<Service>.<Method>`, e.g. `Greeter.Hello`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `unary`, `server` (server streaming), `client` (client streaming) or
    /// `bidi`, as in the registry's `stream` metadata.
    #[prost(string, tag = "2")]
    pub kind: String,
    /// Its documentation.
    #[prost(string, tag = "3")]
    pub docs: String,
    /// Safe to retry after a timeout.
    #[prost(bool, tag = "4")]
    pub idempotent: bool,
    /// The default deadline in milliseconds, if it has one.
    #[prost(uint64, optional, tag = "5")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Request type, e.g. `greeter.v1.Request`.
    #[prost(string, tag = "6")]
    pub request_type: String,
    /// Response type.
    #[prost(string, tag = "7")]
    pub response_type: String,
    /// JSON Schema (2020-12) of the request's JSON form, as JSON text
    /// (`{"type":"object"}`-like when unknown).
    #[prost(string, tag = "8")]
    #[serde(with = "json_text")]
    pub request_schema: String,
    /// JSON Schema of the response's JSON form, as JSON text.
    #[prost(string, tag = "9")]
    #[serde(with = "json_text")]
    pub response_schema: String,
}

/// One subscription: a topic and the message it carries.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDescription {
    /// The name advertised in the registry.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The topic.
    #[prost(string, tag = "2")]
    pub topic: String,
    /// The queue group, if any.
    #[prost(string, optional, tag = "3")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The message type.
    #[prost(string, tag = "4")]
    pub message_type: String,
    /// JSON Schema of the message's JSON form, as JSON text, when known.
    #[prost(string, optional, tag = "5")]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "json_text_option"
    )]
    pub schema: Option<String>,
}

/// The encoded descriptor set of one proto package.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescriptorSet {
    /// The package, e.g. `greeter.v1`.
    #[prost(string, tag = "1")]
    pub package: String,
    /// An encoded `google.protobuf.FileDescriptorSet`: the package's files,
    /// their imports, and their comments (base64 in JSON).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(with = "base64_bytes")]
    pub file_descriptor_set: Vec<u8>,
}

/// The typed `Debug.Describe` endpoint, to call it from a client.
pub const DESCRIBE: TypedEndpoint<DescribeRequest, ServiceDescription> = TypedEndpoint {
    descriptor: EndpointDescriptor {
        name: "Debug.Describe",
        package: "micro.debug",
        method: "describe",
        request_type: "micro.debug.DescribeRequest",
        response_type: "micro.debug.ServiceDescription",
        kind: CallKind::Unary,
        docs: "Describes the endpoints and subscriptions of the service, with JSON Schemas.",
        idempotent: true,
        timeout: Some(Duration::from_secs(5)),
    },
    request: MessageCodec::prost_serde(),
    response: MessageCodec::prost_serde(),
};

/// The description of service `name` at `version` serving `handlers` and
/// `subscribers`.
pub(crate) fn describe(
    name: &str,
    version: &str,
    handlers: &[Handler],
    subscribers: &[Subscriber],
) -> ServiceDescription {
    let schema_text = |schema: Option<MessageSchema>| {
        schema
            .unwrap_or(MessageSchema::AnyObject)
            .to_value()
            .to_string()
    };
    let mut endpoints = Vec::new();
    let mut packages = BTreeMap::new();
    for handler in handlers {
        let schemas = handler.schemas();
        for package in schemas.packages() {
            packages
                .entry(package.name)
                .or_insert(package.file_descriptor_set);
        }
        for endpoint in handler.endpoints.iter().filter(|e| !e.internal) {
            let d = &endpoint.descriptor;
            endpoints.push(EndpointDescription {
                name: d.name.to_owned(),
                kind: d.kind.as_str().to_owned(),
                docs: d.docs.to_owned(),
                idempotent: d.idempotent,
                timeout_ms: d
                    .timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                request_type: d.request_type.to_owned(),
                response_type: d.response_type.to_owned(),
                request_schema: schema_text(schemas.get(d.request_type)),
                response_schema: schema_text(schemas.get(d.response_type)),
            });
        }
    }
    let subscriptions = subscribers
        .iter()
        .map(|s| SubscriptionDescription {
            name: s.name.clone(),
            topic: s.topic.clone(),
            queue: s.options.queue.clone(),
            message_type: s.message_type.clone(),
            schema: handlers
                .iter()
                .find_map(|h| h.schemas().get(&s.message_type))
                .map(|schema| schema.to_value().to_string()),
        })
        .collect();
    ServiceDescription {
        name: name.to_owned(),
        version: version.to_owned(),
        endpoints,
        subscriptions,
        descriptor_sets: packages
            .into_iter()
            .map(|(package, bytes)| DescriptorSet {
                package: package.to_owned(),
                file_descriptor_set: bytes.to_vec(),
            })
            .collect(),
    }
}
