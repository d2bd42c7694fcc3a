//! Setting and reading consent and tracking policies.
//!
//! A change is first written to the consent topic (the source of truth the aggregators gate
//! on) and acknowledged by the broker, then recorded in `consent_history`. If the history
//! insert fails after the topic accepted the change, the call says so
//! ([`PrivacyError::HistoryNotRecorded`]) and repeating it records it.

use std::collections::BTreeMap;
use std::time::Duration;

use mailpulse_event::{
    ConsentRecord, PolicyRecord, TrackingBasis, TrackingLevel, CONSENT_SCHEMA_VERSION,
    POLICY_SCHEMA_VERSION,
};
use serde::Serialize;

use crate::history::{self, ConsentChange, HistoryInsert};
use crate::ids::{check_campaign, check_subscriber, check_tenant};
use crate::topic::Delivered;
use crate::tracking::{basis_name, Tracking};
use crate::{check_source, now_ms, Privacy, PrivacyError};

/// Attempts at the history insert before the call reports it unrecorded.
const HISTORY_ATTEMPTS: u32 = 3;

/// What [`Privacy::set_consent`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentReceipt {
    pub tenant: String,
    pub subscriber: String,
    /// `granted`, `denied`, `restricted` or a level.
    pub tracking: String,
    pub ts_ms: u64,
    pub source: String,
    /// Where the record landed on the consent topic.
    pub delivered: Delivered,
}

/// A subscriber's current consent and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentView {
    pub tenant: String,
    pub subscriber: String,
    /// The latest setting; `None` if none was ever recorded (the tenant's basis applies).
    pub tracking: Option<String>,
    /// When the latest setting was made, ms since the epoch.
    pub since_ms: Option<u64>,
    /// Every change, oldest first.
    pub history: Vec<ConsentChange>,
}

/// What [`Privacy::set_policy`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReceipt {
    pub tenant: String,
    pub campaign: Option<String>,
    pub basis: Option<String>,
    pub level: Option<String>,
    pub ts_ms: u64,
    pub delivered: Delivered,
}

/// A tenant's current policies and their history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyView {
    pub tenant: String,
    /// The tenant's basis override (`None`: the deployment default).
    pub basis: Option<String>,
    /// The tenant-wide level limit (`None`: none).
    pub level: Option<String>,
    /// Campaign → level limit, for campaigns with one.
    pub campaigns: BTreeMap<String, String>,
    pub history: Vec<ConsentChange>,
}

impl Privacy {
    /// Sets a subscriber's consent: written to the consent topic (acks=all, delivery awaited),
    /// then to `consent_history`.
    pub async fn set_consent(
        &self,
        tenant: &str,
        subscriber: &str,
        tracking: Tracking,
        source: &str,
    ) -> Result<ConsentReceipt, PrivacyError> {
        check_tenant(tenant)?;
        check_subscriber(subscriber)?;
        check_source(source)?;
        let (state, level) = tracking.state_and_level();
        let record = ConsentRecord {
            v: CONSENT_SCHEMA_VERSION,
            tenant: tenant.to_string(),
            subscriber: subscriber.to_string(),
            state,
            level,
            ts_ms: now_ms(),
            source: source.to_string(),
            marketing: None,
        };
        let key = ConsentRecord::key(tenant, subscriber);
        let delivered = self.topic.publish(&key, Some(&record.to_json())).await?;
        let row = HistoryInsert::subscriber(
            tenant,
            subscriber,
            state,
            level,
            record.ts_ms,
            source,
            delivered,
        );
        self.record_history(&[row]).await?;
        tracing::info!(tenant, tracking = %tracking, source, "consent set");
        Ok(ConsentReceipt {
            tenant: tenant.to_string(),
            subscriber: subscriber.to_string(),
            tracking: tracking.to_string(),
            ts_ms: record.ts_ms,
            source: source.to_string(),
            delivered,
        })
    }

    /// A subscriber's current consent and every recorded change.
    pub async fn consent(
        &self,
        tenant: &str,
        subscriber: &str,
    ) -> Result<ConsentView, PrivacyError> {
        check_tenant(tenant)?;
        check_subscriber(subscriber)?;
        let history = history::subscriber_history(&self.store, tenant, subscriber).await?;
        let latest = history.last();
        Ok(ConsentView {
            tenant: tenant.to_string(),
            subscriber: subscriber.to_string(),
            tracking: latest.map(tracking_of),
            since_ms: latest.map(|change| change.ts_ms),
            history,
        })
    }

    /// Sets the tenant-wide policy (`campaign` `None`: basis and level limit) or a campaign's
    /// level limit. `None` values clear the setting (the default applies again).
    pub async fn set_policy(
        &self,
        tenant: &str,
        campaign: Option<&str>,
        basis: Option<TrackingBasis>,
        level: Option<TrackingLevel>,
        source: &str,
    ) -> Result<PolicyReceipt, PrivacyError> {
        check_tenant(tenant)?;
        check_source(source)?;
        if let Some(campaign) = campaign {
            check_campaign(campaign)?;
            if basis.is_some() {
                return Err(PrivacyError::invalid(
                    "basis",
                    "a basis is set per tenant, not per campaign",
                ));
            }
        }
        let record = PolicyRecord {
            v: POLICY_SCHEMA_VERSION,
            tenant: tenant.to_string(),
            campaign: campaign.map(str::to_string),
            basis,
            level,
            ts_ms: now_ms(),
            source: source.to_string(),
        };
        let key = PolicyRecord::key(tenant, campaign);
        let delivered = self.topic.publish(&key, Some(&record.to_json())).await?;
        let row = HistoryInsert::policy(
            tenant,
            campaign,
            basis,
            level,
            record.ts_ms,
            source,
            delivered,
        );
        self.record_history(&[row]).await?;
        tracing::info!(
            tenant,
            campaign,
            ?basis,
            ?level,
            source,
            "tracking policy set"
        );
        Ok(PolicyReceipt {
            tenant: tenant.to_string(),
            campaign: campaign.map(str::to_string),
            basis: basis.map(|b| basis_name(b).to_string()),
            level: level.map(|l| l.as_str().to_string()),
            ts_ms: record.ts_ms,
            delivered,
        })
    }

    /// A tenant's current policies (from the recorded history) and their changes.
    pub async fn policies(&self, tenant: &str) -> Result<PolicyView, PrivacyError> {
        check_tenant(tenant)?;
        let history = history::policy_history(&self.store, tenant).await?;
        let mut view = PolicyView {
            tenant: tenant.to_string(),
            basis: None,
            level: None,
            campaigns: BTreeMap::new(),
            history: Vec::new(),
        };
        let setting = |value: &str| (value != "default").then(|| value.to_string());
        for change in &history {
            if change.scope == "tenant" {
                view.basis = setting(&change.basis);
                view.level = setting(&change.level);
            } else {
                match setting(&change.level) {
                    Some(level) => view.campaigns.insert(change.campaign.clone(), level),
                    None => view.campaigns.remove(&change.campaign),
                };
            }
        }
        view.history = history;
        Ok(view)
    }

    /// Every key (ids and pseudonyms) of the tenant's subscribers whose processing is
    /// currently restricted. Subscriber-level views (drill-downs, lists of openers) must leave
    /// rows with these keys out until the restriction is lifted; the aggregate counters cannot
    /// (they hold no keys), see `docs/privacy.md`.
    pub async fn restricted_keys(&self, tenant: &str) -> Result<Vec<String>, PrivacyError> {
        check_tenant(tenant)?;
        #[derive(serde::Deserialize, clickhouse::Row)]
        struct Restricted {
            subscriber: String,
        }
        let rows = self
            .store
            .query(
                "SELECT subscriber FROM consent_history \
                 WHERE tenant = ? AND scope = 'subscriber' \
                 GROUP BY subscriber \
                 HAVING argMax(state, (ts_ms, kafka_partition, kafka_offset)) = 'restricted' \
                 ORDER BY subscriber",
            )
            .bind(tenant)
            .fetch_all::<Restricted>()
            .await?;
        Ok(rows
            .iter()
            .flat_map(|row| self.keys.all(tenant, &row.subscriber))
            .collect())
    }

    /// Inserts history rows, retrying briefly; the topic already has the change.
    pub(crate) async fn record_history(
        &self,
        rows: &[HistoryInsert<'_>],
    ) -> Result<(), PrivacyError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            match history::insert(&self.store, rows).await {
                Ok(()) => return Ok(()),
                Err(PrivacyError::Store(error)) if attempt >= HISTORY_ATTEMPTS => {
                    return Err(PrivacyError::HistoryNotRecorded(error))
                }
                Err(PrivacyError::Store(error)) => {
                    tracing::warn!(%error, attempt, "consent history insert failed; retrying");
                }
                Err(other) => return Err(other),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }
}

/// The `tracking` value a history row stands for.
fn tracking_of(change: &ConsentChange) -> String {
    match (change.state.as_str(), change.level.as_str()) {
        ("granted", "default") => "granted".to_string(),
        ("granted", level) => level.to_string(),
        (state, _) => state.to_string(),
    }
}
