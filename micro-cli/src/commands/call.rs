//! `micro call SERVICE ENDPOINT [JSON|-]`: one call, its response printed
//! as JSON (a streaming endpoint's responses as JSON lines).

use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::endpoint::CallKind;
use serde_json::Value;

use super::input::argument_or_stdin;
use super::stream::{self, Requests};
use super::target::{self, Target, call_options, parse_request};
use crate::args::{CallArgs, CallFlags};
use crate::failure::Outcome;
use crate::schema;
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: CallArgs) -> Outcome {
    let text = argument_or_stdin(args.request.as_deref(), "{}").await?;
    let request = parse_request(&text, "the request")?;
    let target = target::resolve(session, &args.service, &args.endpoint, &args.flags).await?;
    invoke(session, &target, request, &args.flags).await
}

/// Calls `target` with `request`, checked against its schema first.
pub(crate) async fn invoke(
    session: &Session,
    target: &Target,
    request: Value,
    flags: &CallFlags,
) -> Outcome {
    if target.kind != CallKind::Unary {
        return stream::exchange(session, target, Requests::One(request), flags).await;
    }
    unary(session, target, request, flags).await
}

/// A unary call to `target` with `request`, checked against its schema.
pub(crate) async fn unary(
    session: &Session,
    target: &Target,
    request: Value,
    flags: &CallFlags,
) -> Outcome {
    if let Some(schema) = target.request_schema() {
        schema::validate(&schema, &request)?;
    }
    let body = Bytes::from(request.to_string());
    let mut options = call_options(flags);
    if target.described.as_ref().is_some_and(|d| d.idempotent) {
        // Safe to retry after a timeout, as its typed stub would.
        options = options.idempotent(true);
    }
    let response = session
        .client()?
        .call_raw(
            &target.service,
            &target.endpoint,
            ContentType::Json,
            body,
            &options,
        )
        .await?;
    print_response(session, &response, false)
}

/// Prints one response: JSON as JSON (one line in a stream), anything
/// else as text.
pub(crate) fn print_response(session: &Session, body: &[u8], line: bool) -> Outcome {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if line => session.out.print_json_line(&value),
        Ok(value) => session.out.print_json(&value),
        Err(_) => session.out.line(&String::from_utf8_lossy(body)),
    }
}
