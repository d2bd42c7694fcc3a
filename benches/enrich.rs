//! Enrichment of a realistic mix of events: opens dominated by Apple's proxy, Gmail's proxy and
//! a few clients, clicks from browsers plus some scanners.
//!
//! `cargo bench --bench enrich`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailpulse_enrich::{ActivityTracker, Enricher, MachineRules};
use mailpulse_event::{Event, EventKind, Geo, Network, NetworkClass, EVENT_SCHEMA_VERSION};

/// (agent, network, weight): roughly the shares of a consumer campaign's opens and clicks.
const AGENT_MIX: &[(&str, NetworkClass, usize)] = &[
    ("Mozilla/5.0", NetworkClass::Apple, 40),
    (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        NetworkClass::Google,
        25,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
         like Gecko) Mobile/15E148",
        NetworkClass::Other,
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        NetworkClass::Other,
        4,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.0.0 Safari/537.36",
        NetworkClass::Other,
        8,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.6367.82 Mobile Safari/537.36",
        NetworkClass::Other,
        5,
    ),
    (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.4266; Pro)",
        NetworkClass::Other,
        4,
    ),
    (
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
        NetworkClass::Yahoo,
        3,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        NetworkClass::Microsoft,
        2,
    ),
    ("Barracuda Sentinel (EE)", NetworkClass::Hosting, 1),
];

const ISSUED_AT: u64 = 1_760_000_000;

fn events(count: usize) -> Vec<Event> {
    let weighted: Vec<_> = AGENT_MIX
        .iter()
        .flat_map(|&(ua, network, weight)| std::iter::repeat_n((ua, network), weight))
        .collect();
    (0..count)
        .map(|n| {
            let (ua, network) = weighted[(n * 7919) % weighted.len()];
            let kind = if n % 5 == 4 {
                EventKind::Click
            } else {
                EventKind::Open
            };
            Event {
                v: EVENT_SCHEMA_VERSION,
                id: uuid::Uuid::nil(),
                kind,
                ts_ms: (ISSUED_AT + 60 + n as u64) * 1000,
                tenant: "acme".into(),
                campaign: "spring".into(),
                subscriber: format!("subscriber-{}", n % 2000),
                link: (kind == EventKind::Click).then(|| format!("link-{}", n % 6)),
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
                edge: "edge-bench".into(),
            }
        })
        .collect()
}

fn bench_enrich(c: &mut Criterion) {
    let events = events(4096);
    let mut group = c.benchmark_group("enrich");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, cache) in [("cached", 4096), ("uncached", 0)] {
        let enricher = Enricher::with_rules(MachineRules::default(), cache);
        group.bench_function(name, |b| {
            b.iter(|| {
                for event in &events {
                    black_box(enricher.enrich(black_box(event), None));
                }
            })
        });
    }
    let enricher = Enricher::new();
    group.bench_function("cached_with_tracker", |b| {
        let mut tracker = ActivityTracker::new(100_000);
        b.iter(|| {
            for event in &events {
                let context = tracker.observe(event, true);
                black_box(enricher.enrich(black_box(event), Some(&context)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_enrich);
criterion_main!(benches);
