//! The batch being assembled: accepted rows, how far each partition has been processed, and
//! the dead-letter deliveries that must be confirmed before the offsets may be committed.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::producer::DeliveryFuture;
use uuid::Uuid;

use crate::row::PendingRow;

/// A poison message on its way to the dead-letter topic.
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: String,
    /// The producer's delivery report; `None` until it has been handed to the producer.
    pub delivery: Option<DeliveryFuture>,
}

#[derive(Default)]
pub struct Batch {
    rows: Vec<PendingRow>,
    /// Stored ids of `rows`, to catch a duplicate inside the batch.
    ids: HashSet<Uuid>,
    /// Partition → last offset processed (stored, skipped, dropped or dead-lettered).
    progress: BTreeMap<i32, i64>,
    dead_letters: Vec<DeadLetter>,
    messages: usize,
    started: Option<Instant>,
}

impl Batch {
    /// Notes that `offset` of `partition` has been handled, whatever the outcome.
    pub fn processed(&mut self, partition: i32, offset: i64) {
        self.started.get_or_insert_with(Instant::now);
        self.messages += 1;
        let last = self.progress.entry(partition).or_insert(offset);
        *last = (*last).max(offset);
    }

    pub fn push_row(&mut self, row: PendingRow) {
        self.ids.insert(row.stored_id);
        self.rows.push(row);
    }

    pub fn push_dead_letter(&mut self, letter: DeadLetter) {
        self.dead_letters.push(letter);
    }

    pub fn contains_id(&self, id: &Uuid) -> bool {
        self.ids.contains(id)
    }

    pub fn rows(&self) -> &[PendingRow] {
        &self.rows
    }

    pub fn dead_letters_mut(&mut self) -> &mut Vec<DeadLetter> {
        &mut self.dead_letters
    }

    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    pub fn messages(&self) -> usize {
        self.messages
    }

    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Full, or waited long enough.
    pub fn is_due(&self, max_messages: usize, max_wait: Duration) -> bool {
        self.messages >= max_messages || self.started.is_some_and(|t| t.elapsed() >= max_wait)
    }

    /// When the time limit expires; `None` while empty.
    pub fn deadline(&self, max_wait: Duration) -> Option<Instant> {
        self.started.map(|t| t + max_wait)
    }

    /// Partitions with anything in this batch.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.progress.keys().copied()
    }

    /// Offsets to commit: the next offset to read, per partition.
    pub fn commit_positions(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.progress.iter().map(|(p, last)| (*p, last + 1))
    }

    /// Forgets everything of `partitions` (revoked: the next owner reads them again).
    pub fn discard_partitions(&mut self, partitions: &[i32]) {
        if partitions.is_empty() || self.is_empty() {
            return;
        }
        let revoked = |p: &i32| partitions.contains(p);
        let before = self.rows.len();
        self.rows.retain(|row| !revoked(&row.partition));
        if self.rows.len() != before {
            self.ids = self.rows.iter().map(|row| row.stored_id).collect();
        }
        self.dead_letters
            .retain(|letter| !revoked(&letter.partition));
        self.progress.retain(|p, _| !revoked(p));
        if self.progress.is_empty() {
            *self = Batch::default();
        }
    }

    /// Lets `revise` change each row in place or return false to remove it (consent changed
    /// since the row was accepted), keeping the id set in step.
    pub fn revise_rows(&mut self, revise: impl FnMut(&mut PendingRow) -> bool) {
        self.rows.retain_mut(revise);
        self.ids = self.rows.iter().map(|row| row.stored_id).collect();
    }

    /// Removes rows already stored according to `stored` (partition → highest stored offset)
    /// and returns their ids.
    pub fn drop_stored(&mut self, stored: impl Fn(i32) -> Option<i64>) -> Vec<Uuid> {
        let mut already = Vec::new();
        self.rows.retain(|row| match stored(row.partition) {
            Some(watermark) if row.offset <= watermark => {
                already.push(row.stored_id);
                false
            }
            _ => true,
        });
        already
    }

    /// Stored ids of the rows.
    pub fn row_ids(&self) -> HashSet<Uuid> {
        self.ids.clone()
    }

    /// Appends `later`, read after this batch: its rows follow these, its progress extends
    /// this one's. Used to retry a failed insert together with what was read meanwhile.
    pub fn absorb(&mut self, later: Batch) {
        let Batch {
            rows,
            ids,
            progress,
            dead_letters,
            messages,
            started,
        } = later;
        self.rows.extend(rows);
        self.ids.extend(ids);
        for (partition, offset) in progress {
            let last = self.progress.entry(partition).or_insert(offset);
            *last = (*last).max(offset);
        }
        self.dead_letters.extend(dead_letters);
        self.messages += messages;
        self.started = match (self.started, started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Empties the batch, returning the stored ids of its rows.
    pub fn finish(&mut self) -> HashSet<Uuid> {
        let ids = std::mem::take(&mut self.ids);
        *self = Batch::default();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::{Enriched, SubscriberKey};
    use crate::test_support::sample_event;
    use mailpulse_event::TrackingLevel;

    fn row(partition: i32, offset: i64) -> PendingRow {
        PendingRow {
            event: sample_event(),
            partition,
            offset,
            stored_id: Uuid::from_u128((partition as u128) << 64 | offset as u128),
            level: TrackingLevel::Identified,
            key: SubscriberKey::Identified,
            enriched: Enriched {
                browser: "",
                os: "",
                device: "",
                email_client: "",
                machine_reason: None,
            },
        }
    }

    fn batch_of(entries: &[(i32, i64)]) -> Batch {
        let mut batch = Batch::default();
        for (partition, offset) in entries {
            batch.processed(*partition, *offset);
            batch.push_row(row(*partition, *offset));
        }
        batch
    }

    #[test]
    fn commits_the_offset_after_the_last_processed_one() {
        let mut batch = batch_of(&[(0, 5), (0, 6), (1, 10)]);
        batch.processed(0, 7); // a dropped message counts as processed
        let positions: Vec<_> = batch.commit_positions().collect();
        assert_eq!(positions, vec![(0, 8), (1, 11)]);
    }

    #[test]
    fn discarding_a_partition_removes_its_rows_ids_and_progress() {
        let mut batch = batch_of(&[(0, 5), (1, 10)]);
        let revoked_id = batch.rows()[0].stored_id;
        batch.discard_partitions(&[0]);
        assert_eq!(batch.rows().len(), 1);
        assert!(!batch.contains_id(&revoked_id));
        assert_eq!(batch.commit_positions().collect::<Vec<_>>(), vec![(1, 11)]);
        batch.discard_partitions(&[1]);
        assert!(batch.is_empty());
    }

    #[test]
    fn rows_at_or_below_the_watermark_are_dropped_as_stored() {
        let mut batch = batch_of(&[(0, 5), (0, 6), (0, 7), (1, 3)]);
        let already = batch.drop_stored(|p| if p == 0 { Some(6) } else { None });
        assert_eq!(already.len(), 2);
        let left: Vec<_> = batch
            .rows()
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(left, vec![(0, 7), (1, 3)]);
        assert_eq!(
            batch.commit_positions().collect::<Vec<_>>(),
            vec![(0, 8), (1, 4)]
        );
    }

    #[test]
    fn absorbing_a_later_batch_keeps_order_and_extends_progress() {
        let mut earlier = batch_of(&[(0, 5), (1, 10)]);
        let later = batch_of(&[(0, 6), (2, 1)]);
        let later_id = later.rows()[0].stored_id;
        earlier.absorb(later);
        let order: Vec<_> = earlier
            .rows()
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(order, vec![(0, 5), (1, 10), (0, 6), (2, 1)]);
        assert!(earlier.contains_id(&later_id));
        assert_eq!(
            earlier.commit_positions().collect::<Vec<_>>(),
            vec![(0, 7), (1, 11), (2, 2)]
        );
        assert_eq!(earlier.messages(), 4);
    }

    #[test]
    fn is_due_when_full_or_old() {
        let batch = batch_of(&[(0, 1), (0, 2)]);
        assert!(batch.is_due(2, Duration::from_secs(60)));
        assert!(!batch.is_due(3, Duration::from_secs(60)));
        assert!(batch.is_due(3, Duration::ZERO));
        assert!(!Batch::default().is_due(1, Duration::ZERO));
    }
}
