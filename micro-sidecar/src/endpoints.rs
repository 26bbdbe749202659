//! The endpoints an application declares: from a small JSON or YAML file,
//! or from the POST operations of its OpenAPI document.

use micro_runtime::Error;
use micro_runtime::endpoint::DynamicEndpoint;
use serde::Deserialize;
use serde_json::Value;

/// One entry of an endpoints file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    docs: String,
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    stream: bool,
}

/// Parses an endpoints file: a list of `{name, request?, response?,
/// docs?, stream?}` in JSON or YAML (`path` only names it in errors).
///
/// # Errors
///
/// 400 saying what is wrong: not a list, an unknown field, a name without
/// a dot, a name twice, a streaming endpoint (the sidecar forwards unary
/// calls only).
pub fn from_file(path: &str, text: &str) -> Result<Vec<DynamicEndpoint>, Error> {
    let entries: Vec<Entry> = if path.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| Error::bad_request(format!("{path}: {e}")))?
    } else {
        // YAML is a superset of JSON: any other name is read as YAML.
        serde_yaml::from_str(text).map_err(|e| Error::bad_request(format!("{path}: {e}")))?
    };
    let mut endpoints = Vec::new();
    for entry in entries {
        if entry.stream {
            return Err(Error::bad_request(format!(
                "{path}: {} is a streaming endpoint; the sidecar forwards unary calls only",
                entry.name
            )));
        }
        endpoints.push(endpoint(
            entry.name,
            entry.docs,
            entry.request,
            entry.response,
        )?);
    }
    checked(path, endpoints)
}

/// The endpoints of an OpenAPI 3 document: each `POST /{Endpoint.Method}`
/// operation, with its JSON request body's and 200 (or first 2xx)
/// response's schemas (`$ref`s to `#/components/schemas` inlined).
///
/// # Errors
///
/// 400 for a document without `paths` or with no such operation.
pub fn from_openapi(document: &Value) -> Result<Vec<DynamicEndpoint>, Error> {
    let paths = document["paths"]
        .as_object()
        .ok_or_else(|| Error::bad_request("the OpenAPI document has no \"paths\" object"))?;
    let mut endpoints = Vec::new();
    for (path, item) in paths {
        let name = path.trim_start_matches('/');
        let Some(operation) = item.get("post") else {
            continue;
        };
        if name.contains('/') || !name.contains('.') {
            continue;
        }
        let docs = ["summary", "description"]
            .iter()
            .find_map(|k| operation[*k].as_str())
            .unwrap_or_default()
            .to_owned();
        let request = json_schema(document, &operation["requestBody"]);
        let responses = &operation["responses"];
        let response = responses
            .as_object()
            .and_then(|all| {
                all.get("200")
                    .or_else(|| all.iter().find(|(k, _)| k.starts_with('2')).map(|(_, v)| v))
            })
            .and_then(|ok| json_schema(document, ok));
        endpoints.push(endpoint(name.to_owned(), docs, request, response)?);
    }
    if endpoints.is_empty() {
        return Err(Error::bad_request(
            "the OpenAPI document has no POST /{Endpoint.Method} operation (e.g. POST /Greeter.Hello)",
        ));
    }
    checked("the OpenAPI document", endpoints)
}

/// Fetches the OpenAPI document at `url` (`http://...`) and reads its
/// endpoints as [`from_openapi`] does.
///
/// # Errors
///
/// 503 when it cannot be fetched (within 10 s); the status of a non-2xx
/// answer; 400 when it is not JSON or has no endpoint.
pub async fn from_openapi_url(url: &str) -> Result<Vec<DynamicEndpoint>, Error> {
    use http_body_util::{BodyExt, Empty, Limited};
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| Error::bad_request(format!("OpenAPI URL {url:?}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(Error::bad_request(format!(
            "OpenAPI URL {url:?} must be http://..."
        )));
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let fetch = async {
        let response = client
            .get(uri)
            .await
            .map_err(|e| Error::unavailable(format!("fetching {url}: {e}")))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 16 << 20)
            .collect()
            .await
            .map_err(|e| Error::unavailable(format!("reading {url}: {e}")))?
            .to_bytes();
        if !status.is_success() {
            return Err(Error::new(
                status.as_u16(),
                format!("fetching {url}: {status}"),
            ));
        }
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| Error::bad_request(format!("{url} is not a JSON OpenAPI document: {e}")))
    };
    let document = tokio::time::timeout(std::time::Duration::from_secs(10), fetch)
        .await
        .map_err(|_| Error::unavailable(format!("{url} did not answer within 10 s")))??;
    from_openapi(&document)
}

/// The `application/json` schema of a request body or response object.
fn json_schema(document: &Value, object: &Value) -> Option<Value> {
    let object = resolve(document, object, 0)?;
    let schema = object["content"]["application/json"].get("schema")?;
    Some(inline(document, schema, 0))
}

/// Follows a local `$ref` (a few levels at most).
fn resolve<'a>(document: &'a Value, value: &'a Value, depth: usize) -> Option<&'a Value> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) if depth < 8 => {
            let target = document.pointer(pointer.strip_prefix('#')?)?;
            resolve(document, target, depth + 1)
        }
        Some(_) => None,
        None if value.is_null() => None,
        None => Some(value),
    }
}

/// `schema` with its local `$ref`s replaced by what they point at, up to a
/// depth (deeper or recursive ones are left as any value).
fn inline(document: &Value, schema: &Value, depth: usize) -> Value {
    if depth > 16 {
        return Value::Object(Default::default());
    }
    match schema {
        Value::Object(map) => {
            if let Some(pointer) = map.get("$ref").and_then(Value::as_str) {
                return pointer
                    .strip_prefix('#')
                    .and_then(|p| document.pointer(p))
                    .map_or_else(
                        || Value::Object(Default::default()),
                        |target| inline(document, target, depth + 1),
                    );
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inline(document, v, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| inline(document, v, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn endpoint(
    name: String,
    docs: String,
    request: Option<Value>,
    response: Option<Value>,
) -> Result<DynamicEndpoint, Error> {
    let valid = name
        .split_once('.')
        .is_some_and(|(h, m)| !h.is_empty() && !m.is_empty() && !m.contains('.'))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if !valid {
        return Err(Error::bad_request(format!(
            "endpoint name {name:?} is not <Handler>.<Method> (letters, digits, _), e.g. Greeter.Hello"
        )));
    }
    for (what, schema) in [("request", &request), ("response", &response)] {
        if schema
            .as_ref()
            .is_some_and(|s| !s.is_object() && !s.is_boolean())
        {
            return Err(Error::bad_request(format!(
                "{name}: the {what} schema must be a JSON Schema object"
            )));
        }
    }
    Ok(DynamicEndpoint {
        name,
        docs,
        request_schema: request,
        response_schema: response,
    })
}

fn checked(origin: &str, endpoints: Vec<DynamicEndpoint>) -> Result<Vec<DynamicEndpoint>, Error> {
    for (i, e) in endpoints.iter().enumerate() {
        if endpoints[..i].iter().any(|d| d.name == e.name) {
            return Err(Error::bad_request(format!(
                "{origin}: endpoint {} is declared twice",
                e.name
            )));
        }
    }
    if endpoints.is_empty() {
        return Err(Error::bad_request(format!(
            "{origin}: no endpoint declared"
        )));
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn files_in_json_and_yaml() {
        let json = r#"[{"name": "Greeter.Hello", "request": {"type": "object"}}, {"name": "Greeter.Bye"}]"#;
        let endpoints = from_file("e.json", json).unwrap();
        assert_eq!(endpoints[0].name, "Greeter.Hello");
        assert_eq!(endpoints[0].request_schema, Some(json!({"type": "object"})));
        assert_eq!(endpoints[1].response_schema, None);
        let yaml = "- name: Greeter.Hello\n  docs: Says hello.\n  response:\n    type: object\n";
        let endpoints = from_file("e.yaml", yaml).unwrap();
        assert_eq!(endpoints[0].docs, "Says hello.");
        assert_eq!(
            endpoints[0].response_schema,
            Some(json!({"type": "object"}))
        );
    }

    #[test]
    fn bad_files_say_why() {
        for (text, why) in [
            ("{}", "e.json"),
            (r#"[{"name": "Hello"}]"#, "<Handler>.<Method>"),
            (r#"[{"name": "A.B", "stream": true}]"#, "unary calls only"),
            (r#"[{"name": "A.B"}, {"name": "A.B"}]"#, "twice"),
            (r#"[{"name": "A.B", "request": 3}]"#, "JSON Schema object"),
            (r#"[{"name": "A.B", "nope": 1}]"#, "unknown field"),
            ("[]", "no endpoint"),
        ] {
            let err = from_file("e.json", text).unwrap_err();
            assert_eq!(err.code(), 400);
            assert!(err.detail().contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn openapi_post_operations_with_refs() {
        let document = json!({
            "openapi": "3.1.0",
            "paths": {
                "/Greeter.Hello": {"post": {
                    "summary": "Says hello.",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}},
                    "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {"greeting": {"type": "string"}}}}}}}
                }},
                "/health": {"get": {}},
                "/Greeter.Get": {"get": {}},
                "/a/b": {"post": {}}
            },
            "components": {"schemas": {"Req": {"type": "object", "properties": {"name": {"type": "string"}}}}}
        });
        let endpoints = from_openapi(&document).unwrap();
        assert_eq!(endpoints.len(), 1);
        let hello = &endpoints[0];
        assert_eq!(hello.name, "Greeter.Hello");
        assert_eq!(hello.docs, "Says hello.");
        assert_eq!(
            hello.request_schema.as_ref().unwrap()["properties"]["name"]["type"],
            "string"
        );
        assert_eq!(
            hello.response_schema.as_ref().unwrap()["properties"]["greeting"]["type"],
            "string"
        );
        let err = from_openapi(&json!({"paths": {}})).unwrap_err();
        assert!(err.detail().contains("POST /{Endpoint.Method}"), "{err}");
    }
}
