//! The broker's client connection (the shared [`crate::nats::Connection`]:
//! made on first use, reconnecting by itself), its JetStream context, and
//! the mapping of names onto NATS.

use async_nats::jetstream;

use crate::Result;
pub(super) use crate::nats::Connection;
pub(super) use crate::nats::{from_headers, to_headers};

use super::NatsOptions;

/// The broker's connection for `options`.
pub(super) fn connection(options: &NatsOptions) -> Connection {
    Connection::new(&options.address, options.timeout, "micro.broker")
}

/// A JetStream context over the connection's client.
///
/// # Errors
///
/// As [`Connection::client`].
pub(super) async fn jetstream(connection: &Connection) -> Result<jetstream::Context> {
    let client = connection.client().await?;
    Ok(jetstream::ContextBuilder::new()
        .timeout(connection.timeout())
        .build(async_nats::Client::clone(&client)))
}

/// `name` with every character outside `[A-Za-z0-9_-]` replaced by `_`,
/// for stream and consumer names.
pub(super) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A short stable hash of `text` (FNV-1a), to tell apart names that
/// sanitize alike.
pub(super) fn short_hash(text: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(sanitize("user.signup.*"), "user_signup__");
        assert_eq!(sanitize("a-b_C9"), "a-b_C9");
        assert_ne!(short_hash("a.b"), short_hash("a_b"));
    }
}
