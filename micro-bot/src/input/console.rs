//! The console: each line on stdin is a message, replies go to stdout.
//! For scripts, tests and trying commands out.

use async_trait::async_trait;
use micro_runtime::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc};

use super::{BUFFER, Input, Message};

/// stdin in, stdout out; the input ends with stdin.
#[derive(Debug, Default)]
pub struct Console {
    out: Mutex<Option<tokio::io::Stdout>>,
}

impl Console {
    /// The process's console.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Input for Console {
    fn name(&self) -> &str {
        "console"
    }

    async fn connect(&self) -> micro_runtime::Result<mpsc::Receiver<Message>> {
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            // A line that is not UTF-8 ends the input as stdin's end does.
            while let Ok(Some(line)) = lines.next_line().await {
                let message = Message {
                    channel: "console".into(),
                    sender: String::new(),
                    text: line,
                    addressed: true,
                };
                if tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }

    async fn send(&self, _channel: &str, text: &str) -> micro_runtime::Result<()> {
        let mut out = self.out.lock().await;
        let out = out.get_or_insert_with(tokio::io::stdout);
        let mut text = text.trim_end_matches('\n').to_owned();
        text.push('\n');
        out.write_all(text.as_bytes())
            .await
            .map_err(|e| Error::unavailable(format!("writing to stdout: {e}")))?;
        out.flush()
            .await
            .map_err(|e| Error::unavailable(format!("writing to stdout: {e}")))
    }
}
