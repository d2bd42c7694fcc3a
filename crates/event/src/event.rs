use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DecodeError;

/// Version of [`Event`]'s wire format; bumped on any incompatible change.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// Longest tenant, campaign, subscriber or link id we accept; longer ids are refused when a
/// token is minted, so an event carrying one is corrupt.
const MAX_ID_LEN: usize = 256;

/// One open, click or unsubscribe, as recorded by the edge.
///
/// The raw IP address is never part of an event: the edge resolves what is needed from it
/// (geo, autonomous system, visitor hash) and drops it. The raw User-Agent travels through Kafka
/// for enrichment but is never written to ClickHouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Schema version, [`EVENT_SCHEMA_VERSION`].
    pub v: u16,
    /// Unique and time-ordered (UUIDv7); the key of exactly-once storage.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When the edge received the request, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    pub tenant: String,
    pub campaign: String,
    /// The sender's opaque subscriber id (never an email address).
    pub subscriber: String,
    /// Link id within the campaign (clicks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Signed destination (clicks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the token was minted (≈ when the email was sent), seconds since the Unix epoch.
    pub issued_at: u64,
    /// Keyed hash of (tenant, IP, User-Agent) under the day's salt: 32 hex characters.
    pub visitor: String,
    #[serde(default)]
    pub geo: Geo,
    #[serde(default)]
    pub network: Network,
    /// Raw User-Agent header, for enrichment downstream.
    #[serde(default)]
    pub ua: String,
    /// The request was a `HEAD` (a scanner signal for clicks).
    #[serde(default)]
    pub head: bool,
    /// `DNT: 1` was sent.
    #[serde(default)]
    pub dnt: bool,
    /// `Sec-GPC: 1` was sent.
    #[serde(default)]
    pub gpc: bool,
    /// Opens only: the pixel at the end of the message (`/o/TOKEN.gif?at=end`): counted as a
    /// full render, not as another open. Absent (false) in payloads from older edges.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end_pixel: bool,
    /// Which edge instance accepted the request.
    pub edge: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Open,
    Click,
    Unsubscribe,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Click => "click",
            EventKind::Unsubscribe => "unsubscribe",
        }
    }
}

/// Location resolved at the edge, at the granularity the deployment configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// ISO 3166-2 subdivision code (without the country prefix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// The network the request came from, resolved at the edge because only the edge knows the IP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Autonomous system number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default)]
    pub class: NetworkClass,
    /// Truncated network (IPv4 /24, IPv6 /48), only when the deployment enables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Coarse class of the autonomous system: mail providers' proxies and hosting networks are
/// where machine opens and scanner clicks come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkClass {
    Apple,
    Google,
    Microsoft,
    Yahoo,
    Hosting,
    #[default]
    Other,
}

impl NetworkClass {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkClass::Apple => "apple",
            NetworkClass::Google => "google",
            NetworkClass::Microsoft => "microsoft",
            NetworkClass::Yahoo => "yahoo",
            NetworkClass::Hosting => "hosting",
            NetworkClass::Other => "other",
        }
    }
}

impl Event {
    /// Decodes and validates one Kafka payload.
    pub fn from_json(payload: &[u8]) -> Result<Event, DecodeError> {
        let event: Event = serde_json::from_slice(payload)?;
        event.validate()?;
        Ok(event)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings, numbers and enums cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Checks the invariants serde cannot express.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.v != EVENT_SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: self.v,
                supported: EVENT_SCHEMA_VERSION,
            });
        }
        check_id("tenant", &self.tenant)?;
        check_id("campaign", &self.campaign)?;
        check_id("subscriber", &self.subscriber)?;
        if self.kind == EventKind::Click {
            match &self.link {
                Some(link) => check_id("link", link)?,
                None => {
                    return Err(DecodeError::Field {
                        field: "link",
                        reason: "a click must name its link",
                    })
                }
            }
        }
        if self.visitor.len() != 32 || !self.visitor.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DecodeError::Field {
                field: "visitor",
                reason: "must be 32 hex characters",
            });
        }
        Ok(())
    }

    /// Kafka message key: keeps one subscriber's events of a campaign in order on one partition.
    pub fn partition_key(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.campaign, self.subscriber)
    }
}

fn check_id(field: &'static str, value: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::Field {
            field,
            reason: "must not be empty",
        });
    }
    if value.len() > MAX_ID_LEN {
        return Err(DecodeError::Field {
            field,
            reason: "longer than 256 bytes",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(DecodeError::Field {
            field,
            reason: "contains control characters",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An open as an edge from before `end_pixel` wrote it.
    const OLD_OPEN: &str = r#"{"v":1,"id":"018f4e2a-7b3c-7d4e-8f00-000000000001","type":"open",
        "ts_ms":1700000000000,"tenant":"acme","campaign":"spring","subscriber":"s-1",
        "issued_at":1699990000,"visitor":"0123456789abcdef0123456789abcdef","edge":"edge-1"}"#;

    #[test]
    fn a_payload_without_end_pixel_is_an_ordinary_open() {
        let event = Event::from_json(OLD_OPEN.as_bytes()).expect("old payloads stay valid");
        assert!(!event.end_pixel);
        let json = String::from_utf8(event.to_json()).expect("JSON is UTF-8");
        assert!(
            !json.contains("end_pixel"),
            "false is left out, so old consumers see the same payload: {json}"
        );
    }

    #[test]
    fn an_end_pixel_open_round_trips() {
        let mut event = Event::from_json(OLD_OPEN.as_bytes()).expect("decodes");
        event.end_pixel = true;
        let json = event.to_json();
        assert!(String::from_utf8_lossy(&json).contains(r#""end_pixel":true"#));
        assert_eq!(Event::from_json(&json).expect("decodes"), event);
    }
}
