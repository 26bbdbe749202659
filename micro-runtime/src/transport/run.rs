//! A run of one stream's messages that arrived together, in one buffer.
//!
//! A connection's reader hands a stream every message of one read at once:
//! one lock, one lookup and one queue entry for the run instead of one per
//! message. The stream's reader takes the messages out one by one, each a
//! slice of the shared buffer (a reference count, no copy).

use bytes::{Buf, Bytes};

/// Messages in one buffer, each behind a header of `header` bytes whose
/// first four are the message's length (big-endian).
#[derive(Debug)]
pub(crate) struct MessageRun {
    buf: Bytes,
    header: usize,
    count: u32,
    bytes: u64,
    largest: u32,
}

impl MessageRun {
    /// A run of `count` messages in `buf`, `bytes` of them in all, the
    /// largest `largest` bytes. The caller checked every header.
    pub(crate) fn new(buf: Bytes, header: usize, count: u32, bytes: u64, largest: u32) -> Self {
        debug_assert!(header >= 4);
        Self {
            buf,
            header,
            count,
            bytes,
            largest,
        }
    }

    /// An empty run.
    pub(crate) fn empty() -> Self {
        Self::new(Bytes::new(), 4, 0, 0, 0)
    }

    /// Messages left.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// What the messages left cost against a flow-control window: each its
    /// length plus `overhead`, at most `window`.
    pub(crate) fn cost(&self, overhead: u32, window: u32) -> u64 {
        let window = window.max(1);
        if self.largest.saturating_add(overhead) <= window {
            return self.bytes + u64::from(overhead) * u64::from(self.count);
        }
        // A message is capped at the window: count each (rare: large ones).
        let mut rest = self.buf.clone();
        let mut cost = 0;
        while let Some(len) = take(&mut rest, self.header) {
            cost += u64::from(
                u32::try_from(len)
                    .unwrap_or(u32::MAX)
                    .saturating_add(overhead)
                    .min(window),
            );
        }
        cost
    }

    /// The next message; `None` at the end (or at a header that does not
    /// fit, which a checked run never has).
    pub(crate) fn next_message(&mut self) -> Option<Bytes> {
        self.read_next(|buf, len| buf.split_to(len))
            .map(|(_, message)| message)
    }

    /// Hands the next message to `read` in place: the run's buffer, with
    /// the message's `len` bytes at its front, which `read` moves past
    /// (say, by decoding them). No reference count is taken unless `read`
    /// takes one. `None` at the end; else the length and what `read` made.
    pub(crate) fn read_next<R>(
        &mut self,
        read: impl FnOnce(&mut Bytes, usize) -> R,
    ) -> Option<(usize, R)> {
        let len = peek(&self.buf, self.header)?;
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(len as u64);
        self.buf.advance(self.header);
        let before = self.buf.len();
        let made = read(&mut self.buf, len);
        // Past exactly this message, whatever `read` did.
        let used = before - self.buf.len();
        debug_assert!(used <= len, "read past its message");
        self.buf
            .advance(len.saturating_sub(used).min(self.buf.len()));
        Some((len, made))
    }
}

/// The length of the message at the front of `buf`, when all of it is there.
fn peek(buf: &[u8], header: usize) -> Option<usize> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    (buf.len() >= header.checked_add(len)?).then_some(len)
}

/// Skips the message at the front of `buf`, returning its length.
fn take(buf: &mut Bytes, header: usize) -> Option<usize> {
    let len = peek(buf, header)?;
    buf.advance(header + len);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn run(messages: &[&[u8]]) -> MessageRun {
        let mut buf = BytesMut::new();
        for m in messages {
            buf.put_u32(m.len() as u32);
            buf.put_u16(0xabcd);
            buf.put_slice(m);
        }
        let bytes = messages.iter().map(|m| m.len() as u64).sum();
        let largest = messages.iter().map(|m| m.len() as u32).max().unwrap_or(0);
        MessageRun::new(buf.freeze(), 6, messages.len() as u32, bytes, largest)
    }

    #[test]
    fn messages_come_out_in_order() {
        let mut r = run(&[b"ab", b"", b"cde"]);
        assert_eq!(r.count(), 3);
        assert_eq!(r.next_message().as_deref(), Some(&b"ab"[..]));
        assert_eq!(r.next_message().as_deref(), Some(&b""[..]));
        assert_eq!(r.count(), 1);
        assert_eq!(r.next_message().as_deref(), Some(&b"cde"[..]));
        assert_eq!(r.next_message(), None);
        assert_eq!(r.count(), 0);
        assert_eq!(MessageRun::empty().next_message(), None);
    }

    #[test]
    fn a_message_read_in_place_moves_the_run_past_it_whatever_was_read() {
        let mut r = run(&[b"abc", b"de"]);
        let (len, first) = r.read_next(|buf, len| buf[..len].to_vec()).unwrap();
        assert_eq!((len, &first[..]), (3, &b"abc"[..]));
        assert_eq!(r.next_message().as_deref(), Some(&b"de"[..]));
        assert!(r.read_next(|_, _| ()).is_none());
    }

    #[test]
    fn cost_counts_each_message_capped_at_the_window() {
        let mut r = run(&[b"ab", b"", b"cdefgh"]);
        assert_eq!(r.cost(10, 1000), 8 + 30);
        // "cdefgh" costs 16, capped at 12; the others 12 and 10.
        assert_eq!(r.cost(10, 12), 12 + 10 + 12);
        r.next_message();
        assert_eq!(r.cost(10, 1000), 6 + 20, "what is left");
        assert_eq!(r.cost(10, 12), 10 + 12);
    }

    #[test]
    fn a_truncated_run_ends_early_and_never_panics() {
        let mut buf = BytesMut::new();
        buf.put_u32(100);
        buf.put_u16(0);
        buf.put_slice(b"short");
        let mut r = MessageRun::new(buf.freeze(), 6, 1, 100, 100);
        assert_eq!(r.next_message(), None);
    }
}
