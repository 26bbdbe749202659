//! Entry point for the fuzz target of gRPC's message framing (`fuzz/`,
//! feature `fuzzing`). Not a stable API.

use super::message::MessageDecoder;

/// Feeds `data` to a message decoder in pieces, as HTTP/2 DATA frames
/// arrive. The first byte picks the piece size and whether the call
/// announced gzip. No message comes out over the limit, compressed or not,
/// and a refusal is a 400 or a 413.
pub fn messages(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let gzip = first & 1 == 1;
    let step = usize::from(first >> 1).max(1);
    let max_message = 16 * 1024;
    let mut decoder = MessageDecoder::new(max_message, gzip.then_some("gzip"));
    for piece in rest.chunks(step) {
        decoder.push(piece);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => assert!(message.len() <= max_message),
                Ok(None) => break,
                Err(err) => {
                    assert!(matches!(err.code(), 400 | 413), "{err}");
                    return;
                }
            }
        }
    }
}
