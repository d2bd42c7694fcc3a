//! The consent topic: the source of truth for consent and tracking policies. Every write waits
//! until the broker acknowledged it on all in-sync replicas (`acks=all`), so a call that
//! returns has changed what every aggregator will read.

use std::time::Duration;

use mailpulse_config::KafkaConfig;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::PrivacyError;

/// How long one record may take to be acknowledged before the call fails.
const DELIVERY_TIMEOUT_MS: &str = "30000";

/// Records in flight at once during a bulk write: enough to keep the broker busy, few enough
/// to stay far below librdkafka's queue limit.
const BULK_WINDOW: usize = 5_000;

/// Where one record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// A producer for the consent topic.
pub struct ConsentTopic {
    producer: FutureProducer,
    topic: String,
}

impl std::fmt::Debug for ConsentTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentTopic")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ConsentTopic {
    pub fn new(kafka: &KafkaConfig) -> Result<ConsentTopic, PrivacyError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &kafka.brokers)
            // Every in-sync replica has it before the call returns.
            .set("acks", "all")
            // Retries never reorder or duplicate a subscriber's records.
            .set("enable.idempotence", "true")
            // lz4: snappy breaks fetches on the local broker (tansu).
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", DELIVERY_TIMEOUT_MS);
        for (key, value) in &kafka.properties {
            config.set(key, value);
        }
        let producer = config.create().map_err(PrivacyError::Kafka)?;
        Ok(ConsentTopic {
            producer,
            topic: kafka.consent_topic.clone(),
        })
    }

    pub fn name(&self) -> &str {
        &self.topic
    }

    /// Writes one record (`None`: a tombstone that deletes the key) and waits for it.
    pub async fn publish(
        &self,
        key: &str,
        payload: Option<&[u8]>,
    ) -> Result<Delivered, PrivacyError> {
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).key(key);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
            .map(|delivery| Delivered {
                partition: delivery.partition,
                offset: delivery.offset,
            })
            .map_err(|(error, _)| PrivacyError::Kafka(error))
    }

    /// Writes many records, in order per key, and waits for all of them. Returns one result per
    /// record, in input order: without transactions (the local broker has none) a failure
    /// midway leaves the records before it applied, and the caller must report which.
    pub async fn publish_all(
        &self,
        records: Vec<(&str, Option<&[u8]>)>,
    ) -> Vec<Result<Delivered, KafkaError>> {
        let mut results = Vec::new();
        let mut window: Vec<Pending> = Vec::with_capacity(BULK_WINDOW);
        for (key, payload) in records {
            let mut record = FutureRecord::<str, [u8]>::to(&self.topic).key(key);
            if let Some(payload) = payload {
                record = record.payload(payload);
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        window.push(Pending::Sent(delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // Wait for what is in flight, then offer the record again.
                        record = back;
                        if window.is_empty() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        drain(&mut window, &mut results).await;
                    }
                    Err((error, _)) => {
                        window.push(Pending::Refused(error));
                        break;
                    }
                }
            }
            if window.len() >= BULK_WINDOW {
                drain(&mut window, &mut results).await;
            }
        }
        drain(&mut window, &mut results).await;
        results
    }
}

/// A record handed to the producer, or refused before it got there.
enum Pending {
    Sent(DeliveryFuture),
    Refused(KafkaError),
}

async fn drain(window: &mut Vec<Pending>, results: &mut Vec<Result<Delivered, KafkaError>>) {
    for pending in window.drain(..) {
        let result = match pending {
            Pending::Refused(error) => Err(error),
            Pending::Sent(delivery) => match delivery.await {
                Ok(Ok(delivery)) => Ok(Delivered {
                    partition: delivery.partition,
                    offset: delivery.offset,
                }),
                Ok(Err((error, _))) => Err(error),
                // The producer was dropped: nothing more will be delivered.
                Err(_canceled) => Err(KafkaError::Canceled),
            },
        };
        results.push(result);
    }
}
