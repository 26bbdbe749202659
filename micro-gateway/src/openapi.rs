//! The OpenAPI 3.1 document of what the gateway serves, built from the
//! services' `Debug.Describe` answers: one `POST /api/{service}/{endpoint}`
//! per unary and server-streaming endpoint (client and bidi streams,
//! WebSocket only or JSON-lines bodies, are left out), with the endpoint's JSON Schemas (JSON Schema
//! 2020-12 is OpenAPI 3.1's dialect) and docs.

use micro_runtime::debug::ServiceDescription;
use micro_runtime::endpoint::CallKind;
use serde_json::{Map, Value, json};

use crate::access::Access;
use crate::components::{Components, reference};

/// Error statuses every call may answer, with why.
const ERRORS: &[(&str, &str)] = &[
    ("400", "The request is malformed (JSON, a field, a header)."),
    ("403", "The endpoint is not served through the gateway."),
    ("404", "No such service or endpoint."),
    ("413", "The request body is over the gateway's limit."),
    (
        "429",
        "Too many requests from this client; retry after `Retry-After` seconds.",
    ),
    ("503", "No node of the service is available."),
    ("504", "The deadline passed (error code 408)."),
];

/// What the `Timeout` header accepts: up to nine digits, a fraction, a
/// unit (seconds without one); anything else answers 400.
const TIMEOUT_PATTERN: &str = "^[0-9]{1,9}(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)?$";

/// The document for `services` (one description per service: its newest
/// version), leaving out what `access` denies. `undescribed` names services
/// that did not answer `Debug.Describe`.
pub(crate) fn document(
    services: &[&ServiceDescription],
    undescribed: &[String],
    access: &Access,
) -> Value {
    let mut components = Components::default();
    components.insert("Error", error_schema());
    let mut paths = Map::new();
    paths.insert("/health".into(), health());
    paths.insert("/rpc".into(), rpc(&mut components));
    let mut tags = Vec::new();
    for service in services {
        tags.push(json!({
            "name": service.name,
            "description": format!("version {}", service.version),
        }));
        for endpoint in &service.endpoints {
            let streams = endpoint.kind == CallKind::ServerStreaming.as_str();
            if !(endpoint.kind == CallKind::Unary.as_str() || streams)
                || !access.allows(&service.name, &endpoint.name)
            {
                continue;
            }
            let name = |type_name: &str, side: &str| {
                if type_name.is_empty() {
                    format!("{}.{}", endpoint.name, side)
                } else {
                    type_name.to_owned()
                }
            };
            let request = components.add(
                &name(&endpoint.request_type, "Request"),
                parse(&endpoint.request_schema),
            );
            let response = components.add(
                &name(&endpoint.response_type, "Response"),
                parse(&endpoint.response_schema),
            );
            let mut operation = json!({
                "operationId": format!("{}/{}", service.name, endpoint.name),
                "tags": [service.name],
                "summary": endpoint.name,
                "parameters": [{"$ref": "#/components/parameters/Timeout"}],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": request}}
                },
                "responses": if streams {
                    stream_responses(response)
                } else {
                    responses(response)
                },
            });
            if !endpoint.docs.is_empty() {
                operation["description"] = endpoint.docs.clone().into();
            }
            paths.insert(
                format!("/api/{}/{}", service.name, endpoint.name),
                json!({ "post": operation }),
            );
        }
    }
    let mut info = json!({
        "title": "micro gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "The services registered now, called over HTTP/JSON. \
                        Errors are the services' own {id, code, detail, status}.",
    });
    if !undescribed.is_empty() {
        info["x-micro-undescribed"] = json!(undescribed);
    }
    json!({
        "openapi": "3.1.0",
        "info": info,
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components.into_value(),
            "responses": {
                "Error": {
                    "description": "The call failed.",
                    "content": {"application/json": {"schema": reference("Error")}}
                }
            },
            "parameters": {
                "Timeout": {
                    "name": "Timeout",
                    "in": "header",
                    "required": false,
                    "description": "The call's deadline, e.g. 5s or 500ms \
                                    (also X-Micro-Timeout, grpc-timeout).",
                    "schema": {"type": "string", "pattern": TIMEOUT_PATTERN}
                }
            }
        }
    })
}

/// A schema's JSON text as JSON (any object when it does not parse).
fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({"type": "object"}))
}

/// 200 with `response`, and the error statuses.
fn responses(response: Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "200".into(),
        json!({
            "description": "The response.",
            "content": {"application/json": {"schema": response}}
        }),
    );
    for (status, why) in ERRORS {
        out.insert(
            (*status).into(),
            json!({
                "description": why,
                "content": {"application/json": {"schema": reference("Error")}}
            }),
        );
    }
    out.insert(
        "default".into(),
        json!({"$ref": "#/components/responses/Error"}),
    );
    Value::Object(out)
}

/// The responses of a server stream: as Server-Sent Events or JSON lines
/// (each item a `response`; OpenAPI 3.1 has no schema for the items of a
/// stream, so `x-micro-item-schema` names it), and the error statuses.
fn stream_responses(response: Value) -> Value {
    let mut out = responses(Value::Null);
    out["200"] = json!({
        "description": "The responses as they come. With `Accept: text/event-stream`, \
                        Server-Sent Events: each response an `event: message` whose data \
                        is its JSON; an error ends the stream with an `event: error` whose \
                        data is the error's JSON. Otherwise JSON lines: each response on \
                        a line of its own; an error ends the stream with a line \
                        `{\"error\": {...}}`.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "x-micro-item-schema": response.clone()
            },
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "x-micro-item-schema": response
            }
        }
    });
    out
}

/// The runtime's error model.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "An error from the gateway or a service.",
        "required": ["code"],
        "properties": {
            "id": {"type": "string", "description": "Who raised it: a service or micro.gateway."},
            "code": {"type": "integer", "description": "HTTP-style code."},
            "detail": {"type": "string", "description": "What went wrong."},
            "status": {"type": "string", "description": "The code's reason phrase."}
        }
    })
}

fn health() -> Value {
    json!({"get": {
        "operationId": "health",
        "summary": "The gateway is up.",
        "responses": {"200": {
            "description": "Always ok.",
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"status": {"const": "ok"}}
            }}}
        }}
    }})
}

fn rpc(components: &mut Components) -> Value {
    let request = components.insert(
        "RpcRequest",
        json!({
            "type": "object",
            "required": ["service"],
            "oneOf": [{"required": ["endpoint"]}, {"required": ["method"]}],
            "additionalProperties": false,
            "properties": {
                "service": {"type": "string", "description": "A service name, full or short."},
                "endpoint": {"type": "string", "description": "E.g. Greeter.Hello."},
                "method": {"type": "string", "description": "Same as endpoint (one of the two)."},
                "request": {
                    "description": "The request (none: {}). JSON text of an object \
                                    is taken too, as go-micro's API took it.",
                    "type": ["object", "null"]
                },
                "address": {"type": "string", "description": "Call this node, without discovery."}
            }
        }),
    );
    json!({"post": {
        "operationId": "rpc",
        "summary": "Calls any unary endpoint by name.",
        "parameters": [{"$ref": "#/components/parameters/Timeout"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": request}}},
        "responses": responses(json!({"description": "The endpoint's response."})),
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use micro_runtime::debug::EndpointDescription;

    fn endpoint(name: &str, kind: &str) -> EndpointDescription {
        EndpointDescription {
            name: name.into(),
            kind: kind.into(),
            docs: "Says hello.".into(),
            request_type: "greeter.v1.Request".into(),
            response_type: "greeter.v1.Response".into(),
            request_schema: r##"{"type":"object","properties":{"name":{"type":"string"},
                "next":{"$ref":"#/$defs/greeter.v1.Request"}},
                "$defs":{"greeter.v1.Request":{"$ref":"#"}}}"##
                .into(),
            response_schema: "not json".into(),
            ..Default::default()
        }
    }

    #[test]
    fn unary_allowed_endpoints_become_paths() {
        let service = ServiceDescription {
            name: "x.greeter".into(),
            version: "1.0.0".into(),
            endpoints: vec![
                endpoint("Greeter.Hello", "unary"),
                endpoint("Greeter.Chat", "bidi"),
                endpoint("Admin.Reset", "unary"),
            ],
            ..Default::default()
        };
        let access = Access {
            allow: Vec::new(),
            deny: vec!["Admin.*".into()],
        };
        let doc = document(&[&service], &["y.down".into()], &access);
        let paths = doc["paths"].as_object().unwrap();
        let mut names: Vec<&str> = paths.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["/api/x.greeter/Greeter.Hello", "/health", "/rpc"]);
        let hello = &paths["/api/x.greeter/Greeter.Hello"]["post"];
        assert_eq!(hello["description"], "Says hello.");
        assert_eq!(
            hello["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/greeter.v1.Request"
        );
        assert_eq!(
            hello["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
        // The def named like the root and referring to it: a second component.
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["greeter.v1.Response"], json!({"type": "object"}));
        assert_eq!(doc["info"]["x-micro-undescribed"], json!(["y.down"]));
    }
}
