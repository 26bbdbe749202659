//! The messages every system exchanges: a name in, `Hello <name>` out, and
//! the stream request that says how many messages to stream back.

use bytes::Bytes;
use prost::Message as _;

/// The request of one workload, ready in each system's form.
#[derive(Clone, Debug)]
pub struct Payload {
    /// The name to greet.
    pub name: String,
    /// The protobuf encoding of `Request { name }` (what raw sends).
    pub encoded: Bytes,
    /// The length of the greeting the server must answer.
    pub greeting_len: usize,
}

impl Payload {
    /// The payload greeting `name`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let encoded = crate::pb::Request { name: name.clone() }
            .encode_to_vec()
            .into();
        let greeting_len = greeting_len(&name);
        Self {
            name,
            encoded,
            greeting_len,
        }
    }
}

/// The small payload's name.
pub const SMALL_NAME: &str = "John";

/// The size of the large payload's name.
pub const LARGE_NAME_LEN: usize = 1024;

/// What every server puts before the name in its greeting.
pub const GREETING_PREFIX: &str = "Hello ";

/// The name of the large payload: `LARGE_NAME_LEN` ASCII letters.
pub fn large_name() -> String {
    (0..LARGE_NAME_LEN)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// The greeting a server answers `name` with.
pub fn greeting(name: &str) -> String {
    let mut greeting = String::with_capacity(GREETING_PREFIX.len() + name.len());
    greeting.push_str(GREETING_PREFIX);
    greeting.push_str(name);
    greeting
}

/// The length of the greeting for `name` (what clients check).
pub fn greeting_len(name: &str) -> usize {
    GREETING_PREFIX.len() + name.len()
}

/// The name of a stream request: `name*count` asks for `count` messages
/// (the proto stays the greeter's; the count rides in the name).
pub fn stream_request(name: &str, count: u32) -> String {
    format!("{name}*{count}")
}

/// The length of the greeting a `Collect` call answers after `count`
/// requests named `name`: `Hello ` and the names joined by `, `.
pub fn collected_len(name: &str, count: u32) -> usize {
    let count = count as usize;
    GREETING_PREFIX.len() + count * name.len() + count.saturating_sub(1) * 2
}

/// Splits a stream request into the name and the count; a name without a
/// count asks for 3 messages, like the example greeter.
pub fn parse_stream_request(request: &str) -> (&str, u32) {
    match request.rsplit_once('*') {
        Some((name, count)) => match count.parse() {
            Ok(count) => (name, count),
            Err(_) => (request, 3),
        },
        None => (request, 3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_requests_round_trip() {
        let request = stream_request("John", 10_000);
        assert_eq!(parse_stream_request(&request), ("John", 10_000));
        assert_eq!(parse_stream_request("Jane"), ("Jane", 3));
        assert_eq!(parse_stream_request("a*b"), ("a*b", 3));
    }

    #[test]
    fn collected_length_matches_the_joined_names() {
        let names = ["John"; 3].join(", ");
        assert_eq!(collected_len("John", 3), greeting(&names).len());
        assert_eq!(collected_len("John", 0), GREETING_PREFIX.len());
    }

    #[test]
    fn large_name_has_its_size() {
        assert_eq!(large_name().len(), LARGE_NAME_LEN);
        assert_eq!(greeting_len(&large_name()), greeting(&large_name()).len());
    }
}
