//! Key ranges every etcd-backed block needs.

/// The end of etcd's range for every key starting with `prefix`: the
/// prefix with its last byte below 0xff incremented (etcd's `WithPrefix`).
pub(crate) fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff (or no prefix): to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_is_etcds_prefix_end() {
        assert_eq!(range_end(b"/micro/"), b"/micro0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b"\xff"), vec![0]);
        assert_eq!(range_end(b""), vec![0]);
    }
}
