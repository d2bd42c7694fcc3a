//! What happened to one message for one recipient, as the sender's mail system reports it:
//! sent, delivered, bounced or complained (schema: `schemas/delivery.v1.json`). Delivered
//! counts are the denominator of open and click rates: unique human opens / delivered.

use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// Version of [`DeliveryEvent`]'s wire format.
pub const DELIVERY_SCHEMA_VERSION: u16 = 1;

/// Longest id accepted (the tracking tokens' limit: events and deliveries join on them).
const MAX_ID_LEN: usize = 256;
/// Longest `reason` accepted on the wire.
pub const MAX_REASON_LEN: usize = 1024;

/// One delivery status of one message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    pub v: u16,
    pub tenant: String,
    pub campaign: String,
    /// The sender's opaque subscriber id (never an email address), as in the tracking tokens.
    pub subscriber: String,
    pub status: DeliveryStatus,
    /// When the status happened, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The mail system's explanation (a bounce's SMTP reply, a complaint's feedback type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Handed to the sending MTA.
    Sent,
    /// Accepted by the recipient's mail server.
    Delivered,
    /// Refused or returned.
    Bounced,
    /// Marked as spam by the recipient (feedback loop).
    Complained,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Bounced => "bounced",
            DeliveryStatus::Complained => "complained",
        }
    }
}

/// A line of a JSONL batch that is not a valid delivery event.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct JsonlError {
    /// 1-based line number.
    pub line: usize,
    pub error: DecodeError,
}

impl DeliveryEvent {
    /// Decodes and validates one payload.
    pub fn from_json(payload: &[u8]) -> Result<DeliveryEvent, DecodeError> {
        let event: DeliveryEvent = serde_json::from_slice(payload)?;
        event.validate()?;
        Ok(event)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Strings, numbers and an enum: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a JSONL batch (one event per line; blank lines ignored). All or nothing: the
    /// first bad line is reported with its number, so a sender can fix and resend the batch.
    pub fn parse_jsonl(body: &[u8]) -> Result<Vec<DeliveryEvent>, JsonlError> {
        body.split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.trim_ascii().is_empty())
            .map(|(index, line)| {
                DeliveryEvent::from_json(line.trim_ascii()).map_err(|error| JsonlError {
                    line: index + 1,
                    error,
                })
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.v != DELIVERY_SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: self.v,
                supported: DELIVERY_SCHEMA_VERSION,
            });
        }
        for (field, value) in [
            ("tenant", &self.tenant),
            ("campaign", &self.campaign),
            ("subscriber", &self.subscriber),
        ] {
            if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
                return Err(DecodeError::Field {
                    field,
                    reason: "must be 1-256 bytes without control characters",
                });
            }
        }
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.len() > MAX_REASON_LEN)
        {
            return Err(DecodeError::Field {
                field: "reason",
                reason: "longer than 1024 bytes",
            });
        }
        Ok(())
    }

    /// Kafka message key: one recipient's statuses of a campaign stay in order on one partition.
    pub fn partition_key(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.campaign, self.subscriber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_an_absent_reason() {
        let event = DeliveryEvent {
            v: 1,
            tenant: "acme".into(),
            campaign: "spring".into(),
            subscriber: "s-1".into(),
            status: DeliveryStatus::Delivered,
            ts_ms: 1_700_000_000_000,
            reason: None,
        };
        let json = event.to_json();
        assert_eq!(
            String::from_utf8_lossy(&json),
            r#"{"v":1,"tenant":"acme","campaign":"spring","subscriber":"s-1","status":"delivered","ts_ms":1700000000000}"#
        );
        assert_eq!(DeliveryEvent::from_json(&json).expect("decodes"), event);
    }

    #[test]
    fn the_schema_examples_decode() {
        for example in [
            include_str!("../../../schemas/examples/delivery.delivered.json"),
            include_str!("../../../schemas/examples/delivery.bounced.json"),
        ] {
            assert!(
                DeliveryEvent::from_json(example.as_bytes()).is_ok(),
                "{example}"
            );
        }
    }

    #[test]
    fn jsonl_is_all_or_nothing_and_names_the_bad_line() {
        let good = "{\"v\":1,\"tenant\":\"a\",\"campaign\":\"c\",\"subscriber\":\"s\",\"status\":\"sent\",\"ts_ms\":1}";
        let batch = format!("{good}\n\n{good}\r\n");
        assert_eq!(
            DeliveryEvent::parse_jsonl(batch.as_bytes())
                .expect("valid")
                .len(),
            2
        );
        let bad = format!("{good}\n{}\n", good.replace("sent", "opened"));
        let error = DeliveryEvent::parse_jsonl(bad.as_bytes()).expect_err("unknown status");
        assert_eq!(error.line, 2);
        for invalid in [
            good.replace("\"v\":1", "\"v\":2"),
            good.replace("\"s\"", "\"\""),
            good.replace("\"c\"", "\"c\\u0001\""),
            good.replace(",\"ts_ms\":1", ""),
        ] {
            assert!(
                DeliveryEvent::from_json(invalid.as_bytes()).is_err(),
                "{invalid}"
            );
        }
    }
}
