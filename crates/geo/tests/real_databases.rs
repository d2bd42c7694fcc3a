//! Facts about the real databases the local stack downloads (`scripts/stack up` puts them at
//! `.stack/geo/country.mmdb` and `.stack/geo/asn.mmdb`; `MAILPULSE_EDGE_GEO_DB` /
//! `MAILPULSE_EDGE_ASN_DB` point elsewhere). Missing files fail the tests: they are not optional.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use mailpulse_config::GeoGranularity;
use mailpulse_event::NetworkClass;
use mailpulse_geo::GeoResolver;

fn database(env_var: &str, file_name: &str) -> PathBuf {
    let path = std::env::var_os(env_var)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../.stack/geo")
                .join(file_name)
        });
    assert!(
        path.is_file(),
        "GeoIP database {} not found: run `scripts/stack up` (or set {env_var})",
        path.display()
    );
    path
}

fn real_resolver(record_prefix: bool) -> GeoResolver {
    let geo = database("MAILPULSE_EDGE_GEO_DB", "country.mmdb");
    let asn = database("MAILPULSE_EDGE_ASN_DB", "asn.mmdb");
    GeoResolver::open(&geo, &asn, GeoGranularity::Country, record_prefix)
        .expect("the stack's databases open")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address parses")
}

#[test]
fn google_dns_is_in_the_us_on_googles_network() {
    let (geo, network) = real_resolver(false).lookup(ip("8.8.8.8"));
    assert_eq!(geo.country.as_deref(), Some("US"));
    assert_eq!(network.asn, Some(15169));
    assert_eq!(network.class, NetworkClass::Google);
    assert_eq!(network.prefix, None);
}

#[test]
fn estonian_address_is_in_estonia() {
    let (geo, network) = real_resolver(true).lookup(ip("81.20.145.1"));
    assert_eq!(geo.country.as_deref(), Some("EE"));
    assert_eq!(network.prefix.as_deref(), Some("81.20.145.0/24"));
}

#[test]
fn documentation_address_has_no_record() {
    let resolver = real_resolver(false);
    let (geo, network) = resolver.lookup(ip("203.0.113.7"));
    assert_eq!(geo.country, None);
    assert_eq!(network.asn, None);
    assert_eq!(network.class, NetworkClass::Other);
    assert_eq!(resolver.decode_failures(), 0);
}

#[test]
fn apple_address_is_on_apples_network() {
    let (_, network) = real_resolver(false).lookup(ip("17.58.101.10"));
    assert_eq!(network.asn, Some(714));
    assert_eq!(network.class, NetworkClass::Apple);
}

#[test]
fn ipv6_addresses_resolve_too() {
    // Google's 2a00:1450::/32.
    let (geo, network) = real_resolver(true).lookup(ip("2a00:1450:4001:81b::200e"));
    assert!(
        geo.country.is_some(),
        "expected a country for Google's IPv6 range"
    );
    assert_eq!(network.asn, Some(15169));
    assert_eq!(network.prefix.as_deref(), Some("2a00:1450:4001::/48"));
}
