//! Storing a batch: what happens before its INSERT (dead letters, consent withdrawals, the
//! unsettled insert, re-gating, watermark and duplicate filtering), the INSERT itself — in the
//! foreground with retries and paused consumption, or in the background while the next batch
//! is read — and the offset commit after it. See `crate::pipeline` for why this is exactly once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpulse_store::{offsets, StoreError};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use uuid::Uuid;

use crate::batch::Batch;
use crate::consent_policy::regate;
use crate::inflight::{self, InsertJob, InsertOutcome, InsertSignal};
use crate::pipeline::{event_rows, stopping, unix_now, Incoming, Pipeline};
use crate::row::anonymous_id;

/// Longest wait between insert retries.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Why a store attempt did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreAttemptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dead-letter delivery failed: {0}")]
    DeadLetter(#[from] rdkafka::error::KafkaError),
    #[error("consent withdrawal delivery failed: {0}")]
    Withdrawal(rdkafka::error::KafkaError),
    #[error("the previous insert {0} is still running on the server")]
    StillRunning(String),
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Stored (or nothing left to store) and committed.
    Committed,
    /// Shutdown came first: nothing committed, the next owner reads it again.
    Abandoned,
}

impl Pipeline {
    /// Stores the batch and commits its offsets, retrying until it succeeds or shutdown.
    pub(crate) async fn flush(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        mode: CommitMode,
    ) -> Flushed {
        let mut delay = self.settings.retry_initial;
        loop {
            match self.try_store().await {
                Ok(()) => break,
                Err(error) => {
                    self.metrics.insert_retries.inc();
                    tracing::warn!(%error, ?delay, rows = self.batch.rows().len(), "storing the batch failed; consumption paused, will retry");
                    self.set_paused(true);
                    if !self.wait_serving_consumer(delay, shutdown).await {
                        return Flushed::Abandoned;
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
        self.commit(mode);
        if self.paused {
            self.set_paused(false);
            tracing::info!("ClickHouse accepts inserts again; consumption resumed");
        }
        Flushed::Committed
    }

    /// Loads the ids stored from the batch's partitions that were (re)assigned since their ids
    /// were last loaded. An upstream duplicate lands in its original's partition (same key), so
    /// this catches one whichever replica stored the original, before or after a restart.
    async fn seed_partitions(&mut self) -> Result<(), StoreError> {
        let unseeded: Vec<i32> = self
            .batch
            .partitions()
            .filter(|partition| !self.recent.is_seeded(*partition))
            .collect();
        if unseeded.is_empty() {
            return Ok(());
        }
        let since = unix_now().saturating_sub(self.settings.dedup_window_secs + 3600);
        let ids = offsets::recent_event_ids(
            &self.store,
            &self.settings.topic,
            &unseeded,
            u32::try_from(since).unwrap_or(0),
            self.settings.dedup_capacity as u64,
        )
        .await?;
        let now = unix_now();
        // Newest first from the query; insert oldest first so eviction order holds.
        for id in ids.iter().rev() {
            self.recent.insert(*id, now);
        }
        for partition in &unseeded {
            self.recent.mark_seeded(*partition);
        }
        tracing::info!(partitions = ?unseeded, ids = ids.len(), "stored ids loaded for the duplicate filter");
        Ok(())
    }

    /// Delivers dead letters, drops rows already stored, and inserts the rest as one INSERT.
    async fn try_store(&mut self) -> Result<(), StoreAttemptError> {
        self.prepare_store().await?;
        if self.batch.rows().is_empty() {
            return Ok(());
        }
        let query_id = Uuid::now_v7().to_string();
        let ingested_at = u32::try_from(unix_now()).unwrap_or(u32::MAX);
        let topic = self.settings.topic.as_str();
        let started = Instant::now();
        let result = offsets::insert_events(
            &self.store,
            event_rows(self.batch.rows(), topic, ingested_at),
            &query_id,
            self.settings.insert_timeout,
        )
        .await;
        match result {
            Ok(written) => {
                self.metrics
                    .insert_duration
                    .observe(started.elapsed().as_secs_f64());
                self.metrics.inserted.inc_by(written);
                let batch = std::mem::take(&mut self.batch);
                self.advance_watermarks(&batch);
                self.batch = batch;
                Ok(())
            }
            Err(error) => {
                // The server may still complete it: settle that, then re-read the watermarks.
                self.unsettled_insert = Some(query_id);
                for partition in self.batch.partitions().collect::<Vec<_>>() {
                    self.watermarks.remove(&partition);
                }
                Err(error.into())
            }
        }
    }

    /// Everything before the INSERT: delivers dead letters and consent withdrawals, waits out
    /// an unsettled insert, re-gates the rows, and drops those already stored.
    async fn prepare_store(&mut self) -> Result<(), StoreAttemptError> {
        self.apply_rebalances();
        if !self.batch.dead_letters_mut().is_empty() {
            self.dead_letters
                .confirm(self.batch.dead_letters_mut())
                .await?;
        }
        if !self.withdrawals.is_empty() {
            self.withdrawals
                .confirm()
                .await
                .map_err(StoreAttemptError::Withdrawal)?;
        }
        if let Some(query_id) = &self.unsettled_insert {
            if offsets::query_running(&self.store, query_id).await? {
                return Err(StoreAttemptError::StillRunning(query_id.clone()));
            }
            self.unsettled_insert = None;
        }
        // Consent may have changed since these rows were accepted (an erasure waits for
        // this): decide them again with the book as it is now, then report that book as safe,
        // since no insert gated with an older one can still land. Done first, right after the
        // previous insert is known to be over, so that a failing step below (a missing table)
        // cannot keep an erasure waiting; the steps below only remove rows.
        let applied = self.consent.applied().snapshot();
        let regated = regate(
            &mut self.batch,
            &self.gate,
            &self.consent,
            &self.pseudonymizer,
        );
        for _ in 0..regated.dropped {
            self.metrics.skip("consent");
        }
        if regated.lowered > 0 {
            tracing::debug!(
                rows = regated.lowered,
                "pending rows lowered after a consent change"
            );
        }
        self.progress.safe(applied);
        let unknown: Vec<i32> = self
            .batch
            .partitions()
            .filter(|p| !self.watermarks.contains_key(p))
            .collect();
        if !unknown.is_empty() {
            let stored = offsets::watermarks(&self.store, &self.settings.topic).await?;
            for partition in unknown {
                self.watermarks
                    .insert(partition, stored.get(&partition).copied());
            }
        }
        let watermarks = &self.watermarks;
        let already = self
            .batch
            .drop_stored(|partition| watermarks.get(&partition).copied().flatten());
        let now = unix_now();
        for id in already {
            self.metrics.skip("offset");
            self.recent.insert(id, now);
        }
        self.seed_partitions().await?;
        // Duplicates of events stored by whoever owned a partition before us.
        let recent = &self.recent;
        let before = self.batch.rows().len();
        self.batch
            .revise_rows(|row| !recent.contains_event(&row.event.id, &anonymous_id(&row.event.id)));
        for _ in self.batch.rows().len()..before {
            self.metrics.skip("event_id");
        }
        Ok(())
    }

    /// Raises the known watermarks to the offsets of `batch`'s rows, now stored.
    fn advance_watermarks(&mut self, batch: &Batch) {
        for row in batch.rows() {
            let known = self.watermarks.entry(row.partition).or_insert(None);
            *known = Some(known.map_or(row.offset, |w| w.max(row.offset)));
        }
    }

    /// Prepares the batch and starts its INSERT in the background (see `inflight`); the loop
    /// goes on reading. The previous background insert is settled first, so one at most runs.
    pub(crate) async fn flush_in_background(&mut self, shutdown: &mut watch::Receiver<bool>) {
        self.settle_in_flight().await;
        if self.retry_pending {
            self.retry_pending = false;
            self.flush(shutdown, CommitMode::Async).await;
            return;
        }
        if let Err(error) = self.prepare_store().await {
            // ClickHouse or Kafka trouble: the sequential path pauses and retries.
            tracing::debug!(%error, "preparing the batch failed; storing it in the foreground");
            self.flush(shutdown, CommitMode::Async).await;
            return;
        }
        if self.batch.rows().is_empty() {
            self.commit(CommitMode::Async);
            return;
        }
        let signal = Arc::new(InsertSignal::default());
        self.consumer
            .context()
            .set_insert_in_flight(Some(signal.clone()));
        let job = InsertJob {
            store: self.store.clone(),
            topic: self.settings.topic.clone(),
            ingested_at: u32::try_from(unix_now()).unwrap_or(u32::MAX),
            query_id: Uuid::now_v7().to_string(),
            timeout: self.settings.insert_timeout,
            signal,
        };
        self.in_flight = Some(inflight::spawn(std::mem::take(&mut self.batch), job));
    }

    /// Waits for the background insert, if any. Stored: its offsets are committed. Failed: its
    /// batch goes back in front of the current one, for the sequential path to retry.
    pub(crate) async fn settle_in_flight(&mut self) {
        let Some(in_flight) = self.in_flight.take() else {
            return;
        };
        let outcome = in_flight.task.await;
        self.consumer.context().set_insert_in_flight(None);
        let InsertOutcome {
            mut batch,
            result,
            elapsed,
        } = match outcome {
            Ok(outcome) => outcome,
            // A panic in the insert task is a bug; carry it on rather than commit past a batch
            // that is lost (nothing of it was committed, so it is read again after a restart).
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        };
        match result {
            Ok(written) => {
                self.metrics.insert_duration.observe(elapsed.as_secs_f64());
                self.metrics.inserted.inc_by(written);
                self.advance_watermarks(&batch);
                self.commit_batch(&mut batch, CommitMode::Async);
            }
            Err(error) => {
                self.metrics.insert_retries.inc();
                tracing::warn!(%error, rows = batch.rows().len(), "background insert failed; retrying it in the foreground");
                // The server may still complete it: settle that, then re-read the watermarks.
                self.unsettled_insert = Some(in_flight.query_id);
                for partition in batch.partitions().collect::<Vec<_>>() {
                    self.watermarks.remove(&partition);
                }
                batch.absorb(std::mem::take(&mut self.batch));
                self.batch = batch;
                self.retry_pending = true;
            }
        }
    }

    /// Sleeps `delay` while still polling the consumer, so rebalances are served and the group
    /// keeps this member. False if shutdown came first.
    async fn wait_serving_consumer(
        &mut self,
        delay: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let until = tokio::time::Instant::now() + delay;
        loop {
            if stopping(shutdown) {
                return false;
            }
            let received = tokio::select! {
                _ = shutdown.changed() => return false,
                received = tokio::time::timeout_at(until, self.consumer.recv()) => match received {
                    Err(_elapsed) => None,
                    Ok(Ok(message)) => Some(Some(Incoming::from_message(&message))),
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "consume error while paused");
                        Some(None)
                    }
                },
            };
            self.apply_rebalances();
            match received {
                None => return true,
                // A message from before the pause took effect: it belongs to the batch.
                Some(Some(incoming)) => self.handle(incoming),
                Some(None) => {}
            }
        }
    }

    pub(crate) fn set_paused(&mut self, paused: bool) {
        let assignment = match self.consumer.assignment() {
            Ok(assignment) => assignment,
            Err(error) => {
                tracing::warn!(%error, "cannot read the assignment");
                return;
            }
        };
        let result = if paused {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        if let Err(error) = result {
            tracing::warn!(%error, paused, "pause/resume failed");
        }
        self.paused = paused;
        self.health.set_paused(paused);
        self.metrics.paused.set(i64::from(paused));
    }

    fn commit(&mut self, mode: CommitMode) {
        let mut batch = std::mem::take(&mut self.batch);
        self.commit_batch(&mut batch, mode);
        self.batch = batch;
    }

    /// Commits the offsets after `batch` (stored) and empties it into the recent ids.
    fn commit_batch(&mut self, batch: &mut Batch, mode: CommitMode) {
        let mut positions = TopicPartitionList::new();
        for (partition, next) in batch.commit_positions() {
            if !self.assigned.contains(&partition) {
                continue;
            }
            if let Err(error) = positions.add_partition_offset(
                &self.settings.topic,
                partition,
                Offset::Offset(next),
            ) {
                tracing::warn!(%error, partition, "cannot list the offset to commit");
            }
        }
        if positions.count() > 0 {
            if let Err(error) = self.consumer.commit(&positions, mode) {
                // Stored already; a redelivery is skipped by the watermark.
                tracing::warn!(%error, "offset commit failed");
            }
        }
        if let Some(started) = batch.started() {
            self.metrics
                .batch_latency
                .observe(started.elapsed().as_secs_f64());
        }
        self.metrics.batches.inc();
        let now = unix_now();
        for id in batch.finish() {
            self.recent.insert(id, now);
        }
    }
}
