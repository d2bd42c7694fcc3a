//! GeoIP + ASN lookup on the real databases (`scripts/stack up` fetches them to `.stack/geo/`;
//! `MAILPULSE_EDGE_GEO_DB` / `MAILPULSE_EDGE_ASN_DB` point elsewhere).
//!
//! `cargo bench --bench geo_lookup`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailpulse_config::GeoGranularity;
use mailpulse_geo::{classify_network, GeoResolver};

fn database(env_var: &str, file_name: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".stack/geo")
                .join(file_name)
        });
    assert!(
        path.is_file(),
        "GeoIP database {} not found: run `scripts/stack up` (or set {env_var})",
        path.display()
    );
    path
}

/// A reproducible spread of addresses: mostly IPv4 from all over the space, a quarter IPv6
/// under 2000::/4 where the assigned space is.
fn addresses(count: usize) -> Vec<IpAddr> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|n| {
            let bits = next();
            if n % 4 == 3 {
                let high = 0x2000_0000_0000_0000 | (bits & 0x0fff_ffff_ffff_ffff);
                IpAddr::V6(Ipv6Addr::from(
                    (u128::from(high) << 64) | u128::from(next()),
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(bits as u32))
            }
        })
        .collect()
}

fn bench_lookup(c: &mut Criterion) {
    let geo = database("MAILPULSE_EDGE_GEO_DB", "country.mmdb");
    let asn = database("MAILPULSE_EDGE_ASN_DB", "asn.mmdb");
    let ips = addresses(4096);
    let mut group = c.benchmark_group("geo_lookup");
    group.throughput(Throughput::Elements(ips.len() as u64));
    for (name, granularity, prefix) in [
        ("country", GeoGranularity::Country, false),
        ("country_with_prefix", GeoGranularity::Country, true),
        ("asn_only", GeoGranularity::None, false),
    ] {
        let resolver = GeoResolver::open(&geo, &asn, granularity, prefix).expect("databases open");
        group.bench_function(name, |b| {
            b.iter(|| {
                for &ip in &ips {
                    black_box(resolver.lookup(black_box(ip)));
                }
            })
        });
    }
    group.finish();
}

fn bench_classify(c: &mut Criterion) {
    let orgs = [
        (Some(15169), Some("Google LLC")),
        (Some(3249), Some("Telia Eesti AS")),
        (Some(64512), Some("Example Hosting Ltd")),
        (None, None),
    ];
    c.bench_function("classify_network", |b| {
        b.iter(|| {
            for &(asn, org) in &orgs {
                black_box(classify_network(black_box(asn), black_box(org)));
            }
        })
    });
}

criterion_group!(benches, bench_lookup, bench_classify);
criterion_main!(benches);
