//! Both location layouts, granularity, prefixes and reloading, on the small synthetic fixtures
//! in `tests/fixtures/` (made by `make-fixtures.pl`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use mailpulse_config::GeoGranularity;
use mailpulse_event::{Geo, NetworkClass};
use mailpulse_geo::{GeoError, GeoResolver};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address parses")
}

fn resolver(geo_db: &str, granularity: GeoGranularity, record_prefix: bool) -> GeoResolver {
    GeoResolver::open(
        &fixture(geo_db),
        &fixture("asn.mmdb"),
        granularity,
        record_prefix,
    )
    .expect("fixtures open")
}

fn geo(country: Option<&str>, region: Option<&str>, city: Option<&str>) -> Geo {
    Geo {
        country: country.map(str::to_owned),
        region: region.map(str::to_owned),
        city: city.map(str::to_owned),
    }
}

#[test]
fn geoip2_nested_layout_reads_country_first_subdivision_and_english_city() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::City, false);
    assert_eq!(
        resolver.lookup(ip("192.0.2.44")).0,
        geo(Some("GB"), Some("ENG"), Some("London"))
    );
    assert_eq!(
        resolver.lookup(ip("2001:db8:100:7::1")).0,
        geo(Some("DE"), Some("BE"), Some("Berlin"))
    );
}

#[test]
fn geoip2_record_without_country_falls_back_to_registered_country() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::City, false);
    assert_eq!(
        resolver.lookup(ip("198.51.100.9")).0,
        geo(Some("US"), None, None)
    );
}

#[test]
fn dbip_flat_layout_reads_country_state_and_city() {
    let resolver = resolver("dbip-city.mmdb", GeoGranularity::City, false);
    assert_eq!(
        resolver.lookup(ip("192.0.2.44")).0,
        geo(Some("EE"), Some("Harju"), Some("Tallinn"))
    );
    assert_eq!(
        resolver.lookup(ip("198.51.100.9")).0,
        geo(Some("FR"), None, None)
    );
}

#[test]
fn granularity_limits_what_is_recorded() {
    let cases = [
        (GeoGranularity::None, geo(None, None, None)),
        (GeoGranularity::Country, geo(Some("GB"), None, None)),
        (GeoGranularity::Region, geo(Some("GB"), Some("ENG"), None)),
        (
            GeoGranularity::City,
            geo(Some("GB"), Some("ENG"), Some("London")),
        ),
    ];
    for (granularity, expected) in cases {
        let resolver = resolver("geoip2-city.mmdb", granularity, false);
        assert_eq!(
            resolver.lookup(ip("192.0.2.44")).0,
            expected,
            "{granularity:?}"
        );
    }
}

#[test]
fn granularity_none_still_resolves_the_network() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::None, false);
    let (_, network) = resolver.lookup(ip("192.0.2.44"));
    assert_eq!(network.asn, Some(714));
    assert_eq!(network.class, NetworkClass::Apple);
}

#[test]
fn asn_record_gives_number_organisation_and_class() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::Country, false);
    let (_, network) = resolver.lookup(ip("2001:db8:100::5"));
    assert_eq!(network.asn, Some(64500));
    assert_eq!(network.org.as_deref(), Some("Example Hosting Ltd"));
    assert_eq!(network.class, NetworkClass::Hosting);
}

#[test]
fn ipv4_mapped_ipv6_client_is_looked_up_as_ipv4() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::Country, true);
    let (geo, network) = resolver.lookup(ip("::ffff:192.0.2.44"));
    assert_eq!(geo.country.as_deref(), Some("GB"));
    assert_eq!(network.prefix.as_deref(), Some("192.0.2.0/24"));
}

#[test]
fn prefix_is_recorded_only_when_enabled() {
    let without = resolver("geoip2-city.mmdb", GeoGranularity::Country, false);
    assert_eq!(without.lookup(ip("192.0.2.44")).1.prefix, None);
    let with = resolver("geoip2-city.mmdb", GeoGranularity::Country, true);
    assert_eq!(
        with.lookup(ip("192.0.2.44")).1.prefix.as_deref(),
        Some("192.0.2.0/24")
    );
    assert_eq!(
        with.lookup(ip("2001:db8:100:7::1")).1.prefix.as_deref(),
        Some("2001:db8:100::/48")
    );
}

#[test]
fn address_without_record_gives_empty_fields() {
    let resolver = resolver("geoip2-city.mmdb", GeoGranularity::City, false);
    let (geo, network) = resolver.lookup(ip("203.0.113.7"));
    assert_eq!(geo, Geo::default());
    assert_eq!(network.asn, None);
    assert_eq!(network.org, None);
    assert_eq!(network.class, NetworkClass::Other);
    assert_eq!(resolver.decode_failures(), 0);
}

#[test]
fn open_reports_a_missing_file() {
    let missing = fixture("no-such.mmdb");
    let error = GeoResolver::open(
        &missing,
        &fixture("asn.mmdb"),
        GeoGranularity::Country,
        false,
    )
    .expect_err("a missing database must not open");
    assert!(matches!(error, GeoError::Unreadable { ref path, .. } if *path == missing));
}

#[test]
fn open_reports_a_file_that_is_not_mmdb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.mmdb");
    std::fs::write(&garbage, b"not a database").expect("write garbage");
    let error = GeoResolver::open(
        &garbage,
        &fixture("asn.mmdb"),
        GeoGranularity::Country,
        false,
    )
    .expect_err("garbage must not open");
    assert!(matches!(error, GeoError::Invalid { .. }));
}

/// Copies the fixtures into a temp dir so the test can replace them.
struct Workdir {
    _dir: tempfile::TempDir,
    geo: PathBuf,
    asn: PathBuf,
}

impl Workdir {
    fn new() -> Workdir {
        let dir = tempfile::tempdir().expect("temp dir");
        let geo = dir.path().join("country.mmdb");
        let asn = dir.path().join("asn.mmdb");
        Workdir {
            _dir: dir,
            geo,
            asn,
        }
    }

    /// Replaces a file the way updaters should: write aside, then rename.
    fn install(&self, target: &Path, content: &[u8]) {
        let aside = target.with_extension("tmp");
        std::fs::write(&aside, content).expect("write new database");
        std::fs::rename(&aside, target).expect("rename new database into place");
    }
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture readable")
}

#[test]
fn reload_swaps_in_a_changed_file_and_ignores_an_unchanged_one() {
    let work = Workdir::new();
    work.install(&work.geo, &read_fixture("geoip2-city.mmdb"));
    work.install(&work.asn, &read_fixture("asn.mmdb"));
    let resolver =
        GeoResolver::open(&work.geo, &work.asn, GeoGranularity::Country, false).expect("opens");
    assert_eq!(
        resolver.lookup(ip("192.0.2.1")).0.country.as_deref(),
        Some("GB")
    );
    assert!(!resolver
        .reload_if_changed()
        .expect("unchanged files reload fine"));

    work.install(&work.geo, &read_fixture("dbip-city.mmdb"));
    assert!(resolver.reload_if_changed().expect("new file loads"));
    assert_eq!(
        resolver.lookup(ip("192.0.2.1")).0.country.as_deref(),
        Some("EE")
    );
    // The untouched ASN database is still there.
    assert_eq!(resolver.lookup(ip("192.0.2.1")).1.asn, Some(714));
}

#[test]
fn failed_reload_keeps_the_old_database_and_reports_why() {
    let work = Workdir::new();
    work.install(&work.geo, &read_fixture("geoip2-city.mmdb"));
    work.install(&work.asn, &read_fixture("asn.mmdb"));
    let resolver =
        GeoResolver::open(&work.geo, &work.asn, GeoGranularity::Country, false).expect("opens");

    work.install(&work.geo, b"truncated download");
    let error = resolver
        .reload_if_changed()
        .expect_err("a broken file must be reported");
    assert!(matches!(error, GeoError::Invalid { .. }));
    assert!(resolver.is_loaded());
    assert_eq!(
        resolver.lookup(ip("192.0.2.1")).0.country.as_deref(),
        Some("GB")
    );

    std::fs::remove_file(&work.geo).expect("remove database");
    assert!(matches!(
        resolver.reload_if_changed(),
        Err(GeoError::Unreadable { .. })
    ));
    assert_eq!(
        resolver.lookup(ip("192.0.2.1")).0.country.as_deref(),
        Some("GB")
    );
}

#[test]
fn unloaded_resolver_becomes_ready_when_the_files_appear() {
    let work = Workdir::new();
    let resolver = GeoResolver::unloaded(&work.geo, &work.asn, GeoGranularity::Country, true);
    assert!(!resolver.is_loaded());
    let (geo, network) = resolver.lookup(ip("192.0.2.1"));
    assert_eq!(geo, Geo::default());
    assert_eq!(network.asn, None);
    assert_eq!(network.prefix.as_deref(), Some("192.0.2.0/24"));
    assert!(resolver.reload_if_changed().is_err());

    work.install(&work.geo, &read_fixture("geoip2-city.mmdb"));
    assert!(
        resolver.reload_if_changed().is_err(),
        "the ASN file is still missing"
    );
    assert!(!resolver.is_loaded());

    work.install(&work.asn, &read_fixture("asn.mmdb"));
    assert!(resolver.reload_if_changed().expect("both files load"));
    assert!(resolver.is_loaded());
    assert_eq!(
        resolver.lookup(ip("192.0.2.1")).0.country.as_deref(),
        Some("GB")
    );
}
