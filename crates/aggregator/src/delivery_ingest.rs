//! Ingesting senders' delivery statuses: a JSONL batch (one [`DeliveryEvent`] per line) onto
//! `kafka.deliveries_topic`. This is the function behind an HTTP batch endpoint (the API
//! server's `POST …/deliveries`): all or nothing — a bad line refuses the whole batch with its
//! line number — and it returns only once the broker has every record (acks=all).

use std::time::Duration;

use mailpulse_config::KafkaConfig;
use mailpulse_event::DeliveryEvent;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::kafka::{client_config, with_overrides};
use crate::AggregatorError;

/// Most lines in one batch (the producer's queue holds 100 000 messages).
pub const MAX_BATCH_LINES: usize = 50_000;

/// Longest the broker may take to acknowledge one record.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A producer for delivery statuses; build once, share between requests.
pub struct DeliveryIngest {
    producer: FutureProducer,
    topic: String,
}

impl DeliveryIngest {
    pub fn new(kafka: &KafkaConfig) -> Result<DeliveryIngest, AggregatorError> {
        let mut config = client_config(kafka);
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            );
        with_overrides(&mut config, kafka);
        Ok(DeliveryIngest {
            producer: config.create().map_err(AggregatorError::Kafka)?,
            topic: kafka.deliveries_topic.clone(),
        })
    }

    /// Validates the JSONL `body` and publishes every status; returns how many.
    pub async fn ingest_jsonl(&self, body: &[u8]) -> Result<usize, AggregatorError> {
        let events = DeliveryEvent::parse_jsonl(body)
            .map_err(|error| AggregatorError::InvalidDeliveries(error.to_string()))?;
        self.publish(&events).await
    }

    /// Publishes validated statuses, keyed `tenant/campaign/subscriber`, and waits for the
    /// broker to acknowledge them all.
    pub async fn publish(&self, events: &[DeliveryEvent]) -> Result<usize, AggregatorError> {
        if events.len() > MAX_BATCH_LINES {
            return Err(AggregatorError::InvalidDeliveries(format!(
                "{} statuses; send at most {MAX_BATCH_LINES} per batch",
                events.len()
            )));
        }
        let mut deliveries = Vec::with_capacity(events.len());
        for event in events {
            let key = event.partition_key();
            let payload = event.to_json();
            let record = FutureRecord::to(&self.topic).key(&key).payload(&payload);
            let delivery = self
                .producer
                .send_result(record)
                .map_err(|(error, _)| AggregatorError::Kafka(error))?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(AggregatorError::Kafka(error)),
                Err(_canceled) => {
                    return Err(AggregatorError::Kafka(rdkafka::error::KafkaError::Canceled))
                }
            }
        }
        Ok(events.len())
    }
}
