//! `micro stream SERVICE ENDPOINT`: requests as JSON lines from stdin (or
//! one from the argument), responses as JSON lines as they arrive. Ending
//! stdin ends the requests; Ctrl-C cancels the call on the server.

use bytes::Bytes;
use micro_runtime::codec::ContentType;
use micro_runtime::endpoint::CallKind;
use micro_runtime::transport::RawSender;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::call;
use super::target::{self, Target, call_options, parse_request};
use crate::args::{CallFlags, StreamArgs};
use crate::failure::{Failure, Outcome};
use crate::schema;
use crate::session::Session;

/// Where a call's requests come from.
pub(crate) enum Requests {
    /// One request.
    One(Value),
    /// JSON lines on stdin, until it ends.
    Stdin,
}

pub(crate) async fn run(session: &Session, args: StreamArgs) -> Outcome {
    let requests = match &args.request {
        Some(text) => Requests::One(parse_request(text, "the request")?),
        None => Requests::Stdin,
    };
    let target = target::resolve(session, &args.service, &args.endpoint, &args.flags).await?;
    exchange(session, &target, requests, &args.flags).await
}

/// Makes the call: requests out as they come, responses printed as they
/// arrive, until the server ends the stream.
pub(crate) async fn exchange(
    session: &Session,
    target: &Target,
    requests: Requests,
    flags: &CallFlags,
) -> Outcome {
    let schema = target.request_schema();
    if target.kind == CallKind::Unary {
        let request = match requests {
            Requests::One(request) => request,
            Requests::Stdin => first_line(schema.as_ref()).await?,
        };
        return call::unary(session, target, request, flags).await;
    }
    if let Requests::One(request) = &requests
        && let Some(schema) = &schema
    {
        schema::validate(schema, request)?;
    }
    let (tx, mut rx) = session
        .client()?
        .stream_raw(
            &target.service,
            &target.endpoint,
            target.kind,
            ContentType::Json,
            &call_options(flags),
        )
        .await?;
    let writing = async {
        match write(&tx, requests, schema.as_ref()).await {
            Ok(()) => std::future::pending().await,
            Err(failure) => failure,
        }
    };
    let reading = async {
        while let Some(body) = rx.recv().await? {
            call::print_response(session, &body, true)?;
        }
        Ok(())
    };
    // A request that does not fit ends the call (dropping it cancels it).
    tokio::select! {
        outcome = reading => outcome,
        failure = writing => Err(failure),
    }
}

/// Sends the requests, then ends the request stream.
async fn write(tx: &RawSender, requests: Requests, schema: Option<&Value>) -> Outcome {
    match requests {
        Requests::One(request) => {
            tx.send(Bytes::from(request.to_string())).await?;
        }
        Requests::Stdin => {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            let mut number = 0;
            while let Some(line) = next_line(&mut lines).await? {
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let request = checked(&line, number, schema)?;
                if tx.send(Bytes::from(request.to_string())).await.is_err() {
                    // The server ended the call; its answer says why.
                    return Ok(());
                }
            }
        }
    }
    tx.finish(Ok(()));
    Ok(())
}

/// The first request on stdin (a unary endpoint called with `stream`).
async fn first_line(schema: Option<&Value>) -> Outcome<Value> {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut number = 0;
    while let Some(line) = next_line(&mut lines).await? {
        number += 1;
        if !line.trim().is_empty() {
            return checked(&line, number, schema);
        }
    }
    Ok(Value::Object(serde_json::Map::new()))
}

async fn next_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
) -> Outcome<Option<String>> {
    lines
        .next_line()
        .await
        .map_err(|e| Failure::local(format!("cannot read stdin: {e}")))
}

/// Line `number` as a request that fits `schema`.
fn checked(line: &str, number: usize, schema: Option<&Value>) -> Outcome<Value> {
    let request = parse_request(line, &format!("line {number}"))?;
    match schema.and_then(|schema| schema::problem(schema, &request)) {
        Some(problem) => Err(Failure::bad_request(format!("line {number}: {problem}"))),
        None => Ok(request),
    }
}
