//! Rows written to `events`. Fields borrow from the decoded event so building a row allocates
//! nothing; enum columns travel as their `Enum8` codes.

use mailpulse_event::{EventKind, TrackingLevel};
use serde::{Serialize, Serializer};
use uuid::Uuid;

/// The insert target of the aggregator.
pub const EVENTS_TABLE: &str = "events";

/// One row of `events` (schema: `schemas/migrations/0001_events.sql`, `0009_end_pixel.sql`). Field order and types
/// must match the table exactly: with validation off nothing else checks them, so
/// `tests/aggregator_schema.rs` compares this struct with `DESCRIBE TABLE events`.
#[derive(Debug, Clone, Serialize, clickhouse::Row)]
pub struct EventRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub kind: EventKindCode,
    /// Seconds since the Unix epoch (`DateTime('UTC')`).
    pub ts: u32,
    pub tenant: &'a str,
    pub campaign: &'a str,
    pub subscriber_key: &'a str,
    pub link: &'a str,
    pub url: &'a str,
    pub visitor: &'a str,
    pub country: &'a str,
    pub region: &'a str,
    pub city: &'a str,
    pub asn: u32,
    pub network_class: &'a str,
    pub browser: &'a str,
    pub os: &'a str,
    pub device: &'a str,
    pub email_client: &'a str,
    pub machine: u8,
    pub machine_reason: &'a str,
    pub dnt: u8,
    pub gpc: u8,
    /// 1 for the pixel at the end of the message (migration 0009): a full render, left out of
    /// open totals.
    pub end_pixel: u8,
    pub tracking_level: TrackingLevelCode,
    pub edge: &'a str,
    pub kafka_topic: &'a str,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
    /// Seconds since the Unix epoch (`DateTime('UTC')`).
    pub ingested_at: u32,
}

/// [`EventKind`] as its `Enum8` code in `events.kind` and `campaign_uniques.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKindCode(pub EventKind);

impl EventKindCode {
    /// Every kind with its code, as the `Enum8` declarations list them.
    pub const ALL: [(EventKind, i8); 3] = [
        (EventKind::Open, 1),
        (EventKind::Click, 2),
        (EventKind::Unsubscribe, 3),
    ];

    pub fn code(self) -> i8 {
        match self.0 {
            EventKind::Open => 1,
            EventKind::Click => 2,
            EventKind::Unsubscribe => 3,
        }
    }
}

impl Serialize for EventKindCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i8(self.code())
    }
}

/// [`TrackingLevel`] as its `Enum8` code in `events.tracking_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingLevelCode(pub TrackingLevel);

impl TrackingLevelCode {
    /// Every level with its code, as the `Enum8` declaration lists them.
    pub const ALL: [(TrackingLevel, i8); 4] = [
        (TrackingLevel::Off, 0),
        (TrackingLevel::Anonymous, 1),
        (TrackingLevel::Pseudonymous, 2),
        (TrackingLevel::Identified, 3),
    ];

    pub fn code(self) -> i8 {
        match self.0 {
            TrackingLevel::Off => 0,
            TrackingLevel::Anonymous => 1,
            TrackingLevel::Pseudonymous => 2,
            TrackingLevel::Identified => 3,
        }
    }
}

impl Serialize for TrackingLevelCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i8(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_agree_with_the_listed_tables() {
        for (kind, code) in EventKindCode::ALL {
            assert_eq!(EventKindCode(kind).code(), code);
        }
        for (level, code) in TrackingLevelCode::ALL {
            assert_eq!(TrackingLevelCode(level).code(), code);
        }
    }
}
