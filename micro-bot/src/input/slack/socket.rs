//! One socket-mode session after another: read frames, acknowledge
//! envelopes at once, pass messages on, and open a new connection when
//! Slack says `disconnect` or the socket closes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::api::Api;
use super::envelope::{Kind, read};
use crate::input::Message;

/// How many message timestamps are kept to drop the second event of one
/// message (`message` and `app_mention` both come for a mention).
const SEEN: usize = 256;
/// The pause before a new connection after a failure.
const RETRY: Duration = Duration::from_secs(2);

/// Serves socket mode from `url` on, until the bot stops reading `tx`.
pub(super) async fn serve(api: Arc<Api>, me: String, mut url: String, tx: mpsc::Sender<Message>) {
    let mut seen = VecDeque::with_capacity(SEEN);
    loop {
        match session(&url, &me, &tx, &mut seen).await {
            Ok(Ended::BotStopped) => return,
            Ok(Ended::Disconnected(reason)) => tracing::info!("Slack disconnect: {reason}"),
            Err(err) => {
                tracing::warn!("Slack socket mode: {err}");
                tokio::time::sleep(RETRY).await;
            }
        }
        url = loop {
            if tx.is_closed() {
                return;
            }
            match api.open_connection().await {
                Ok(url) => break url,
                Err(err) => {
                    tracing::warn!("Slack socket mode: {err}");
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
    }
}

/// Why a session ended without an error.
enum Ended {
    BotStopped,
    Disconnected(String),
}

async fn session(
    url: &str,
    me: &str,
    tx: &mpsc::Sender<Message>,
    seen: &mut VecDeque<String>,
) -> Result<Ended, String> {
    // The URL carries a ticket: it is not logged.
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    while let Some(frame) = socket.next().await {
        let text = match frame.map_err(|e| format!("reading: {e}"))? {
            Frame::Text(text) => text,
            Frame::Close(_) => return Ok(Ended::Disconnected("closed".into())),
            // Pings are answered by tungstenite.
            _ => continue,
        };
        let frame = read(&text, me);
        if let Some(id) = &frame.ack {
            let ack = serde_json::json!({ "envelope_id": id }).to_string();
            socket
                .send(Frame::text(ack))
                .await
                .map_err(|e| format!("acknowledging: {e}"))?;
        }
        match frame.kind {
            Kind::Hello => tracing::info!("Slack socket mode connected"),
            Kind::Disconnect(reason) => {
                let _ = socket.close(None).await;
                return Ok(Ended::Disconnected(reason));
            }
            Kind::Message(message, ts) => {
                if !ts.is_empty() && seen.contains(&ts) {
                    continue;
                }
                if seen.len() == SEEN {
                    seen.pop_front();
                }
                seen.push_back(ts);
                if tx.send(message).await.is_err() {
                    return Ok(Ended::BotStopped);
                }
            }
            Kind::Ignore => {}
            Kind::Bad(why) => tracing::warn!("Slack socket mode: {why}"),
        }
    }
    Ok(Ended::Disconnected("the socket ended".into()))
}
