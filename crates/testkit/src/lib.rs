//! Test harness for integration tests that run against the real local stack (`scripts/stack`):
//! the tansu Kafka-protocol broker, ClickHouse 18.16 and the GeoIP/ASN databases.
//!
//! - [`stack()`] makes sure the stack is up (running `scripts/stack up` when `status` fails) and
//!   returns its connection settings. It never skips: an unreachable stack fails the test with the
//!   reason. Set `MP_STACK_AUTOSTART=0` to make it fail instead of starting the stack.
//! - [`TestTopic`] and [`TestDatabase`] give each test its own uniquely named topic and database
//!   (the database is dropped on `Drop`; the topic stays, see [`TestTopic`] for the tansu bug
//!   that forbids deleting it); [`test_config`] is a [`mailpulse_config::Config`] pointed at the
//!   stack with unique names throughout.
//! - [`consume`] reads a topic back; [`unique_group_id`] keeps consumer groups apart (tansu can
//!   stall a group whose previous member died mid-join).
//! - [`Outage`] stops the broker or ClickHouse for a fault test and restarts it on `Drop`.
//!
//! Every call that talks to a service is bounded by a timeout, so a dead service fails a test
//! with a message instead of hanging it.

mod clickhouse_db;
mod config;
mod detached;
mod error;
mod kafka;
mod names;
mod stack;

pub use clickhouse_db::TestDatabase;
pub use config::test_config;
pub use error::TestkitError;
pub use kafka::{
    consume, kafka_client_config, producer, unique_group_id, ConsumedMessage, TestTopic,
};
pub use names::unique_name;
pub use stack::{stack, try_stack, Outage, Service, Stack};
