//! One INSERT running in the background while the next batch is read from Kafka.
//!
//! Reading and inserting take turns otherwise, and on a small machine the INSERT (the views
//! included) is a large share of a batch's time. Overlapping them keeps exactly-once intact
//! because:
//!
//! - at most one insert is in flight, and the next batch is stored only after it ended, so
//!   batches are stored and committed in offset order;
//! - a revocation waits, inside the rebalance callback, until the insert in flight has ended
//!   ([`InsertSignal::wait`]), so the next owner of a partition reads a watermark that already
//!   includes it — the same guarantee the sequential loop gets from never polling mid-insert;
//! - a failed insert's batch is merged in front of the batch read meanwhile and retried by the
//!   sequential path, which pauses consumption.
//!
//! The wait inside the callback blocks a runtime thread, so it runs under
//! `tokio::task::block_in_place`, which needs the multi-threaded runtime: on a current-thread
//! runtime the pipeline stores batches one after the other instead.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mailpulse_store::{offsets, Client, StoreError};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::batch::Batch;
use crate::pipeline::event_rows;

/// Set when the insert in flight has ended, however it ended.
#[derive(Debug, Default)]
pub struct InsertSignal {
    ended: Mutex<bool>,
    changed: Condvar,
}

impl InsertSignal {
    /// Blocks the calling thread until the insert has ended or `limit` passed; true if ended.
    pub fn wait(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        while !*ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            ended = self
                .changed
                .wait_timeout(ended, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }

    fn end(&self) {
        *self.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }
}

/// Ends the signal when dropped, so a task that panics or is aborted still releases a waiting
/// rebalance.
struct EndOnDrop(Arc<InsertSignal>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// What the background insert hands back.
pub struct InsertOutcome {
    pub batch: Batch,
    pub result: Result<u64, StoreError>,
    pub elapsed: Duration,
}

/// The insert in flight.
pub struct InFlight {
    pub task: JoinHandle<InsertOutcome>,
    pub query_id: String,
    /// Stored ids of its rows: a duplicate arriving meanwhile must still be recognised.
    pub ids: HashSet<Uuid>,
}

impl InFlight {
    pub fn contains_id(&self, id: &Uuid) -> bool {
        self.ids.contains(id)
    }
}

/// What a background insert needs besides the batch.
pub struct InsertJob {
    pub store: Client,
    pub topic: String,
    pub ingested_at: u32,
    pub query_id: String,
    pub timeout: Duration,
    pub signal: Arc<InsertSignal>,
}

/// Starts inserting `batch` (already prepared: filtered and re-gated) in the background.
pub fn spawn(batch: Batch, job: InsertJob) -> InFlight {
    let ids = batch.row_ids();
    let query_id = job.query_id.clone();
    let task = tokio::spawn(async move {
        let _ended = EndOnDrop(job.signal);
        let started = Instant::now();
        let result = offsets::insert_events(
            &job.store,
            event_rows(batch.rows(), &job.topic, job.ingested_at),
            &job.query_id,
            job.timeout,
        )
        .await;
        InsertOutcome {
            batch,
            result,
            elapsed: started.elapsed(),
        }
    });
    InFlight {
        task,
        query_id,
        ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_returns_once_the_insert_ends_even_by_drop() {
        let signal = Arc::new(InsertSignal::default());
        assert!(!signal.wait(Duration::from_millis(10)), "not ended yet");
        let guard = EndOnDrop(signal.clone());
        let waiter = {
            let signal = signal.clone();
            std::thread::spawn(move || signal.wait(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        drop(guard);
        assert!(
            waiter.join().expect("waiter thread"),
            "released by the drop"
        );
    }
}
