//! Builds events for the enrichment tests.

use mailpulse_event::{Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION};

/// When the test campaign's tokens were issued, seconds since the epoch.
pub const ISSUED_AT: u64 = 1_760_000_000;

/// An event `secs_after_issue` seconds after the token was issued.
pub fn event(kind: EventKind, ua: &str, network: NetworkClass, secs_after_issue: u64) -> Event {
    Event {
        v: EVENT_SCHEMA_VERSION,
        id: uuid::Uuid::nil(),
        kind,
        ts_ms: (ISSUED_AT + secs_after_issue) * 1000,
        tenant: "acme".into(),
        campaign: "spring".into(),
        subscriber: "sub-1".into(),
        link: (kind == EventKind::Click).then(|| "link-1".into()),
        url: None,
        issued_at: ISSUED_AT,
        visitor: "0123456789abcdef0123456789abcdef".into(),
        geo: Geo::default(),
        network: Network {
            class: network,
            ..Network::default()
        },
        ua: ua.into(),
        head: false,
        dnt: false,
        gpc: false,
        end_pixel: false,
        edge: "edge-test".into(),
    }
}

/// A click on `link` at `ms_after_issue` milliseconds after issue.
pub fn click_at(link: &str, ua: &str, network: NetworkClass, ms_after_issue: u64) -> Event {
    let mut click = event(EventKind::Click, ua, network, 0);
    click.link = Some(link.into());
    click.ts_ms = ISSUED_AT * 1000 + ms_after_issue;
    click
}
