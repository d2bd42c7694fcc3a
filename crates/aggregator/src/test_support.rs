//! Shared fixtures for unit tests.

use mailpulse_event::{Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION};
use uuid::Uuid;

/// A valid click with every optional field set.
pub fn sample_event() -> Event {
    Event {
        v: EVENT_SCHEMA_VERSION,
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        kind: EventKind::Click,
        ts_ms: 1_750_000_123_456,
        tenant: "acme".into(),
        campaign: "spring".into(),
        subscriber: "sub-1".into(),
        link: Some("l1".into()),
        url: Some("https://example.com/a".into()),
        issued_at: 1_749_990_000,
        visitor: "0123456789abcdef0123456789abcdef".into(),
        geo: Geo {
            country: Some("EE".into()),
            region: Some("37".into()),
            city: Some("Tallinn".into()),
        },
        network: Network {
            asn: Some(3249),
            org: Some("Telia".into()),
            class: NetworkClass::Other,
            prefix: None,
        },
        ua: "Mozilla/5.0".into(),
        head: false,
        dnt: false,
        gpc: false,
        end_pixel: false,
        edge: "edge-1".into(),
    }
}
