//! `micro subscribe TOPIC [--queue Q]`: every message of a topic as a JSON
//! line (the body; with `--output json` an envelope with the headers),
//! until Ctrl-C.

use std::sync::Arc;

use base64::Engine;
use micro_runtime::broker::{Delivery, HEADER_CONTENT_TYPE, SubscribeOptions, Unsubscribe};
use serde_json::{Value, json};

use crate::args::SubscribeArgs;
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: SubscribeArgs) -> Outcome {
    if args.topic.trim().is_empty() {
        return Err(Failure::bad_request("the topic is empty"));
    }
    let broker = session.broker(Some(args.insecure))?;
    broker.connect().await?;
    let options = SubscribeOptions {
        queue: args.queue.clone(),
        ..SubscribeOptions::default()
    };
    let mut subscription = broker.subscribe(&args.topic, options).await?;
    // Ctrl-C drops this command: the guard unsubscribes in the moment
    // `main` gives then, or the HTTP broker's registration would stay in
    // the registry until its TTL runs out.
    let _unsubscribe = UnsubscribeOnDrop(subscription.handle());
    // On stderr in both formats: scripts wait for it before publishing.
    eprintln!(
        "subscribed to {}{} (Ctrl-C to stop)",
        args.topic,
        args.queue
            .as_deref()
            .map(|q| format!(" in queue {q}"))
            .unwrap_or_default()
    );
    while let Some(delivery) = subscription.next().await {
        let printed = print(session, &delivery);
        delivery.ack().await?;
        printed?;
    }
    Err(Failure::from_error(&micro_runtime::Error::unavailable(
        format!("the subscription to {} ended", args.topic),
    )))
}

/// Unsubscribes when dropped (in a task: `Drop` cannot wait).
struct UnsubscribeOnDrop(Option<Arc<dyn Unsubscribe>>);

impl Drop for UnsubscribeOnDrop {
    fn drop(&mut self) {
        if let (Some(handle), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = handle.unsubscribe().await;
            });
        }
    }
}

fn print(session: &Session, delivery: &Delivery) -> Outcome {
    let message = &delivery.message;
    let body = body(message.headers.get(HEADER_CONTENT_TYPE), &message.body);
    if !session.out.json() {
        return session.out.print_json_line(&body);
    }
    let headers: serde_json::Map<String, Value> = message
        .headers
        .iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    session.out.print_json_line(&json!({
        "topic": delivery.topic(),
        "headers": headers,
        "redelivered": delivery.redelivered,
        "body": body,
    }))
}

/// A JSON body as itself; any other as `{"contentType", "base64"}`.
fn body(content_type: Option<&str>, bytes: &[u8]) -> Value {
    match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(_) => json!({
            "contentType": content_type.unwrap_or("application/octet-stream"),
            "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        }),
    }
}
