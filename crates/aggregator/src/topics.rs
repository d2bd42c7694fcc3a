//! `mailpulse topics create`: the topics the pipeline needs, created if missing.

use std::time::Duration;

use mailpulse_config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::client_config;
use crate::AggregatorError;

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `cleanup.policy=compact`: keep the latest value per key forever.
    pub compacted: bool,
}

/// What happened to one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    AlreadyExisted,
}

/// The pipeline's topics: events (`events_partitions`, the aggregator's parallelism), consent
/// (compacted; 3 partitions, read whole by every aggregator), dead letters (1) and the edge's
/// salt ratchet (compacted, 1: one key) and the senders' delivery statuses (3).
pub fn pipeline_topics(kafka: &KafkaConfig, events_partitions: i32) -> Vec<TopicSpec> {
    vec![
        TopicSpec {
            name: kafka.events_topic.clone(),
            partitions: events_partitions,
            compacted: false,
        },
        TopicSpec {
            name: kafka.consent_topic.clone(),
            partitions: 3,
            compacted: true,
        },
        TopicSpec {
            name: kafka.dlq_topic.clone(),
            partitions: 1,
            compacted: false,
        },
        TopicSpec {
            name: kafka.salt_topic.clone(),
            partitions: 1,
            compacted: true,
        },
        TopicSpec {
            name: kafka.deliveries_topic.clone(),
            partitions: 3,
            compacted: false,
        },
    ]
}

/// Creates each topic unless it exists. An existing topic is left as it is (its partition
/// count is not changed).
pub async fn create_topics(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    replication: i32,
) -> Result<Vec<(String, TopicOutcome)>, AggregatorError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .create()
        .map_err(AggregatorError::Kafka)?;
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(replication),
            );
            if spec.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(AggregatorError::Kafka)?;
    let mut outcomes = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(name) => outcomes.push((name, TopicOutcome::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                outcomes.push((name, TopicOutcome::AlreadyExisted))
            }
            Err((name, code)) => {
                return Err(AggregatorError::TopicCreation {
                    topic: name,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(outcomes)
}
