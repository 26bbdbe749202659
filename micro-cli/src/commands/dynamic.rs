//! `micro SERVICE ENDPOINT --field value`: the service by short name, the
//! endpoint by method, the request built from flags by the endpoint's
//! schema. `--help` there shows the endpoint's docs and fields.

use std::time::Duration;

use serde_json::Value;

use super::target::{self, Target};
use super::{call, describe};
use crate::args::{CallFlags, parse_duration, parse_pair};
use crate::failure::{Failure, Outcome};
use crate::request_flags::{self, Flag};
use crate::schema;
use crate::session::Session;

/// Flags that set how the call is made rather than the request (unless
/// the request has a field of that name).
const CALL_FLAGS: [&str; 5] = ["metadata", "timeout", "address", "version", "retries"];

pub(crate) async fn run(session: &Session, words: Vec<String>) -> Outcome {
    let Some((service, rest)) = words.split_first() else {
        return Err(Failure::usage(
            "expected SERVICE ENDPOINT [--field value]...",
        ));
    };
    let Some((endpoint, rest)) = rest.split_first().filter(|(e, _)| !e.starts_with('-')) else {
        // `micro greeter` or `micro greeter --help`: what it serves.
        return describe::run(session, service).await;
    };
    let flags = request_flags::tokenize(rest)?;
    let help = flags.iter().any(|(key, _)| key == "help");
    let (mut call_flags, mut fields) = split(&flags, &[])?;
    let mut target = target::resolve(session, service, endpoint, &call_flags).await?;
    let schema = target.request_schema();
    // A request field named like a call flag is the field.
    if let Some(schema) = &schema {
        let names = request_flags::field_names(schema);
        let taken: Vec<&str> = CALL_FLAGS
            .into_iter()
            .filter(|flag| names.iter().any(|n| n == flag))
            .collect();
        if !taken.is_empty() {
            let before = (
                call_flags.address.clone(),
                call_flags.service_version.clone(),
            );
            (call_flags, fields) = split(&flags, &taken)?;
            if before
                != (
                    call_flags.address.clone(),
                    call_flags.service_version.clone(),
                )
            {
                target = target::resolve(session, service, endpoint, &call_flags).await?;
            }
        }
    }
    if help {
        return session
            .out
            .line(&help_text(session, &target, schema.as_ref()));
    }
    let request = match &schema {
        Some(schema) => request_flags::build(schema, &fields)?,
        None => untyped(&fields),
    };
    call::invoke(session, &target, request, &call_flags).await
}

/// The call flags and the request fields among `flags`; names in
/// `fields_first` are fields.
fn split(flags: &[Flag], fields_first: &[&str]) -> Outcome<(CallFlags, Vec<Flag>)> {
    let mut call = CallFlags::default();
    let mut fields = Vec::new();
    for (key, value) in flags {
        let is_call = CALL_FLAGS.contains(&key.as_str()) && !fields_first.contains(&key.as_str());
        if key == "help" {
            continue;
        }
        if !is_call {
            fields.push((key.clone(), value.clone()));
            continue;
        }
        let value = value
            .as_deref()
            .ok_or_else(|| Failure::usage(format!("--{key} needs a value")))?;
        match key.as_str() {
            "metadata" => call
                .metadata
                .push(parse_pair(value).map_err(Failure::usage)?),
            "timeout" => call.timeout = Some(parse_duration(value).map_err(Failure::usage)?),
            "address" => call.address = Some(value.to_owned()),
            "version" => call.service_version = Some(value.to_owned()),
            _ => {
                call.retries = Some(value.parse().map_err(|_| {
                    Failure::usage(format!("--retries: expected a number, got {value:?}"))
                })?);
            }
        }
    }
    Ok((call, fields))
}

/// Without a schema: each flag a string field (JSON values as JSON).
fn untyped(fields: &[Flag]) -> Value {
    let object = fields
        .iter()
        .map(|(key, value)| {
            let value = match value {
                None => Value::Bool(true),
                Some(text) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
            };
            (key.clone(), value)
        })
        .collect();
    Value::Object(object)
}

fn help_text(session: &Session, target: &Target, schema: Option<&Value>) -> String {
    let out = &session.out;
    let short = target
        .service
        .rsplit(['.', '-', '_', '/'])
        .next()
        .unwrap_or(&target.service);
    let method = target
        .endpoint
        .rsplit('.')
        .next()
        .unwrap_or(&target.endpoint);
    let mut text = format!(
        "{} ({}) on {}\n",
        out.bold(&target.endpoint),
        target.kind.as_str(),
        target.service
    );
    if let Some(described) = &target.described
        && !described.docs.is_empty()
    {
        text.push_str(&format!("{}\n", described.docs));
    }
    text.push_str(&format!(
        "\n{} micro {short} {} [--FIELD VALUE]...\n",
        out.bold("Usage:"),
        to_kebab(method)
    ));
    match schema {
        Some(schema) => {
            let kind = target
                .described
                .as_ref()
                .map(|d| d.request_type.as_str())
                .unwrap_or_default();
            text.push_str(&format!("\n{} {kind}\n", out.bold("Fields:")));
            let fields: Vec<_> = schema::fields(schema)
                .into_iter()
                .map(|mut f| {
                    f.name = format!("--{}", f.name);
                    f
                })
                .collect();
            text.push_str(&describe::field_tree(&fields, 1));
            text.push_str(
                "  (nested fields with dots: --parent.child; repeat a flag for a list)\n",
            );
        }
        None => text.push_str(
            "\nThe service does not describe its fields: each --FIELD VALUE is sent as given.\n",
        ),
    }
    text.push_str(&format!(
        "\n{} -m/--metadata KEY=VALUE, --timeout {}, --address HOST:PORT, --version VERSION, --retries N",
        out.bold("Call options:"),
        humantime(target.described.as_ref().and_then(|d| d.timeout_ms))
    ));
    text
}

fn humantime(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "DURATION".to_owned(),
        |ms| format!("DURATION (default {:?})", Duration::from_millis(ms)),
    )
}

/// `HelloStream` -> `hello-stream`.
fn to_kebab(method: &str) -> String {
    let mut out = String::new();
    for (i, c) in method.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.extend(c.to_lowercase());
    }
    out
}
