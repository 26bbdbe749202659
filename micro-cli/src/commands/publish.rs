//! `micro publish TOPIC [JSON|-]`: one JSON message on the broker.

use bytes::Bytes;
use micro_runtime::broker::{HEADER_CONTENT_TYPE, Message};

use super::input::argument_or_stdin;
use super::target::parse_request;
use crate::args::PublishArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: PublishArgs) -> Outcome {
    if args.topic.trim().is_empty() {
        return Err(Failure::bad_request("the topic is empty"));
    }
    let text = argument_or_stdin(Some(&args.message), "").await?;
    let value = parse_request(&text, "the message")?;
    let mut message = Message::new(Bytes::from(value.to_string()))
        .with_header(HEADER_CONTENT_TYPE, "application/json");
    for (key, value) in args.metadata {
        message = message.with_header(&key, value);
    }
    let broker = session.broker(None)?;
    broker.connect().await?;
    let published = broker.publish(&args.topic, message).await;
    let _ = broker.disconnect().await;
    published?;
    if session.out.json() {
        session
            .out
            .print_json(&serde_json::json!({ "topic": args.topic, "published": true }))
    } else {
        eprintln!("published to {}", args.topic);
        Ok(())
    }
}
