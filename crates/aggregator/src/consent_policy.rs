//! Tenant and campaign tracking policies from the consent topic, the consent offsets the book
//! has applied, and the re-check of a pending batch against the current book.
//!
//! The consent topic carries, beside subscribers' records (`<T>/<S>`), tenant policies
//! (`tenant:<T>`: basis and level limit), campaign limits (`campaign:<T>/<C>`) and tenant
//! removals (`removed:<T>`), all decoded by [`apply_message`]. The most restrictive of the
//! tenant's, the campaign's and the subscriber's levels wins.
//!
//! Consent can change between accepting an event and inserting its row (an erasure does
//! exactly that). So right before every INSERT attempt the pipeline calls [`regate`], which
//! decides every pending row again with the book as it is then: a withdrawn consent lowers or
//! drops the row even when the batch has sat in a ClickHouse retry loop.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use mailpulse_event::{
    ConsentKey, ConsentRecord, DecodeError, PolicyRecord, TenantRemoval, TrackingBasis,
    TrackingLevel,
};

use crate::batch::Batch;
use crate::consent::ConsentBook;
use crate::gate::{Decision, Gate};
use crate::row::{stored_id, PendingRow, Pseudonymizer, SubscriberKey};

/// What the tenant and campaign settings say for one event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The tenant's basis; `None`: the deployment default.
    pub basis: Option<TrackingBasis>,
    /// The lowest of the tenant's and the campaign's level limits; `None`: no limit.
    pub cap: Option<TrackingLevel>,
    /// The tenant was removed: events of tokens issued at or before this second are dropped.
    pub removed_before_s: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct TenantSettings {
    basis: Option<TrackingBasis>,
    level: Option<TrackingLevel>,
    removed_before_s: Option<u64>,
}

#[derive(Debug, Default)]
struct Policies {
    tenants: HashMap<String, TenantSettings>,
    /// tenant → campaign → level limit.
    campaigns: HashMap<String, HashMap<String, TrackingLevel>>,
}

/// Tenant and campaign policies, shared like the consent book.
#[derive(Debug, Clone, Default)]
pub struct PolicyBook {
    inner: Arc<RwLock<Policies>>,
}

impl PolicyBook {
    pub fn lookup(&self, tenant: &str, campaign: &str) -> Policy {
        let policies = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let settings = policies.tenants.get(tenant).copied().unwrap_or_default();
        let campaign_level = policies
            .campaigns
            .get(tenant)
            .and_then(|campaigns| campaigns.get(campaign))
            .copied();
        let cap = match (settings.level, campaign_level) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Policy {
            basis: settings.basis,
            cap,
            removed_before_s: settings.removed_before_s,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Policies> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn set_tenant(&self, record: PolicyRecord) {
        let mut policies = self.write();
        let settings = policies.tenants.entry(record.tenant).or_default();
        settings.basis = record.basis;
        settings.level = record.level;
    }

    fn set_campaign(&self, tenant: &str, campaign: &str, level: Option<TrackingLevel>) {
        let mut policies = self.write();
        match level {
            Some(level) => {
                policies
                    .campaigns
                    .entry(tenant.to_string())
                    .or_default()
                    .insert(campaign.to_string(), level);
            }
            None => {
                if let Some(campaigns) = policies.campaigns.get_mut(tenant) {
                    campaigns.remove(campaign);
                }
            }
        }
    }

    fn set_removed(&self, tenant: &str, removed_before_s: Option<u64>) {
        let mut policies = self.write();
        policies
            .tenants
            .entry(tenant.to_string())
            .or_default()
            .removed_before_s = removed_before_s;
    }

    fn clear_tenant(&self, tenant: &str) {
        let mut policies = self.write();
        if let Some(settings) = policies.tenants.get_mut(tenant) {
            settings.basis = None;
            settings.level = None;
        }
    }
}

/// The next offset to apply per consent partition: every record below it is in the book.
#[derive(Debug, Clone, Default)]
pub struct AppliedOffsets {
    inner: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl AppliedOffsets {
    /// Records that `offset` of `partition` has been applied (call after applying it).
    pub fn applied(&self, partition: i32, offset: i64) {
        let mut applied = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let next = applied.entry(partition).or_insert(0);
        *next = (*next).max(offset + 1);
    }

    /// A copy. Take it *before* reading the book: the book holds at least this much.
    pub fn snapshot(&self) -> BTreeMap<i32, i64> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Applies one consent-topic message (`payload` `None`: a tombstone) to the books.
pub fn apply_message(
    book: &ConsentBook,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> Result<(), DecodeError> {
    let key = key.and_then(|key| std::str::from_utf8(key).ok());
    let parsed = key.and_then(ConsentKey::parse);
    match (parsed, payload) {
        (Some(ConsentKey::Tenant { .. }), Some(payload)) => {
            book.policies()
                .set_tenant(PolicyRecord::from_json(payload)?);
        }
        (Some(ConsentKey::Tenant { tenant }), None) => book.policies().clear_tenant(tenant),
        (Some(ConsentKey::Campaign { .. }), Some(payload)) => {
            let record = PolicyRecord::from_json(payload)?;
            let campaign = record.campaign.as_deref().unwrap_or_default();
            book.policies()
                .set_campaign(&record.tenant, campaign, record.level);
        }
        (Some(ConsentKey::Campaign { tenant, campaign }), None) => {
            book.policies().set_campaign(tenant, campaign, None);
        }
        (Some(ConsentKey::Removed { .. }), Some(payload)) => {
            let record = TenantRemoval::from_json(payload)?;
            book.policies()
                .set_removed(&record.tenant, Some(record.issued_before_s));
        }
        (Some(ConsentKey::Removed { tenant }), None) => book.policies().set_removed(tenant, None),
        (Some(ConsentKey::Subscriber { tenant, subscriber }), None) => {
            book.forget(tenant, subscriber)
        }
        // A subscriber record, or a key of no known form (older producers): the payload says.
        (_, Some(payload)) => book.apply(ConsentRecord::from_json(payload)?),
        (None, None) => {
            return Err(DecodeError::Field {
                field: "key",
                reason: "a tombstone without a recognisable key",
            })
        }
    }
    Ok(())
}

/// The subscriber column a row stored at `level` carries.
pub fn key_for(
    level: TrackingLevel,
    row: &PendingRow,
    pseudonymizer: &Pseudonymizer,
) -> SubscriberKey {
    match level {
        TrackingLevel::Identified => SubscriberKey::Identified,
        TrackingLevel::Pseudonymous => SubscriberKey::Pseudonym(
            pseudonymizer.pseudonym(&row.event.tenant, &row.event.subscriber),
        ),
        TrackingLevel::Anonymous | TrackingLevel::Off => SubscriberKey::None,
    }
}

/// What [`regate`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regated {
    pub lowered: usize,
    pub dropped: usize,
}

/// Decides every pending row again with the current books: rows whose subscriber, campaign or
/// tenant now allows less are lowered to that level (or dropped). A row is never raised: it
/// was accepted under the earlier, stricter decision.
pub fn regate(
    batch: &mut Batch,
    gate: &Gate,
    book: &ConsentBook,
    pseudonymizer: &Pseudonymizer,
) -> Regated {
    let mut outcome = Regated::default();
    batch.revise_rows(|row| {
        let consent = book.lookup(&row.event.tenant, &row.event.subscriber);
        let policy = book
            .policies()
            .lookup(&row.event.tenant, &row.event.campaign);
        match gate.decide_with(consent, &policy, &row.event) {
            Decision::Drop => {
                outcome.dropped += 1;
                false
            }
            Decision::Store(level) if level < row.level => {
                row.key = key_for(level, row, pseudonymizer);
                row.level = level;
                row.stored_id = stored_id(&row.event.id, level);
                outcome.lowered += 1;
                true
            }
            Decision::Store(_) => true,
        }
    });
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Enriched;
    use crate::test_support::sample_event;
    use mailpulse_config::{ConsentBasis, PrivacyConfig, UnconsentedPolicy};
    use mailpulse_event::{ConsentState, POLICY_SCHEMA_VERSION};

    const KEY: &str = "6d61696c70756c73652d73756273637269626572206861736820646576203031";

    fn policy_json(tenant: &str, campaign: Option<&str>, level: Option<TrackingLevel>) -> Vec<u8> {
        PolicyRecord {
            v: POLICY_SCHEMA_VERSION,
            tenant: tenant.into(),
            campaign: campaign.map(str::to_string),
            basis: None,
            level,
            ts_ms: 1,
            source: "test".into(),
        }
        .to_json()
    }

    #[test]
    fn the_lowest_of_tenant_and_campaign_limits_wins_and_tombstones_clear() {
        let book = ConsentBook::default();
        let tenant_key = PolicyRecord::key("acme", None);
        let campaign_key = PolicyRecord::key("acme", Some("spring"));
        apply_message(
            &book,
            Some(tenant_key.as_bytes()),
            Some(&policy_json(
                "acme",
                None,
                Some(TrackingLevel::Pseudonymous),
            )),
        )
        .expect("tenant policy applies");
        apply_message(
            &book,
            Some(campaign_key.as_bytes()),
            Some(&policy_json(
                "acme",
                Some("spring"),
                Some(TrackingLevel::Anonymous),
            )),
        )
        .expect("campaign policy applies");
        let policies = book.policies();
        assert_eq!(
            policies.lookup("acme", "spring").cap,
            Some(TrackingLevel::Anonymous)
        );
        assert_eq!(
            policies.lookup("acme", "autumn").cap,
            Some(TrackingLevel::Pseudonymous)
        );
        assert_eq!(policies.lookup("other", "spring"), Policy::default());
        apply_message(&book, Some(campaign_key.as_bytes()), None).expect("tombstone");
        assert_eq!(
            policies.lookup("acme", "spring").cap,
            Some(TrackingLevel::Pseudonymous)
        );
        apply_message(&book, Some(tenant_key.as_bytes()), None).expect("tombstone");
        assert_eq!(policies.lookup("acme", "spring").cap, None);
    }

    #[test]
    fn subscriber_records_and_removals_are_told_apart_by_key() {
        let book = ConsentBook::default();
        let record = ConsentRecord {
            v: 1,
            tenant: "acme".into(),
            subscriber: "s/1".into(),
            state: ConsentState::Denied,
            level: None,
            ts_ms: 1,
            source: "test".into(),
            marketing: None,
        };
        let key = ConsentRecord::key("acme", "s/1");
        apply_message(&book, Some(key.as_bytes()), Some(&record.to_json())).expect("applies");
        assert_eq!(
            book.lookup("acme", "s/1").map(|e| e.state),
            Some(ConsentState::Denied)
        );
        let removal = TenantRemoval {
            v: POLICY_SCHEMA_VERSION,
            tenant: "acme".into(),
            issued_before_s: 100,
            ts_ms: 1,
            source: "test".into(),
        };
        let removal_key = TenantRemoval::key("acme");
        apply_message(
            &book,
            Some(removal_key.as_bytes()),
            Some(&removal.to_json()),
        )
        .expect("removal applies");
        assert_eq!(
            book.policies().lookup("acme", "c").removed_before_s,
            Some(100)
        );
        apply_message(&book, Some(key.as_bytes()), None).expect("tombstone");
        assert_eq!(book.lookup("acme", "s/1"), None);
        assert!(apply_message(&book, Some(b"tenant:acme"), Some(b"{}")).is_err());
    }

    #[test]
    fn applied_offsets_are_the_next_offset_and_never_go_back() {
        let applied = AppliedOffsets::default();
        applied.applied(0, 5);
        applied.applied(0, 3);
        applied.applied(2, 0);
        assert_eq!(applied.snapshot(), BTreeMap::from([(0, 6), (2, 1)]));
    }

    #[test]
    fn a_pending_row_is_lowered_or_dropped_when_consent_is_withdrawn() {
        let pseudonymizer = Pseudonymizer::from_hex(KEY).expect("key");
        let gate = Gate::new(&PrivacyConfig {
            default_basis: ConsentBasis::LegitimateInterest,
            default_unconsented: UnconsentedPolicy::Aggregate,
            ..PrivacyConfig::default()
        });
        let book = ConsentBook::default();
        let mut batch = Batch::default();
        let event = sample_event();
        batch.processed(0, 1);
        batch.push_row(PendingRow {
            stored_id: event.id,
            event: event.clone(),
            partition: 0,
            offset: 1,
            level: TrackingLevel::Identified,
            key: SubscriberKey::Identified,
            enriched: Enriched {
                browser: "",
                os: "",
                device: "",
                email_client: "",
                machine_reason: None,
            },
        });
        assert_eq!(
            regate(&mut batch, &gate, &book, &pseudonymizer),
            Regated::default()
        );

        book.apply(ConsentRecord {
            v: 1,
            tenant: event.tenant.clone(),
            subscriber: event.subscriber.clone(),
            state: ConsentState::Denied,
            level: None,
            ts_ms: 2,
            source: "erasure".into(),
            marketing: None,
        });
        let outcome = regate(&mut batch, &gate, &book, &pseudonymizer);
        assert_eq!(
            outcome,
            Regated {
                lowered: 1,
                dropped: 0
            }
        );
        let row = &batch.rows()[0];
        assert_eq!(row.level, TrackingLevel::Anonymous);
        assert_eq!(row.key, SubscriberKey::None);
        assert_eq!(row.stored_id, crate::row::anonymous_id(&event.id));
        assert!(batch.contains_id(&row.stored_id));
        assert!(!batch.contains_id(&event.id));

        let drop_gate = Gate::new(&PrivacyConfig {
            default_unconsented: UnconsentedPolicy::Drop,
            ..PrivacyConfig::default()
        });
        let outcome = regate(&mut batch, &drop_gate, &book, &pseudonymizer);
        assert_eq!(
            outcome,
            Regated {
                lowered: 0,
                dropped: 1
            }
        );
        assert!(batch.rows().is_empty());
    }
}
