//! Which autonomous systems are mail providers' proxies and which are hosting networks.
//!
//! Opens fetched by Apple Mail Privacy Protection come from Apple's networks, Gmail's and Yahoo's
//! image proxies from Google's and Yahoo's; link scanners run in Microsoft's and other clouds.
//! The class is a *signal* for the enrichment rules, never a verdict on its own.
//!
//! Matching order:
//! 1. the autonomous system number, against [`KNOWN_NETWORKS`] (checked in the table's
//!    organisation names of the `@ip-location-db/asn` data, 2026);
//! 2. the organisation name, against [`ORGANISATION_PREFIXES`]: a company's exact legal name
//!    only, because a keyword would also catch "Apple Bank for Savings", "Pineapple Hospitality"
//!    or "Google Fiber" (a home ISP whose subscribers are people);
//! 3. the organisation name containing one of [`HOSTING_KEYWORDS`], for the long tail of
//!    hosting companies;
//! 4. otherwise [`NetworkClass::Other`].

use mailpulse_event::NetworkClass;

/// Known autonomous systems, sorted by number (a test checks) for binary search.
pub const KNOWN_NETWORKS: &[(u32, NetworkClass)] = &{
    use NetworkClass::{Apple, Google, Hosting, Microsoft, Yahoo};
    [
        (714, Apple),       // Apple Inc.
        (792, Hosting),     // Oracle Corporation
        (793, Hosting),     // Oracle Corporation
        (3598, Microsoft),  // Microsoft Corporation
        (6185, Apple),      // Apple Inc.
        (7224, Hosting),    // Amazon.com, Inc.
        (7233, Yahoo),      // Yahoo
        (8068, Microsoft),  // Microsoft Corporation
        (8069, Microsoft),  // Microsoft Corporation
        (8070, Microsoft),  // Microsoft Corporation
        (8071, Microsoft),  // Microsoft Corporation
        (8075, Microsoft),  // Microsoft Corporation (Azure, Office 365, Defender)
        (8560, Hosting),    // IONOS SE
        (8987, Hosting),    // Amazon Data Services Ireland
        (9009, Hosting),    // M247
        (10229, Yahoo),     // Yahoo Inc.
        (10310, Yahoo),     // Oath Holdings (Yahoo)
        (12076, Microsoft), // Microsoft Corporation
        (12876, Hosting),   // Scaleway
        (13335, Hosting),   // Cloudflare
        (14061, Hosting),   // DigitalOcean
        (14618, Hosting),   // Amazon.com, Inc. (AWS)
        (14778, Yahoo),     // Oath Holdings (Yahoo)
        (15169, Google),    // Google LLC (incl. GoogleImageProxy)
        (16265, Hosting),   // LeaseWeb
        (16276, Hosting),   // OVH
        (16509, Hosting),   // Amazon.com, Inc. (AWS)
        (16550, Google),    // Google LLC
        (16625, Hosting),   // Akamai
        (19527, Google),    // Google LLC
        (19994, Hosting),   // Rackspace
        (20473, Hosting),   // The Constant Company (Vultr)
        (20940, Hosting),   // Akamai
        (21859, Hosting),   // Zenlayer
        (24429, Hosting),   // Alibaba (Taobao)
        (24940, Hosting),   // Hetzner Online
        (26101, Yahoo),     // Oath Holdings (Yahoo)
        (26496, Hosting),   // GoDaddy
        (31898, Hosting),   // Oracle Cloud
        (34010, Yahoo),     // Yahoo! UK Services
        (35540, Hosting),   // OVH
        (36040, Google),    // Google LLC (YouTube)
        (36351, Hosting),   // IBM Cloud (SoftLayer)
        (36384, Google),    // Google LLC
        (36492, Google),    // Google LLC
        (36646, Yahoo),     // Oath Holdings (Yahoo)
        (36647, Yahoo),     // Oath Holdings (Yahoo)
        (36752, Yahoo),     // Oath Holdings (Yahoo)
        (37963, Hosting),   // Alibaba Cloud (Hangzhou)
        (40676, Hosting),   // Psychz Networks
        (41264, Google),    // Google Switzerland
        (43428, Yahoo),     // Yahoo! UK Services
        (43515, Google),    // Google Ireland
        (45090, Hosting),   // Tencent Cloud
        (45102, Hosting),   // Alibaba Cloud (US)
        (45566, Google),    // Google Singapore
        (47583, Hosting),   // Hostinger
        (48337, Hosting),   // Linode
        (51167, Hosting),   // Contabo
        (54113, Hosting),   // Fastly
        (56173, Yahoo),     // Yahoo Inc.
        (58862, Microsoft), // Microsoft (China)
        (59067, Microsoft), // Microsoft Mobile Alliance
        (60068, Hosting),   // Datacamp (CDN77)
        (60781, Hosting),   // LeaseWeb
        (62785, Hosting),   // Amazon.com Services
        (63949, Hosting),   // Akamai Connected Cloud (Linode)
        (132203, Hosting),  // Tencent Cloud
        (132591, Hosting),  // Tencent global network
        (136907, Hosting),  // Huawei Cloud
        (139070, Google),   // Google Asia Pacific
        (139190, Google),   // Google Asia Pacific
        (209242, Hosting),  // Cloudflare London
        (213230, Hosting),  // Hetzner Online
        (394089, Google),   // Google LLC
        (395973, Google),   // Google LLC
        (396356, Hosting),  // Latitude.sh
        (396982, Google),   // Google LLC (Google Cloud)
    ]
};

/// Exact legal-name prefixes (ASCII, matched case-insensitively) of the mail providers' networks
/// missing from [`KNOWN_NETWORKS`].
pub const ORGANISATION_PREFIXES: &[(&str, NetworkClass)] = &[
    ("apple inc", NetworkClass::Apple),
    ("google llc", NetworkClass::Google),
    ("google, llc", NetworkClass::Google),
    ("google ireland", NetworkClass::Google),
    ("google switzerland", NetworkClass::Google),
    ("google singapore", NetworkClass::Google),
    ("google asia pacific", NetworkClass::Google),
    ("google cloud", NetworkClass::Google),
    ("microsoft corporation", NetworkClass::Microsoft),
    ("microsoft limited", NetworkClass::Microsoft),
    ("microsoft singapore", NetworkClass::Microsoft),
    ("microsoft deutschland", NetworkClass::Microsoft),
    ("oath holdings", NetworkClass::Yahoo),
    ("yahoo", NetworkClass::Yahoo),
];

/// Words (ASCII, matched case-insensitively anywhere in the organisation name) that mark a
/// hosting or cloud company.
pub const HOSTING_KEYWORDS: &[&str] = &[
    "hosting",
    "cloud",
    "datacenter",
    "data center",
    "server",
    "vps",
    "amazon",
    "digitalocean",
    "hetzner",
    "linode",
    "leaseweb",
];

/// The coarse class of an autonomous system, from its number and organisation name.
pub fn classify_network(asn: Option<u32>, org: Option<&str>) -> NetworkClass {
    if let Some(asn) = asn {
        if let Ok(found) = KNOWN_NETWORKS.binary_search_by_key(&asn, |&(number, _)| number) {
            return KNOWN_NETWORKS[found].1;
        }
    }
    let Some(org) = org else {
        return NetworkClass::Other;
    };
    let org = org.trim_start().as_bytes();
    for &(prefix, class) in ORGANISATION_PREFIXES {
        if org.len() >= prefix.len() && org[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        {
            return class;
        }
    }
    if HOSTING_KEYWORDS
        .iter()
        .any(|keyword| contains_ignore_ascii_case(org, keyword.as_bytes()))
    {
        return NetworkClass::Hosting;
    }
    NetworkClass::Other
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use NetworkClass::*;

    #[test]
    fn table_is_sorted_without_duplicates_for_binary_search() {
        assert!(KNOWN_NETWORKS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn mail_providers_are_known_by_number() {
        assert_eq!(classify_network(Some(714), None), Apple);
        assert_eq!(classify_network(Some(6185), None), Apple);
        assert_eq!(classify_network(Some(15169), None), Google);
        assert_eq!(classify_network(Some(396982), None), Google);
        assert_eq!(classify_network(Some(8075), None), Microsoft);
        assert_eq!(classify_network(Some(10310), None), Yahoo);
        assert_eq!(classify_network(Some(34010), None), Yahoo);
    }

    #[test]
    fn clouds_are_hosting_by_number() {
        for asn in [
            16509, 14618, 14061, 16276, 24940, 63949, 13335, 31898, 45102, 132203,
        ] {
            assert_eq!(classify_network(Some(asn), None), Hosting, "AS{asn}");
        }
    }

    #[test]
    fn unknown_numbers_fall_back_to_the_organisation() {
        assert_eq!(classify_network(Some(1), Some("Apple Inc.")), Apple);
        assert_eq!(classify_network(Some(1), Some("GOOGLE LLC")), Google);
        assert_eq!(classify_network(Some(1), Some("Oath Holdings Inc.")), Yahoo);
        assert_eq!(
            classify_network(None, Some("Microsoft Corporation")),
            Microsoft
        );
    }

    #[test]
    fn look_alike_names_are_not_mail_providers() {
        assert_eq!(
            classify_network(Some(396918), Some("Apple Bank for Savings")),
            Other
        );
        assert_eq!(
            classify_network(Some(16591), Some("Google Fiber Inc.")),
            Other
        );
        assert_eq!(
            classify_network(Some(54506), Some("Pineapple Hospitality Company")),
            Other
        );
    }

    #[test]
    fn hosting_keywords_catch_the_long_tail() {
        assert_eq!(
            classify_network(Some(1), Some("Example Hosting Ltd")),
            Hosting
        );
        assert_eq!(
            classify_network(Some(1), Some("ACME CLOUD Services")),
            Hosting
        );
        assert_eq!(
            classify_network(Some(1), Some("Big Datacenter GmbH")),
            Hosting
        );
        assert_eq!(classify_network(Some(1), Some("Telia Eesti AS")), Other);
    }

    #[test]
    fn nothing_known_is_other() {
        assert_eq!(classify_network(None, None), Other);
        assert_eq!(classify_network(Some(3249), None), Other);
    }
}
