//! Which offsets may be committed: per partition, the first offset still
//! being handled (or the one after the last received), so a commit never
//! passes a message that is not settled.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::topic_partition_list::TopicPartitionList;

/// Per-partition state of one consumer.
#[derive(Default)]
pub(super) struct Offsets {
    epoch: AtomicU64,
    partitions: Mutex<HashMap<(String, i32), Partition>>,
}

struct Partition {
    /// Bumped at every assignment, so settlements from an earlier one are
    /// ignored.
    epoch: u64,
    /// Received, not yet settled.
    in_flight: BTreeSet<i64>,
    /// One past the highest offset received.
    next: i64,
    /// The position last returned for storing.
    stored: i64,
}

impl Offsets {
    /// Partitions assigned: start them afresh.
    pub(super) fn assign(&self, list: &TopicPartitionList) {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let mut partitions = self.partitions.lock().unwrap();
        for elem in list.elements() {
            partitions.insert(
                (elem.topic().to_owned(), elem.partition()),
                Partition {
                    epoch,
                    in_flight: BTreeSet::new(),
                    next: -1,
                    stored: -1,
                },
            );
        }
    }

    /// Partitions revoked: forget them.
    pub(super) fn revoke(&self, list: &TopicPartitionList) {
        let mut partitions = self.partitions.lock().unwrap();
        for elem in list.elements() {
            partitions.remove(&(elem.topic().to_owned(), elem.partition()));
        }
    }

    /// A message was received; returns the assignment epoch to settle it with.
    pub(super) fn received(&self, topic: &str, partition: i32, offset: i64) -> u64 {
        let mut partitions = self.partitions.lock().unwrap();
        let epoch = self.epoch.load(Ordering::Relaxed);
        let state = partitions
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| Partition {
                epoch,
                in_flight: BTreeSet::new(),
                next: -1,
                stored: -1,
            });
        if state.next < 0 {
            // Nothing settled yet: the group would resume here anyway.
            state.stored = offset;
        }
        state.in_flight.insert(offset);
        state.next = state.next.max(offset + 1);
        state.epoch
    }

    /// A message was settled; returns the position to store (the next
    /// offset to consume) when it moved.
    pub(super) fn settled(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        epoch: u64,
    ) -> Option<i64> {
        let mut partitions = self.partitions.lock().unwrap();
        let state = partitions.get_mut(&(topic.to_owned(), partition))?;
        if state.epoch != epoch || !state.in_flight.remove(&offset) {
            return None;
        }
        let position = state.in_flight.first().copied().unwrap_or(state.next);
        (position > state.stored).then(|| {
            state.stored = position;
            position
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_never_pass_a_message_in_flight() {
        let offsets = Offsets::default();
        let e: Vec<u64> = (10..14).map(|o| offsets.received("t", 0, o)).collect();
        assert_eq!(
            offsets.settled("t", 0, 11, e[1]),
            None,
            "10 still in flight"
        );
        assert_eq!(offsets.settled("t", 0, 12, e[2]), None);
        assert_eq!(offsets.settled("t", 0, 10, e[0]), Some(13), "10..=12 done");
        assert_eq!(offsets.settled("t", 0, 13, e[3]), Some(14));
        assert_eq!(offsets.settled("t", 0, 13, e[3]), None, "settled once");
    }

    #[test]
    fn settlements_of_an_earlier_assignment_are_ignored() {
        let offsets = Offsets::default();
        let mut list = TopicPartitionList::new();
        list.add_partition("t", 0);
        offsets.assign(&list);
        let old = offsets.received("t", 0, 5);
        offsets.revoke(&list);
        offsets.assign(&list);
        let new = offsets.received("t", 0, 5);
        assert_eq!(offsets.settled("t", 0, 5, old), None);
        assert_eq!(offsets.settled("t", 0, 5, new), Some(6));
    }
}
