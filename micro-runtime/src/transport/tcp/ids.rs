//! Maps keyed by stream ids this side chose (a client's calls): a
//! multiplicative hash instead of SipHash, which guards against keys an
//! attacker picks, a threat ids we number ourselves do not pose. (The
//! server keys by ids its peer picks and keeps the default hasher.)

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by our own stream ids.
pub(crate) type OwnIdMap<V> = HashMap<u32, V, BuildHasherDefault<OwnIdHasher>>;

/// Fibonacci hashing of a `u32` id: sequential ids land in distinct
/// buckets and spread over the top bits the table also uses.
#[derive(Default)]
pub(crate) struct OwnIdHasher(u64);

impl Hasher for OwnIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(FIBONACCI);
    }
}

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_hash_apart() {
        let hash = |id: u32| {
            let mut h = OwnIdHasher::default();
            h.write_u32(id);
            h.finish()
        };
        assert_ne!(hash(1), hash(2));
        assert_ne!(hash(1) >> 57, hash(2) >> 57);
        let mut map = OwnIdMap::default();
        for id in 0..1000 {
            map.insert(id, id * 2);
        }
        assert_eq!(map.get(&500), Some(&1000));
    }
}
