//! Keeps today's visitor-hash salt, the same on every edge replica, with nothing kept that
//! could recompute an earlier day's salt.
//!
//! The salt comes from a forward-only ratchet (`mailpulse-pseudonym`): each replica advances
//! its state at midnight UTC on its own, deterministically, so the broker need not be up at
//! midnight. The state is kept in two places only, both overwritten as it advances:
//! a local file beside the spool (so a restart continues), and the compacted salt topic under
//! one key (so a new replica joins with today's state). When nobody has a state yet, a replica
//! publishes a random one and then adopts the earliest state the topic holds for the newest
//! day, so replicas racing at first start agree.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use mailpulse_config::Config;
use mailpulse_pseudonym::{today, DaySalt, RatchetState, StateFile};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::EdgeError;

const RECORD_KEY: &str = "ratchet";

#[derive(Serialize, Deserialize)]
struct SaltRecord {
    day: u32,
    state: String,
}

pub struct SaltKeeper {
    ratchet: RwLock<RatchetState>,
    salt: RwLock<DaySalt>,
    state_file: PathBuf,
    brokers: String,
    topic: String,
    properties: Vec<(String, String)>,
}

impl SaltKeeper {
    /// Loads the local state, else today's from the salt topic, else starts one; advances to
    /// today. Blocking (Kafka round trips); call before serving.
    pub fn start(config: &Config) -> Result<SaltKeeper, EdgeError> {
        let state_file = config.edge.spool_dir.join("salt.state");
        let mut keeper_props = Vec::new();
        for (key, value) in &config.kafka.properties {
            keeper_props.push((key.clone(), value.clone()));
        }
        let day = today();
        let mut ratchet = match StateFile::load(&state_file) {
            Ok(Some(state)) => state,
            Ok(None) | Err(_) => {
                match read_shared(&config.kafka.brokers, &config.kafka.salt_topic, &keeper_props) {
                    Ok(Some(state)) => state,
                    Ok(None) => publish_and_adopt(config, &keeper_props, day).or_else(|error| {
                        tracing::warn!(%error, "could not publish a first salt state; using it locally");
                        RatchetState::random(day)
                    })?,
                    Err(error) => {
                        // No broker and no local state: start alone. Replicas that do the same
                        // compute different hashes until one state wins the topic.
                        tracing::warn!(%error, "salt topic unreachable at first start; using a fresh local salt");
                        RatchetState::random(day)?
                    }
                }
            }
        };
        if ratchet.day() < day {
            ratchet.advance_to(day)?;
        }
        StateFile::store(&state_file, &ratchet)?;
        let salt = ratchet.salt();
        let keeper = SaltKeeper {
            ratchet: RwLock::new(ratchet),
            salt: RwLock::new(salt),
            state_file,
            brokers: config.kafka.brokers.clone(),
            topic: config.kafka.salt_topic.clone(),
            properties: keeper_props,
        };
        keeper.publish_current();
        Ok(keeper)
    }

    /// Today's salt (advancing first if midnight has passed).
    pub fn current(&self) -> DaySalt {
        let salt = self.salt.read().unwrap_or_else(|p| p.into_inner()).clone();
        if salt.day() >= today() {
            return salt;
        }
        self.rotate();
        self.salt.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Advances to today if needed; persists and publishes the new state, forgetting the old.
    pub fn rotate(&self) {
        let day = today();
        let mut ratchet = self.ratchet.write().unwrap_or_else(|p| p.into_inner());
        if ratchet.day() >= day {
            return;
        }
        if let Err(error) = ratchet.advance_to(day) {
            tracing::error!(%error, "salt ratchet could not advance");
            return;
        }
        *self.salt.write().unwrap_or_else(|p| p.into_inner()) = ratchet.salt();
        if let Err(error) = StateFile::store(&self.state_file, &ratchet) {
            tracing::error!(%error, "salt state could not be saved");
        }
        drop(ratchet);
        tracing::info!(day, "visitor salt rotated; yesterday's salt is forgotten");
        self.publish_current();
    }

    /// Best effort: a replica that cannot publish still hashes correctly.
    fn publish_current(&self) {
        let ratchet = self
            .ratchet
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Err(error) = publish(&self.brokers, &self.topic, &self.properties, &ratchet) {
            tracing::warn!(%error, "could not publish the salt state; will retry at next rotation");
        }
    }
}

fn client_config(brokers: &str, properties: &[(String, String)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", brokers)
        .set("socket.connection.setup.timeout.ms", "3000");
    for (key, value) in properties {
        client.set(key, value);
    }
    client
}

fn publish(
    brokers: &str,
    topic: &str,
    properties: &[(String, String)],
    ratchet: &RatchetState,
) -> Result<(), EdgeError> {
    let producer: BaseProducer = client_config(brokers, properties)
        .set("message.timeout.ms", "5000")
        .create()
        .map_err(EdgeError::Kafka)?;
    let record = SaltRecord {
        day: ratchet.day(),
        state: hex::encode(ratchet.state_bytes()),
    };
    let payload = serde_json::to_vec(&record).unwrap_or_default();
    producer
        .send(BaseRecord::to(topic).key(RECORD_KEY).payload(&payload))
        .map_err(|(e, _)| EdgeError::Kafka(e))?;
    producer
        .flush(Duration::from_secs(5))
        .map_err(EdgeError::Kafka)
}

/// The newest day's earliest-published state, or `None` when the topic holds none.
fn read_shared(
    brokers: &str,
    topic: &str,
    properties: &[(String, String)],
) -> Result<Option<RatchetState>, EdgeError> {
    let consumer: BaseConsumer = client_config(brokers, properties)
        .set("group.id", "mailpulse-edge-salt")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(EdgeError::Kafka)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map_err(EdgeError::Kafka)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(EdgeError::Kafka)?;
    }
    consumer.assign(&assignment).map_err(EdgeError::Kafka)?;
    let mut best: Option<(u32, RatchetState)> = None;
    let mut at_end = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while at_end < partitions && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let Some(record) = message
                    .payload()
                    .and_then(|p| serde_json::from_slice::<SaltRecord>(p).ok())
                else {
                    continue;
                };
                let Some(state) = hex::decode(&record.state)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                else {
                    continue;
                };
                // Keep the first state seen for the newest day.
                if best.as_ref().is_none_or(|(day, _)| record.day > *day) {
                    best = Some((record.day, RatchetState::from_parts(record.day, state)));
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => at_end += 1,
            Some(Err(error)) => return Err(EdgeError::Kafka(error)),
            None => {}
        }
    }
    Ok(best.map(|(_, state)| state))
}

fn publish_and_adopt(
    config: &Config,
    properties: &[(String, String)],
    day: u32,
) -> Result<RatchetState, EdgeError> {
    let fresh = RatchetState::random(day)?;
    publish(
        &config.kafka.brokers,
        &config.kafka.salt_topic,
        properties,
        &fresh,
    )?;
    Ok(read_shared(&config.kafka.brokers, &config.kafka.salt_topic, properties)?.unwrap_or(fresh))
}
