//! The dead-letter topic: messages the aggregator cannot process (not JSON, wrong schema
//! version, invalid fields) go there unchanged, with why and where they came from in headers,
//! so the partition moves on and an operator can inspect or replay them.
//!
//! Headers: `mailpulse-dlq-reason`, `mailpulse-dlq-topic`, `mailpulse-dlq-partition`,
//! `mailpulse-dlq-offset`. Key and payload are the original bytes.

use std::time::Duration;

use mailpulse_config::KafkaConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::batch::DeadLetter;
use crate::kafka::{client_config, with_overrides};
use crate::AggregatorError;

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    source_topic: String,
}

impl DeadLetters {
    pub fn new(kafka: &KafkaConfig) -> Result<DeadLetters, AggregatorError> {
        let mut config = client_config(kafka);
        config
            // Durable before the source offset is committed.
            .set("acks", "all")
            .set("enable.idempotence", "true")
            // snappy breaks fetches on the local broker; lz4 works everywhere.
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000");
        with_overrides(&mut config, kafka);
        Ok(DeadLetters {
            producer: config.create().map_err(AggregatorError::Kafka)?,
            topic: kafka.dlq_topic.clone(),
            source_topic: kafka.events_topic.clone(),
        })
    }

    /// Hands `letter` to the producer. If the local queue refuses it, it stays unsent and
    /// [`DeadLetters::confirm`] sends it again.
    pub fn send(&self, letter: &mut DeadLetter) {
        let partition = letter.partition.to_string();
        let offset = letter.offset.to_string();
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: "mailpulse-dlq-reason",
                value: Some(letter.reason.as_str()),
            })
            .insert(Header {
                key: "mailpulse-dlq-topic",
                value: Some(self.source_topic.as_str()),
            })
            .insert(Header {
                key: "mailpulse-dlq-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "mailpulse-dlq-offset",
                value: Some(offset.as_str()),
            });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
            .payload(letter.payload.as_slice())
            .headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key.as_slice());
        }
        match self.producer.send_result(record) {
            Ok(delivery) => letter.delivery = Some(delivery),
            Err((error, _)) => {
                tracing::warn!(%error, "dead-letter enqueue failed; will retry");
                letter.delivery = None;
            }
        }
    }

    /// Waits for every letter's delivery. Delivered letters are removed; failed ones stay
    /// (unsent) and the error is returned so the caller can back off and call again.
    pub async fn confirm(
        &self,
        letters: &mut Vec<DeadLetter>,
    ) -> Result<(), rdkafka::error::KafkaError> {
        for letter in letters.iter_mut() {
            if letter.delivery.is_none() {
                self.send(letter);
            }
        }
        let mut failure = None;
        let mut pending = Vec::with_capacity(letters.len());
        for mut letter in letters.drain(..) {
            let outcome = match letter.delivery.take() {
                Some(delivery) => delivery.await,
                None => {
                    pending.push(letter);
                    continue;
                }
            };
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => {
                    failure = Some(error);
                    pending.push(letter);
                }
                Err(_canceled) => {
                    failure = Some(rdkafka::error::KafkaError::Canceled);
                    pending.push(letter);
                }
            }
        }
        *letters = pending;
        match failure {
            Some(error) => Err(error),
            None if letters.is_empty() => Ok(()),
            None => Err(rdkafka::error::KafkaError::Canceled),
        }
    }

    /// Waits up to `timeout` for queued letters to leave (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer;
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "dead-letter producer flush failed");
        }
    }
}
