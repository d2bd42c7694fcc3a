//! The bounded set of recently stored event ids that catches duplicates produced upstream
//! (an edge retrying a send, a spool replayed twice): same id, different Kafka offset.
//!
//! Bounded in count and in age; the oldest ids leave first. The pipeline loads the ids stored
//! from each partition it is assigned, so a duplicate is caught after a restart or when the
//! partition moved from another replica.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

#[derive(Debug)]
pub struct RecentIds {
    ids: HashSet<Uuid>,
    /// Insertion order with the insertion time (seconds), for eviction.
    order: VecDeque<(Uuid, u64)>,
    capacity: usize,
    window_secs: u64,
    /// Partitions whose stored ids were loaded from ClickHouse since they were last assigned.
    seeded: HashSet<i32>,
}

impl RecentIds {
    pub fn new(capacity: usize, window_secs: u64) -> RecentIds {
        RecentIds {
            ids: HashSet::with_capacity(capacity.min(1 << 20)),
            order: VecDeque::with_capacity(capacity.min(1 << 20)),
            capacity: capacity.max(1),
            window_secs,
            seeded: HashSet::new(),
        }
    }

    /// Whether the stored ids of `partition` are loaded (see [`RecentIds::mark_seeded`]).
    pub fn is_seeded(&self, partition: i32) -> bool {
        self.seeded.contains(&partition)
    }

    /// Notes that the stored ids of `partition` have been loaded.
    pub fn mark_seeded(&mut self, partition: i32) {
        self.seeded.insert(partition);
    }

    /// A (re)assigned partition: another consumer may have stored more of it meanwhile.
    pub fn forget_seeding(&mut self, partition: i32) {
        self.seeded.remove(&partition);
    }

    /// Whether the event `id` was stored, in either of its stored forms.
    pub fn contains_event(&self, id: &Uuid, anonymous: &Uuid) -> bool {
        self.ids.contains(id) || self.ids.contains(anonymous)
    }

    #[cfg(test)]
    fn contains(&self, id: &Uuid) -> bool {
        self.ids.contains(id)
    }

    /// Records `id` as stored at `now_secs`, evicting the oldest beyond the bounds.
    pub fn insert(&mut self, id: Uuid, now_secs: u64) {
        if !self.ids.insert(id) {
            return;
        }
        self.order.push_back((id, now_secs));
        while self.order.len() > self.capacity {
            self.evict_oldest();
        }
        let horizon = now_secs.saturating_sub(self.window_secs);
        while matches!(self.order.front(), Some((_, at)) if *at < horizon) {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((old, _)) = self.order.pop_front() {
            self.ids.remove(&old);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn remembers_until_capacity_then_forgets_the_oldest() {
        let mut recent = RecentIds::new(3, 3600);
        for n in 1..=4 {
            recent.insert(id(n), 100);
        }
        assert!(!recent.contains(&id(1)));
        assert!(recent.contains(&id(2)) && recent.contains(&id(4)));
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn forgets_ids_older_than_the_window() {
        let mut recent = RecentIds::new(100, 60);
        recent.insert(id(1), 1_000);
        recent.insert(id(2), 1_030);
        recent.insert(id(3), 1_070);
        assert!(!recent.contains(&id(1)), "70 s old, window 60 s");
        assert!(recent.contains(&id(2)) && recent.contains(&id(3)));
    }

    #[test]
    fn inserting_twice_keeps_one_entry() {
        let mut recent = RecentIds::new(2, 60);
        recent.insert(id(1), 0);
        recent.insert(id(1), 0);
        recent.insert(id(2), 0);
        assert!(recent.contains(&id(1)) && recent.contains(&id(2)));
    }
}
