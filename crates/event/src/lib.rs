//! The data shapes that cross process boundaries: the tracking [`Event`] the edge produces and
//! the aggregator consumes (schema: `schemas/event.v1.json`), and the [`ConsentRecord`] carried
//! by the compacted consent topic (schema: `schemas/consent.v1.json`), and the senders'
//! [`DeliveryEvent`]s (sent/delivered/bounced/complained; schema: `schemas/delivery.v1.json`).
//!
//! Both travel as JSON so operators can read a topic with any Kafka tool; the `v` field lets a
//! consumer refuse a version it does not know instead of misreading it.

mod consent;
mod delivery;
mod event;

pub use consent::{
    ConsentKey, ConsentRecord, ConsentState, MarketingConsent, PolicyRecord, TenantRemoval,
    TrackingBasis, TrackingLevel, CONSENT_SCHEMA_VERSION, POLICY_SCHEMA_VERSION,
};
pub use delivery::{
    DeliveryEvent, DeliveryStatus, JsonlError, DELIVERY_SCHEMA_VERSION, MAX_REASON_LEN,
};
pub use event::{Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION};

/// Why a payload could not be turned into an event or consent record.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not valid JSON for this schema: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported schema version {found} (this build reads version {supported})")]
    Version { found: u16, supported: u16 },
    #[error("field `{field}` is invalid: {reason}")]
    Field {
        field: &'static str,
        reason: &'static str,
    },
}
