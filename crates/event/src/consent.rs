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
    /// Consent to receive marketing mail, when this record says something about it (an
    /// unsubscribe sets `unsubscribed`). `None` says nothing: records written before this field
    /// existed, and tracking-only changes, stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing: Option<MarketingConsent>,
}

/// Whether the subscriber wants the tenant's marketing mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketingConsent {
    Subscribed,
    /// Unsubscribed (one-click or the unsubscribe link): send no more marketing mail.
    Unsubscribed,
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

/// Version of [`PolicyRecord`]'s wire format.
pub const POLICY_SCHEMA_VERSION: u16 = 1;

/// The legal basis a tenant tracks on, when a tenant policy overrides the deployment default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingBasis {
    /// Track a subscriber only after consent was granted.
    OptIn,
    /// Track until the subscriber objects.
    LegitimateInterest,
}

/// A tenant's or one campaign's tracking settings. They travel on the consent topic beside the
/// subscribers' records, keyed `tenant:<T>` or `campaign:<T>/<C>` ([`PolicyRecord::key`]), so
/// every aggregator learns them from the same compacted stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub v: u16,
    pub tenant: String,
    /// The campaign it applies to; `None` for the tenant-wide policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Tenant policies only: the basis; `None` keeps the deployment's `privacy.default_basis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<TrackingBasis>,
    /// The most detailed level allowed for the tenant or campaign; `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<TrackingLevel>,
    /// When it was set, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Who or what set it: `api`, `cli`, …
    pub source: String,
}

impl PolicyRecord {
    /// Compaction key: `tenant:<T>` or `campaign:<T>/<C>`.
    pub fn key(tenant: &str, campaign: Option<&str>) -> String {
        match campaign {
            None => format!("{TENANT_KEY_PREFIX}{tenant}"),
            Some(campaign) => format!("{CAMPAIGN_KEY_PREFIX}{tenant}/{campaign}"),
        }
    }

    pub fn from_json(payload: &[u8]) -> Result<PolicyRecord, DecodeError> {
        let record: PolicyRecord = serde_json::from_slice(payload)?;
        if record.v != POLICY_SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: record.v,
                supported: POLICY_SCHEMA_VERSION,
            });
        }
        if record.tenant.is_empty() || record.campaign.as_deref() == Some("") {
            return Err(DecodeError::Field {
                field: "tenant",
                reason: "tenant and campaign must not be empty",
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A tenant's removal, keyed `removed:<T>` ([`TenantRemoval::key`]): events whose tracking
/// token was issued at or before `issued_before_s` belong to the removed tenant's data and are
/// dropped. Tokens minted later (the tenant id used again) are tracked normally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRemoval {
    pub v: u16,
    pub tenant: String,
    /// Seconds since the Unix epoch: the removal time.
    pub issued_before_s: u64,
    /// When it was recorded, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    pub source: String,
}

impl TenantRemoval {
    /// Compaction key: `removed:<T>`.
    pub fn key(tenant: &str) -> String {
        format!("{REMOVED_KEY_PREFIX}{tenant}")
    }

    pub fn from_json(payload: &[u8]) -> Result<TenantRemoval, DecodeError> {
        let record: TenantRemoval = serde_json::from_slice(payload)?;
        if record.v != POLICY_SCHEMA_VERSION {
            return Err(DecodeError::Version {
                found: record.v,
                supported: POLICY_SCHEMA_VERSION,
            });
        }
        if record.tenant.is_empty() {
            return Err(DecodeError::Field {
                field: "tenant",
                reason: "must not be empty",
            });
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

const TENANT_KEY_PREFIX: &str = "tenant:";
const REMOVED_KEY_PREFIX: &str = "removed:";
const CAMPAIGN_KEY_PREFIX: &str = "campaign:";

/// What a consent-topic key names. Subscriber keys are `<T>/<S>`; policy keys start with
/// `tenant:`, `campaign:` or `removed:`. Tenant ids used with consent never contain `/` nor
/// start with one of those prefixes (the privacy API refuses them), so the forms cannot be
/// confused; a subscriber id may contain anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentKey<'a> {
    Subscriber {
        tenant: &'a str,
        subscriber: &'a str,
    },
    Tenant {
        tenant: &'a str,
    },
    Campaign {
        tenant: &'a str,
        campaign: &'a str,
    },
    Removed {
        tenant: &'a str,
    },
}

impl<'a> ConsentKey<'a> {
    /// `None` for a key of none of the three forms.
    pub fn parse(key: &'a str) -> Option<ConsentKey<'a>> {
        if let Some(tenant) = key.strip_prefix(TENANT_KEY_PREFIX) {
            return (!tenant.is_empty()).then_some(ConsentKey::Tenant { tenant });
        }
        if let Some(tenant) = key.strip_prefix(REMOVED_KEY_PREFIX) {
            return (!tenant.is_empty()).then_some(ConsentKey::Removed { tenant });
        }
        if let Some(rest) = key.strip_prefix(CAMPAIGN_KEY_PREFIX) {
            let (tenant, campaign) = rest.split_once('/')?;
            return (!tenant.is_empty() && !campaign.is_empty())
                .then_some(ConsentKey::Campaign { tenant, campaign });
        }
        let (tenant, subscriber) = key.split_once('/')?;
        (!tenant.is_empty() && !subscriber.is_empty())
            .then_some(ConsentKey::Subscriber { tenant, subscriber })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_parse() {
        assert_eq!(
            ConsentKey::parse(&ConsentRecord::key("acme", "s/1")),
            Some(ConsentKey::Subscriber {
                tenant: "acme",
                subscriber: "s/1"
            })
        );
        assert_eq!(
            ConsentKey::parse(&PolicyRecord::key("acme", None)),
            Some(ConsentKey::Tenant { tenant: "acme" })
        );
        assert_eq!(
            ConsentKey::parse(&PolicyRecord::key("acme", Some("spring/2"))),
            Some(ConsentKey::Campaign {
                tenant: "acme",
                campaign: "spring/2"
            })
        );
        assert_eq!(
            ConsentKey::parse(&TenantRemoval::key("acme")),
            Some(ConsentKey::Removed { tenant: "acme" })
        );
        for bad in [
            "removed:",
            "",
            "acme",
            "/s",
            "acme/",
            "tenant:",
            "campaign:acme",
            "campaign:/c",
        ] {
            assert_eq!(ConsentKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_policy_record_round_trips_and_omits_what_it_leaves_unset() {
        let record = PolicyRecord {
            v: POLICY_SCHEMA_VERSION,
            tenant: "acme".into(),
            campaign: Some("spring".into()),
            basis: None,
            level: Some(TrackingLevel::Pseudonymous),
            ts_ms: 5,
            source: "api".into(),
        };
        let json = record.to_json();
        assert_eq!(
            String::from_utf8_lossy(&json),
            r#"{"v":1,"tenant":"acme","campaign":"spring","level":"pseudonymous","ts_ms":5,"source":"api"}"#
        );
        assert_eq!(PolicyRecord::from_json(&json).expect("decodes"), record);
    }

    #[test]
    fn marketing_consent_is_optional_on_the_wire() {
        let old = br#"{"v":1,"tenant":"acme","subscriber":"s","state":"granted","ts_ms":1,"source":"api"}"#;
        let record = ConsentRecord::from_json(old).expect("a record without `marketing` decodes");
        assert_eq!(record.marketing, None);
        assert_eq!(record.to_json(), old.to_vec(), "and encodes as before");
        let unsubscribed = ConsentRecord {
            state: ConsentState::Denied,
            source: "unsubscribe".into(),
            marketing: Some(MarketingConsent::Unsubscribed),
            ..record
        };
        let json = unsubscribed.to_json();
        assert!(String::from_utf8_lossy(&json)
            .ends_with(r#""source":"unsubscribe","marketing":"unsubscribed"}"#));
        assert_eq!(
            ConsentRecord::from_json(&json).expect("decodes"),
            unsubscribed
        );
    }

    #[test]
    fn a_subscriber_record_is_not_a_policy_and_versions_are_checked() {
        let subscriber = br#"{"v":1,"tenant":"acme","subscriber":"s","state":"denied","ts_ms":1,"source":"api"}"#;
        assert!(ConsentRecord::from_json(subscriber).is_ok());
        let future = br#"{"v":2,"tenant":"acme","ts_ms":1,"source":"api"}"#;
        assert!(matches!(
            PolicyRecord::from_json(future),
            Err(DecodeError::Version { found: 2, .. })
        ));
    }
}
