//! Unsubscribes withdraw consent: every `unsubscribe` event the pipeline accepts becomes a
//! [`ConsentRecord`] on the consent topic, `marketing: unsubscribed`, `state: denied`,
//! `source: unsubscribe`.
//!
//! Why `denied` and not the subscriber's previous tracking state: an unsubscribe is an objection
//! to direct marketing, and open/click tracking of marketing mail is processing for that
//! purpose (GDPR art. 21(3): it must stop). The compacted topic keeps one record per
//! subscriber, so the record must state the tracking consent too; `denied` is the only value
//! that cannot track someone who asked us to stop.
//!
//! Delivery: records are sent as the events are accepted and awaited before the batch's INSERT
//! and offset commit ([`Withdrawals::confirm`]), so an unsubscribe is never committed without
//! its consent record. A redelivered event publishes the same record again (same `ts_ms`: the
//! event's), which the compacted topic absorbs. It is published whatever the event's own
//! tracking consent: an unsubscribe is honoured even from someone we may not track.

use mailpulse_config::KafkaConfig;
use mailpulse_event::{
    ConsentRecord, ConsentState, Event, MarketingConsent, CONSENT_SCHEMA_VERSION,
};
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::kafka::{client_config, with_overrides};
use crate::AggregatorError;

/// `source` of the records this module writes.
pub const UNSUBSCRIBE_SOURCE: &str = "unsubscribe";

/// The consent record an unsubscribe event stands for.
pub fn withdrawal(event: &Event) -> ConsentRecord {
    ConsentRecord {
        v: CONSENT_SCHEMA_VERSION,
        tenant: event.tenant.clone(),
        subscriber: event.subscriber.clone(),
        state: ConsentState::Denied,
        level: None,
        ts_ms: event.ts_ms,
        source: UNSUBSCRIBE_SOURCE.to_owned(),
        marketing: Some(MarketingConsent::Unsubscribed),
    }
}

/// One record on its way to the consent topic.
struct Pending {
    key: String,
    payload: Vec<u8>,
    /// `None` until the producer's queue took it.
    delivery: Option<DeliveryFuture>,
}

/// The consent-topic producer and the records not yet confirmed.
pub struct Withdrawals {
    producer: FutureProducer,
    topic: String,
    pending: Vec<Pending>,
}

impl Withdrawals {
    pub fn new(kafka: &KafkaConfig) -> Result<Withdrawals, AggregatorError> {
        let mut config = client_config(kafka);
        config
            // Durable before the unsubscribe's offset is committed.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000");
        with_overrides(&mut config, kafka);
        Ok(Withdrawals {
            producer: config.create().map_err(AggregatorError::Kafka)?,
            topic: kafka.consent_topic.clone(),
            pending: Vec::new(),
        })
    }

    /// Queues the withdrawal for `event` (an accepted `unsubscribe`).
    pub fn withdraw(&mut self, event: &Event) {
        let record = withdrawal(event);
        let mut pending = Pending {
            key: ConsentRecord::key(&record.tenant, &record.subscriber),
            payload: record.to_json(),
            delivery: None,
        };
        self.send(&mut pending);
        self.pending.push(pending);
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn send(&self, pending: &mut Pending) {
        let record = FutureRecord::to(&self.topic)
            .key(pending.key.as_str())
            .payload(pending.payload.as_slice());
        match self.producer.send_result(record) {
            Ok(delivery) => pending.delivery = Some(delivery),
            Err((error, _)) => {
                tracing::warn!(%error, "consent withdrawal enqueue failed; will retry");
                pending.delivery = None;
            }
        }
    }

    /// Waits until every queued record is on the topic. Failed ones stay queued (and are sent
    /// again on the next call); the error says the caller must not commit yet.
    pub async fn confirm(&mut self) -> Result<(), KafkaError> {
        let mut queued = std::mem::take(&mut self.pending);
        for pending in queued.iter_mut().filter(|p| p.delivery.is_none()) {
            self.send(pending);
        }
        let mut failure = None;
        for mut pending in queued {
            let outcome = match pending.delivery.take() {
                Some(delivery) => delivery.await,
                None => {
                    failure.get_or_insert(KafkaError::Canceled);
                    self.pending.push(pending);
                    continue;
                }
            };
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    failure = Some(error);
                    self.pending.push(pending);
                }
                Err(_canceled) => {
                    failure = Some(KafkaError::Canceled);
                    self.pending.push(pending);
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    #[test]
    fn an_unsubscribe_denies_tracking_and_marketing_for_that_subscriber() {
        let mut event = sample_event();
        event.kind = mailpulse_event::EventKind::Unsubscribe;
        let record = withdrawal(&event);
        assert_eq!(
            (record.tenant.as_str(), record.subscriber.as_str()),
            (event.tenant.as_str(), event.subscriber.as_str())
        );
        assert_eq!(record.state, ConsentState::Denied);
        assert_eq!(record.level, None);
        assert_eq!(record.marketing, Some(MarketingConsent::Unsubscribed));
        assert_eq!(record.source, "unsubscribe");
        assert_eq!(
            record.ts_ms, event.ts_ms,
            "a redelivery republishes the same record"
        );
        assert_eq!(
            ConsentRecord::from_json(&record.to_json()).expect("valid"),
            record
        );
    }
}
