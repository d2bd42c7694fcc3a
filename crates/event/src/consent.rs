use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// Version of [`ConsentRecord`]'s wire format.
pub const CONSENT_SCHEMA_VERSION: u16 = 1;

/// The latest consent state of one subscriber of one tenant. The compacted consent topic keeps
/// one per key ([`ConsentRecord::key`]); ClickHouse keeps the whole history for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub v: u16,
    pub tenant: String,
    pub subscriber: String,
    pub state: ConsentState,
    /// The most detailed tracking the subscriber allows; `None` leaves the tenant's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<TrackingLevel>,
    /// When the state was set, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Who or what set it: `api`, `import`, `unsubscribe`, `erasure`, …
    pub source: String,
}

/// Tracking consent as the subscriber gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Tracking granted (or, under legitimate interest, not objected to).
    Granted,
    /// Tracking refused or withdrawn: no subscriber-level data.
    Denied,
    /// Processing restricted: existing data kept but not processed; new events anonymous.
    Restricted,
}

/// How much of an event may be stored, least to most. The most restrictive of the tenant's,
/// the campaign's and the subscriber's levels wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingLevel {
    /// Nothing but anonymous campaign totals.
    Off,
    /// Aggregate counters only (per campaign, link, day, country, client), no subscriber key.
    Anonymous,
    /// Subscriber-level rows keyed by a per-tenant keyed hash of the subscriber id.
    Pseudonymous,
    /// Subscriber-level rows keyed by the subscriber id.
    Identified,
}

impl TrackingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingLevel::Off => "off",
            TrackingLevel::Anonymous => "anonymous",
            TrackingLevel::Pseudonymous => "pseudonymous",
            TrackingLevel::Identified => "identified",
        }
    }
}

impl std::str::FromStr for TrackingLevel {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(TrackingLevel::Off),
            "anonymous" => Ok(TrackingLevel::Anonymous),
            "pseudonymous" => Ok(TrackingLevel::Pseudonymous),
            "identified" => Ok(TrackingLevel::Identified),
            _ => Err(DecodeError::Field {
                field: "level",
                reason: "expected off, anonymous, pseudonymous or identified",
            }),
        }
    }
}

impl ConsentRecord {
    /// Compaction key of the consent topic.
    pub fn key(tenant: &str, subscriber: &str) -> String {
        format!("{tenant}/{subscriber}")
    }

    pub fn from_json(payload: &[u8]) -> Result<ConsentRecord, DecodeError> {
        let record: ConsentRecord = serde_json::from_slice(payload)?;
        if record.v != CONSENT_SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: record.v,
                supported: CONSENT_SCHEMA_VERSION,
            });
        }
        if record.tenant.is_empty() || record.subscriber.is_empty() {
            return Err(DecodeError::Field {
                field: "tenant",
                reason: "tenant and subscriber must not be empty",
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
