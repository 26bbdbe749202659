//! The W3C `traceparent` header: `vv-<trace id>-<parent id>-<flags>`, read
//! and written without the formatting machinery (every traced call reads
//! one and many write one).

/// A well-formed `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Traceparent {
    /// The trace's id (never zero).
    pub(crate) trace_id: u128,
    /// The parent span's id (never zero).
    pub(crate) span_id: u64,
    /// Trace flags; bit 0 says the caller sampled (recorded) the trace.
    pub(crate) flags: u8,
}

/// Each byte's hex value, 0x80 for a byte that is not a hex digit: a table
/// rather than comparisons, as random ids make the branches unpredictable.
const HEX: [u8; 256] = {
    let mut table = [0x80; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Each byte as its two lower-case hex digits.
const PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
        i += 1;
    }
    table
};

/// The value of up to 16 hex digits, `None` if one is not a digit.
fn hex(digits: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    let mut bad = 0u8;
    for &b in digits {
        let digit = HEX[usize::from(b)];
        bad |= digit;
        value = (value << 4) | u64::from(digit & 0x0f);
    }
    (bad & 0x80 == 0).then_some(value)
}

impl Traceparent {
    /// The header's parts, or `None` unless it has version 00's layout (a
    /// later version may append fields after the flags; `ff` is invalid).
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let bytes = header.as_bytes();
        if bytes.len() < 55 || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let version = hex(&bytes[..2])?;
        let longer_allowed = version != 0 && bytes.get(55).is_none_or(|&b| b == b'-');
        if version == 0xff || (bytes.len() > 55 && !longer_allowed) {
            return None;
        }
        let trace_id = u128::from(hex(&bytes[3..19])?) << 64 | u128::from(hex(&bytes[19..35])?);
        let span_id = hex(&bytes[36..52])?;
        let flags = u8::try_from(hex(&bytes[53..55])?).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// Whether a header with version 00's layout says its trace is not
    /// sampled, read from the flags alone (no id is decoded): the common
    /// case of a call its caller left out, passed on unchanged.
    pub(crate) fn says_unsampled(header: &str) -> bool {
        let bytes = header.as_bytes();
        bytes.len() >= 55
            && bytes[2] == b'-'
            && bytes[35] == b'-'
            && bytes[52] == b'-'
            && hex(&bytes[53..55]).is_some_and(|flags| flags & 1 == 0)
    }

    /// A new trace's first position with random ids and `flags`.
    pub(crate) fn random(flags: u8) -> Self {
        Self {
            // Never zero (the low half is not), without 128-bit range math.
            trace_id: (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(1..)),
            span_id: fastrand::u64(1..),
            flags,
        }
    }

    /// Whether the caller recorded the trace.
    pub(crate) fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id's low 64 bits, what a ratio sampler decides by.
    pub(crate) fn low_bits(&self) -> u64 {
        self.trace_id as u64
    }

    /// The header in version 00 form.
    pub(crate) fn header(&self) -> String {
        let mut out = Vec::with_capacity(55);
        out.extend_from_slice(b"00-");
        push_hex(&mut out, &self.trace_id.to_be_bytes());
        out.push(b'-');
        push_hex(&mut out, &self.span_id.to_be_bytes());
        out.push(b'-');
        push_hex(&mut out, &[self.flags]);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.extend_from_slice(&PAIRS[usize::from(b)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_writes_version_00() {
        let parent = Traceparent::parse(HEADER).unwrap();
        assert_eq!(parent.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(parent.span_id, 0x00f067aa0ba902b7);
        assert!(parent.sampled());
        assert_eq!(parent.low_bits(), 0xa3ce929d0e0e4736);
        assert_eq!(parent.header(), HEADER);
        let upper = HEADER.to_ascii_uppercase();
        assert_eq!(Traceparent::parse(&upper), Some(parent));
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let later = format!("01{}-what-comes-é", &HEADER[2..]);
        assert!(Traceparent::parse(&later).is_some());
        assert!(Traceparent::parse(&format!("{HEADER}-more")).is_none());
    }

    #[test]
    fn malformed_headers_are_none() {
        for bad in [
            "",
            "00",
            "00-4bf92f35-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_flags_alone_say_unsampled() {
        assert!(!Traceparent::says_unsampled(HEADER));
        assert!(Traceparent::says_unsampled(&HEADER.replace("-01", "-00")));
        assert!(!Traceparent::says_unsampled("00-4bf9-00"));
        assert!(!Traceparent::says_unsampled(&HEADER.replace("-01", "-0x")));
    }

    #[test]
    fn random_positions_are_well_formed() {
        for _ in 0..100 {
            let parent = Traceparent::random(0);
            assert_eq!(Traceparent::parse(&parent.header()), Some(parent));
            assert!(!parent.sampled());
        }
    }
}
