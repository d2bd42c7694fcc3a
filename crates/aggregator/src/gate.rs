//! Consent gating: how much of an event may be stored.
//!
//! The effective level is the most restrictive of the tenant's default basis, the subscriber's
//! consent record and the request's own privacy signals (DNT, GPC). `privacy.default_unconsented`
//! decides whether an event of a subscriber without consent is counted anonymously or dropped.

use mailpulse_config::{ConsentBasis, PrivacyConfig, UnconsentedPolicy};
use mailpulse_event::{ConsentState, Event, TrackingBasis, TrackingLevel};

use crate::consent::ConsentEntry;
use crate::consent_policy::Policy;

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store it at this level.
    Store(TrackingLevel),
    /// Store nothing: the subscriber has not consented and the policy is `drop`.
    Drop,
}

/// The deployment-wide rules; per-tenant and per-campaign settings come as a [`Policy`].
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    basis: ConsentBasis,
    unconsented: UnconsentedPolicy,
}

impl Gate {
    pub fn new(privacy: &PrivacyConfig) -> Gate {
        Gate {
            basis: privacy.default_basis,
            unconsented: privacy.default_unconsented,
        }
    }

    /// Decides for `event`, given the subscriber's latest consent record if any.
    pub fn decide(&self, consent: Option<ConsentEntry>, event: &Event) -> Decision {
        self.decide_with(consent, &Policy::default(), event)
    }

    /// Decides for `event` under its tenant's and campaign's `policy` as well: a removed
    /// tenant's event is dropped, the tenant's basis replaces the default, and the level is
    /// capped by the tenant's and campaign's limits.
    pub fn decide_with(
        &self,
        consent: Option<ConsentEntry>,
        policy: &Policy,
        event: &Event,
    ) -> Decision {
        if policy
            .removed_before_s
            .is_some_and(|removed| event.issued_at <= removed)
        {
            return Decision::Drop;
        }
        let basis = match policy.basis {
            Some(TrackingBasis::OptIn) => ConsentBasis::OptIn,
            Some(TrackingBasis::LegitimateInterest) => ConsentBasis::LegitimateInterest,
            None => self.basis,
        };
        let consented = match consent {
            None => match basis {
                ConsentBasis::OptIn => TrackingLevel::Anonymous,
                ConsentBasis::LegitimateInterest => TrackingLevel::Identified,
            },
            Some(entry) => match entry.state {
                ConsentState::Granted => entry.level.unwrap_or(TrackingLevel::Identified),
                ConsentState::Denied | ConsentState::Restricted => TrackingLevel::Anonymous,
            },
        };
        // `drop` concerns the subscriber's consent; a browser's DNT/GPC on a consenting
        // subscriber's event only makes that event anonymous.
        if consented < TrackingLevel::Pseudonymous && self.unconsented == UnconsentedPolicy::Drop {
            return Decision::Drop;
        }
        // The tenant's and campaign's limits lower the level but never drop: `drop` is about
        // the subscriber's consent.
        let consented = policy.cap.map_or(consented, |cap| consented.min(cap));
        let level = if event.dnt || event.gpc {
            consented.min(TrackingLevel::Anonymous)
        } else {
            consented
        };
        Decision::Store(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    fn gate(basis: ConsentBasis, unconsented: UnconsentedPolicy) -> Gate {
        Gate { basis, unconsented }
    }

    fn entry(state: ConsentState, level: Option<TrackingLevel>) -> Option<ConsentEntry> {
        Some(ConsentEntry { state, level })
    }

    #[test]
    fn opt_in_without_a_record_is_anonymous_or_dropped() {
        let event = sample_event();
        assert_eq!(
            gate(ConsentBasis::OptIn, UnconsentedPolicy::Aggregate).decide(None, &event),
            Decision::Store(TrackingLevel::Anonymous)
        );
        assert_eq!(
            gate(ConsentBasis::OptIn, UnconsentedPolicy::Drop).decide(None, &event),
            Decision::Drop
        );
    }

    #[test]
    fn legitimate_interest_identifies_unless_denied_or_restricted() {
        let event = sample_event();
        let li = gate(
            ConsentBasis::LegitimateInterest,
            UnconsentedPolicy::Aggregate,
        );
        assert_eq!(
            li.decide(None, &event),
            Decision::Store(TrackingLevel::Identified)
        );
        for state in [ConsentState::Denied, ConsentState::Restricted] {
            assert_eq!(
                li.decide(entry(state, Some(TrackingLevel::Identified)), &event),
                Decision::Store(TrackingLevel::Anonymous)
            );
        }
    }

    #[test]
    fn a_grant_gives_its_level_or_identified() {
        let event = sample_event();
        let opt_in = gate(ConsentBasis::OptIn, UnconsentedPolicy::Drop);
        assert_eq!(
            opt_in.decide(entry(ConsentState::Granted, None), &event),
            Decision::Store(TrackingLevel::Identified)
        );
        assert_eq!(
            opt_in.decide(
                entry(ConsentState::Granted, Some(TrackingLevel::Pseudonymous)),
                &event
            ),
            Decision::Store(TrackingLevel::Pseudonymous)
        );
    }

    #[test]
    fn dnt_or_gpc_makes_a_consenting_subscribers_event_anonymous_not_dropped() {
        let opt_in = gate(ConsentBasis::OptIn, UnconsentedPolicy::Drop);
        for (dnt, gpc) in [(true, false), (false, true)] {
            let mut event = sample_event();
            event.dnt = dnt;
            event.gpc = gpc;
            assert_eq!(
                opt_in.decide(entry(ConsentState::Granted, None), &event),
                Decision::Store(TrackingLevel::Anonymous)
            );
        }
    }

    #[test]
    fn tenant_and_campaign_limits_cap_the_level_and_the_tenant_basis_replaces_the_default() {
        let event = sample_event();
        let opt_in = gate(ConsentBasis::OptIn, UnconsentedPolicy::Aggregate);
        let capped = Policy {
            cap: Some(TrackingLevel::Pseudonymous),
            ..Policy::default()
        };
        assert_eq!(
            opt_in.decide_with(entry(ConsentState::Granted, None), &capped, &event),
            Decision::Store(TrackingLevel::Pseudonymous)
        );
        let li = Policy {
            basis: Some(TrackingBasis::LegitimateInterest),
            ..Policy::default()
        };
        assert_eq!(
            opt_in.decide_with(None, &li, &event),
            Decision::Store(TrackingLevel::Identified)
        );
        let dropping = gate(ConsentBasis::OptIn, UnconsentedPolicy::Drop);
        let anonymous_cap = Policy {
            cap: Some(TrackingLevel::Anonymous),
            ..Policy::default()
        };
        assert_eq!(
            dropping.decide_with(entry(ConsentState::Granted, None), &anonymous_cap, &event),
            Decision::Store(TrackingLevel::Anonymous),
            "a limit lowers, it does not drop"
        );
    }

    #[test]
    fn a_removed_tenants_events_from_earlier_tokens_are_dropped() {
        let mut event = sample_event();
        let li = gate(
            ConsentBasis::LegitimateInterest,
            UnconsentedPolicy::Aggregate,
        );
        let removed = Policy {
            removed_before_s: Some(event.issued_at),
            ..Policy::default()
        };
        assert_eq!(li.decide_with(None, &removed, &event), Decision::Drop);
        event.issued_at += 1;
        assert_eq!(
            li.decide_with(None, &removed, &event),
            Decision::Store(TrackingLevel::Identified),
            "a token minted after the removal belongs to a new tenant of that id"
        );
    }

    #[test]
    fn a_grant_at_level_off_stays_off() {
        let event = sample_event();
        let aggregate = gate(ConsentBasis::OptIn, UnconsentedPolicy::Aggregate);
        assert_eq!(
            aggregate.decide(
                entry(ConsentState::Granted, Some(TrackingLevel::Off)),
                &event
            ),
            Decision::Store(TrackingLevel::Off)
        );
    }
}
