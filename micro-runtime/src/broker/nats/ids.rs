//! Message ids made on receipt, for core NATS messages that came without
//! one (see the module docs on the envelope).

/// Unique message ids made one after another, for the messages a
/// subscription receives without one: 16 hex digits of a random prefix
/// drawn once, then 16 of a count, so an id costs no random number.
pub(super) struct IdSequence {
    prefix: [u8; 16],
    next: u64,
}

impl IdSequence {
    /// A sequence with a new random prefix.
    pub(super) fn new() -> Self {
        Self {
            prefix: hex_digits(fastrand::u64(..)),
            next: 0,
        }
    }

    /// The next id's 32 ASCII hex digits.
    pub(super) fn next_digits(&mut self) -> [u8; 32] {
        let mut digits = [0u8; 32];
        digits[..16].copy_from_slice(&self.prefix);
        digits[16..].copy_from_slice(&hex_digits(self.next));
        self.next = self.next.wrapping_add(1);
        digits
    }
}

/// `value` as 16 lower-case hex digits, most significant first: every
/// nibble spread to a byte, then turned into its digit, all in one word
/// at a time (no table, no branch; one per core message received).
fn hex_digits(value: u64) -> [u8; 16] {
    /// The low nibbles of the 4 bytes of `half` in the 8 bytes of the
    /// result, the first nibble in the highest byte.
    fn spread(half: u32) -> u64 {
        let mut x = u64::from(half);
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        x
    }
    /// Nibbles (one per byte) as ASCII: '0' + n, plus 39 more for a-f.
    fn digits(nibbles: u64) -> u64 {
        let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        nibbles + 0x3030_3030_3030_3030 + letters * 39
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&digits(spread((value >> 32) as u32)).to_be_bytes());
    out[8..].copy_from_slice(&digits(spread(value as u32)).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digits_match_the_formatter() {
        for value in [
            0,
            1,
            9,
            10,
            15,
            16,
            0xdead_beef,
            u64::MAX,
            0x0123_4567_89ab_cdef,
        ]
        .into_iter()
        .chain(std::iter::repeat_with(|| fastrand::u64(..)).take(1000))
        {
            let digits = hex_digits(value);
            assert_eq!(
                std::str::from_utf8(&digits).unwrap(),
                format!("{value:016x}")
            );
        }
    }

    #[test]
    fn ids_in_a_sequence_differ_and_share_the_prefix() {
        let mut ids = IdSequence::new();
        let (a, b) = (ids.next_digits(), ids.next_digits());
        assert_ne!(a, b);
        assert_eq!(a[..16], b[..16]);
        assert_eq!(&a[16..], b"0000000000000000");
        assert_eq!(&b[16..], b"0000000000000001");
        assert!(
            a.iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
