//! An accepted event waiting in a batch, and the `events` row it becomes.
//!
//! Privacy is applied here, once: below `pseudonymous` a row keeps no subscriber key, visitor
//! hash, region or city, its time is truncated to the hour and its event id is replaced by a
//! one-way derivative (a UUIDv7 carries its creation time to the millisecond). At `off` it also
//! loses every dimension but the campaign, kind and machine flag.

use mailpulse_event::{Event, TrackingLevel};
use mailpulse_store::{EventKindCode, EventRow, TrackingLevelCode};
use uuid::Uuid;

/// What enrichment found, as the static strings the row stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enriched {
    pub browser: &'static str,
    pub os: &'static str,
    pub device: &'static str,
    pub email_client: &'static str,
    /// Why the event is a machine open or a scanner click; `None` for a human.
    pub machine_reason: Option<&'static str>,
}

/// The subscriber column of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberKey {
    /// Anonymous: no key.
    None,
    /// The subscriber id itself.
    Identified,
    /// Per-tenant keyed hash of the subscriber id, as 32 lowercase hex characters.
    Pseudonym([u8; 32]),
}

/// An accepted event and everything needed to write its row.
#[derive(Debug, Clone)]
pub struct PendingRow {
    pub event: Event,
    pub partition: i32,
    pub offset: i64,
    /// The id written to `events.event_id` and remembered against duplicates.
    pub stored_id: Uuid,
    pub level: TrackingLevel,
    pub key: SubscriberKey,
    pub enriched: Enriched,
}

impl PendingRow {
    /// Seconds since the epoch as stored: truncated to the hour when anonymous.
    fn stored_ts(&self) -> u32 {
        let secs = u32::try_from(self.event.ts_ms / 1000).unwrap_or(u32::MAX);
        if self.level < TrackingLevel::Pseudonymous {
            secs - secs % 3600
        } else {
            secs
        }
    }

    fn subscriber_key(&self) -> &str {
        match &self.key {
            SubscriberKey::None => "",
            SubscriberKey::Identified => &self.event.subscriber,
            // Always ASCII hex; an impossible failure would store no key, never a wrong one.
            SubscriberKey::Pseudonym(hex) => std::str::from_utf8(hex).unwrap_or(""),
        }
    }

    /// The row for `events`.
    pub fn to_row<'a>(&'a self, topic: &'a str, ingested_at: u32) -> EventRow<'a> {
        let event = &self.event;
        let personal = self.level >= TrackingLevel::Pseudonymous;
        let dimensions = self.level > TrackingLevel::Off;
        let keep = |value: &'a str, allowed: bool| if allowed { value } else { "" };
        let geo = &event.geo;
        EventRow {
            event_id: self.stored_id,
            kind: EventKindCode(event.kind),
            ts: self.stored_ts(),
            tenant: &event.tenant,
            campaign: &event.campaign,
            subscriber_key: self.subscriber_key(),
            link: keep(event.link.as_deref().unwrap_or(""), dimensions),
            url: keep(event.url.as_deref().unwrap_or(""), dimensions),
            visitor: keep(&event.visitor, personal),
            country: keep(geo.country.as_deref().unwrap_or(""), dimensions),
            region: keep(geo.region.as_deref().unwrap_or(""), personal),
            city: keep(geo.city.as_deref().unwrap_or(""), personal),
            asn: if dimensions {
                event.network.asn.unwrap_or(0)
            } else {
                0
            },
            network_class: keep(event.network.class.as_str(), dimensions),
            browser: keep(self.enriched.browser, dimensions),
            os: keep(self.enriched.os, dimensions),
            device: keep(self.enriched.device, dimensions),
            email_client: keep(self.enriched.email_client, dimensions),
            machine: u8::from(self.enriched.machine_reason.is_some()),
            machine_reason: self.enriched.machine_reason.unwrap_or(""),
            dnt: u8::from(event.dnt),
            gpc: u8::from(event.gpc),
            // Not personal, and needed at every level so totals count a full render once.
            end_pixel: u8::from(event.end_pixel),
            tracking_level: TrackingLevelCode(self.level),
            edge: &event.edge,
            kafka_topic: topic,
            kafka_partition: self.partition,
            kafka_offset: self.offset,
            ingested_at,
        }
    }
}

/// Keys for the subscriber pseudonym.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<key>)")
    }
}

impl Pseudonymizer {
    /// From `keys.subscriber_hash`: 64 hex characters (a 32-byte key).
    pub fn from_hex(hex_key: &str) -> Option<Pseudonymizer> {
        mailpulse_pseudonym::parse_key_hex(hex_key)
            .ok()
            .map(|key| Pseudonymizer { key })
    }

    /// The keyed hash of (tenant, subscriber) as 32 hex bytes: stable per tenant, unlinkable
    /// across tenants and irreversible without the key (`mailpulse_pseudonym::subscriber_pseudonym`).
    pub fn pseudonym(&self, tenant: &str, subscriber: &str) -> [u8; 32] {
        let digest = mailpulse_pseudonym::subscriber_pseudonym_hex(&self.key, tenant, subscriber);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_str().as_bytes());
        out
    }
}

/// The id an anonymous row stores instead of the event's UUIDv7: same for the same event (so
/// duplicates are still recognised), but revealing neither the time nor the original id.
pub fn anonymous_id(id: &Uuid) -> Uuid {
    let digest = blake3::derive_key("mailpulse 2025 anonymous event id", id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The stored id for `id` at `level`.
pub fn stored_id(id: &Uuid, level: TrackingLevel) -> Uuid {
    if level >= TrackingLevel::Pseudonymous {
        *id
    } else {
        anonymous_id(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    const KEY: &str = "6d61696c70756c73652d73756273637269626572206861736820646576203031";

    fn enriched() -> Enriched {
        Enriched {
            browser: "Safari",
            os: "iOS",
            device: "smartphone",
            email_client: "apple_mail",
            machine_reason: None,
        }
    }

    fn pending(level: TrackingLevel, key: SubscriberKey) -> PendingRow {
        let event = sample_event();
        PendingRow {
            stored_id: stored_id(&event.id, level),
            event,
            partition: 2,
            offset: 41,
            level,
            key,
            enriched: enriched(),
        }
    }

    #[test]
    fn an_identified_row_keeps_the_subscriber_and_exact_time() {
        let row = pending(TrackingLevel::Identified, SubscriberKey::Identified);
        let stored = row.to_row("events", 9);
        assert_eq!(stored.subscriber_key, row.event.subscriber);
        assert_eq!(u64::from(stored.ts), row.event.ts_ms / 1000);
        assert_eq!(stored.event_id, row.event.id);
        assert_eq!(stored.visitor, row.event.visitor);
        assert_eq!((stored.kafka_partition, stored.kafka_offset), (2, 41));
    }

    #[test]
    fn an_anonymous_row_has_no_subscriber_visitor_or_fine_location() {
        let row = pending(TrackingLevel::Anonymous, SubscriberKey::None);
        let stored = row.to_row("events", 9);
        assert_eq!(stored.subscriber_key, "");
        assert_eq!(stored.visitor, "");
        assert_eq!((stored.region, stored.city), ("", ""));
        assert_eq!(stored.ts % 3600, 0);
        assert_ne!(stored.event_id, row.event.id);
        assert_eq!(stored.event_id, anonymous_id(&row.event.id));
        assert_eq!(stored.country, "EE", "country stays for aggregates");
        assert_eq!(stored.link, "l1");
    }

    #[test]
    fn an_off_row_keeps_only_campaign_kind_and_machine_flag() {
        let row = pending(TrackingLevel::Off, SubscriberKey::None);
        let stored = row.to_row("events", 9);
        for value in [
            stored.country,
            stored.link,
            stored.url,
            stored.browser,
            stored.email_client,
            stored.network_class,
        ] {
            assert_eq!(value, "");
        }
        assert_eq!(stored.campaign, row.event.campaign);
    }

    #[test]
    fn the_end_pixel_flag_is_kept_at_every_level() {
        for (level, key) in [
            (TrackingLevel::Identified, SubscriberKey::Identified),
            (TrackingLevel::Anonymous, SubscriberKey::None),
            (TrackingLevel::Off, SubscriberKey::None),
        ] {
            let mut row = pending(level, key);
            assert_eq!(row.to_row("events", 9).end_pixel, 0, "{level:?}: ordinary");
            row.event.end_pixel = true;
            assert_eq!(row.to_row("events", 9).end_pixel, 1, "{level:?}: end pixel");
        }
    }

    #[test]
    fn pseudonyms_are_stable_keyed_and_tenant_scoped() {
        let keyed = Pseudonymizer::from_hex(KEY).expect("valid hex key material");
        let other = Pseudonymizer::from_hex(&"11".repeat(32)).expect("valid hex key material");
        let a = keyed.pseudonym("acme", "s1");
        assert_eq!(a, keyed.pseudonym("acme", "s1"));
        assert_ne!(a, keyed.pseudonym("other", "s1"));
        assert_ne!(a, keyed.pseudonym("acme/s", "1"));
        assert_ne!(a, other.pseudonym("acme", "s1"));
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        let row = pending(TrackingLevel::Pseudonymous, SubscriberKey::Pseudonym(a));
        let stored = row.to_row("events", 9);
        assert_eq!(stored.subscriber_key.len(), 32);
        assert!(!stored.subscriber_key.contains(&row.event.subscriber));
    }

    #[test]
    fn a_bad_key_is_refused() {
        assert!(Pseudonymizer::from_hex("abc").is_none());
        assert!(Pseudonymizer::from_hex(&"zz".repeat(32)).is_none());
    }
}
