//! Entry point for the fuzz target of the HTTP broker's delivery envelope
//! (`fuzz/`, feature `fuzzing`). Not a stable API.

use bytes::Bytes;

use super::envelope;

/// Decodes `data` as the body of a delivery POST: a refusal is a 400, and
/// an envelope that decodes encodes back to the same message.
pub fn envelope(data: &[u8]) {
    match envelope::decode(Bytes::copy_from_slice(data)) {
        Ok(message) => {
            let back = envelope::decode(envelope::encode(&message)).expect("round trip");
            assert_eq!(back, message);
        }
        Err(err) => assert_eq!(err.code(), 400, "{err}"),
    }
}
