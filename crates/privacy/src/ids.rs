//! The ids a privacy call names, checked once at the door, and the keys a subscriber's rows
//! are stored under.

use mailpulse_aggregator::Pseudonymizer;
use mailpulse_config::KeysConfig;

use crate::PrivacyError;

/// Longest id accepted: the tracking token's limit, so every id that can reach an event can
/// be named here.
const MAX_ID_LEN: usize = 256;

/// Checks an id the way events check theirs: 1-256 bytes, no control characters.
fn check(field: &'static str, value: &str) -> Result<(), PrivacyError> {
    if value.is_empty() {
        return Err(PrivacyError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(PrivacyError::invalid(field, "must be at most 256 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(PrivacyError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A tenant id. Besides the event rules it may not contain `/` nor start with `tenant:`,
/// `campaign:` or `removed:`: consent-topic keys (`<T>/<S>`, `tenant:<T>`, `campaign:<T>/<C>`,
/// `removed:<T>`) must say unambiguously what they name.
pub fn check_tenant(tenant: &str) -> Result<(), PrivacyError> {
    check("tenant", tenant)?;
    if tenant.contains('/') {
        return Err(PrivacyError::invalid("tenant", "must not contain `/`"));
    }
    if ["tenant:", "campaign:", "removed:"]
        .iter()
        .any(|prefix| tenant.starts_with(prefix))
    {
        return Err(PrivacyError::invalid(
            "tenant",
            "must not start with `tenant:`, `campaign:` or `removed:`",
        ));
    }
    Ok(())
}

pub fn check_subscriber(subscriber: &str) -> Result<(), PrivacyError> {
    check("subscriber", subscriber)
}

pub fn check_campaign(campaign: &str) -> Result<(), PrivacyError> {
    check("campaign", campaign)
}

/// Computes the keys under which a subscriber's rows may be stored: the id itself
/// (`identified`) and its pseudonym (`pseudonymous`).
#[derive(Clone)]
pub struct SubscriberKeys {
    /// The aggregator's pseudonym: what `events.subscriber_key` holds at `pseudonymous`.
    aggregator: Pseudonymizer,
}

impl std::fmt::Debug for SubscriberKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriberKeys(<key>)")
    }
}

impl SubscriberKeys {
    pub fn new(keys: &KeysConfig) -> Result<SubscriberKeys, PrivacyError> {
        let aggregator = Pseudonymizer::from_hex(&keys.subscriber_hash).ok_or_else(|| {
            PrivacyError::invalid("keys.subscriber_hash", "must be 64 hex characters")
        })?;
        Ok(SubscriberKeys { aggregator })
    }

    /// The pseudonym the aggregator stores for this subscriber.
    pub fn pseudonym(&self, tenant: &str, subscriber: &str) -> String {
        let hex = self.aggregator.pseudonym(tenant, subscriber);
        String::from_utf8_lossy(&hex).into_owned()
    }

    /// Every key the subscriber's rows can carry: the id first, then the pseudonym.
    pub fn all(&self, tenant: &str, subscriber: &str) -> Vec<String> {
        vec![subscriber.to_string(), self.pseudonym(tenant, subscriber)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_that_would_make_consent_keys_ambiguous_are_refused() {
        assert!(check_tenant("acme").is_ok());
        assert!(check_tenant("acme.eu-1:prod").is_ok());
        for bad in ["", "a/b", "tenant:x", "campaign:x", "removed:x", "a\nb"] {
            assert!(check_tenant(bad).is_err(), "{bad:?}");
        }
        assert!(check_tenant(&"t".repeat(257)).is_err());
    }

    #[test]
    fn subscriber_ids_follow_the_event_rules() {
        assert!(check_subscriber("s/1:x y").is_ok());
        assert!(check_subscriber("").is_err());
        assert!(check_subscriber("a\tb").is_err());
    }

    #[test]
    fn keys_are_the_id_and_distinct_pseudonyms() {
        let config = KeysConfig {
            subscriber_hash: "ab".repeat(32),
            ..KeysConfig::default()
        };
        let keys = SubscriberKeys::new(&config).expect("a 32-byte key parses");
        let all = keys.all("acme", "s1");
        assert_eq!(all[0], "s1");
        assert_eq!(all[1], keys.pseudonym("acme", "s1"));
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[1],
            mailpulse_pseudonym::subscriber_pseudonym(&[0xab; 32], "acme", "s1"),
            "the one documented pseudonym function"
        );
        assert!(all[1..].iter().all(|k| k.len() == 32));
        assert_ne!(
            keys.all("other", "s1")[1],
            all[1],
            "pseudonyms are per tenant"
        );
    }

    #[test]
    fn a_key_that_is_not_32_bytes_still_gives_the_aggregators_pseudonym() {
        // The development key is 33 bytes: only the aggregator's derivation accepts it.
        let keys = SubscriberKeys::new(&KeysConfig::default()).expect("dev key parses");
        assert_eq!(
            keys.all("acme", "s1"),
            vec!["s1".to_string(), keys.pseudonym("acme", "s1")]
        );
    }
}
