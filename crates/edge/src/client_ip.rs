//! Which address a request came from. The socket peer, unless the peer is a proxy we trust,
//! in which case the nearest untrusted hop of `X-Forwarded-For` / `Forwarded`.
//!
//! The result lives only in memory for the request's geo lookup and visitor hash.

use std::net::{IpAddr, SocketAddr};

use hyper::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`) or single addresses.
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        let networks = entries
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("edge.trusted_proxies: `{entry}` is not a CIDR or address")
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request received from `peer` with `headers`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer_ip = canonical(peer.ip());
        if self.networks.is_empty() || !self.trusts(peer_ip) {
            return peer_ip;
        }
        // Walk the chain from the nearest hop outwards; the first address we do not trust is
        // the client (anything further left could have been written by the client itself).
        let hops = forwarded_hops(headers);
        for hop in hops.iter().rev() {
            if !self.trusts(*hop) {
                return *hop;
            }
        }
        hops.first().copied().unwrap_or(peer_ip)
    }
}

/// Hops named by `Forwarded` (RFC 7239) if present, else `X-Forwarded-For`, in header order.
fn forwarded_hops(headers: &HeaderMap) -> Vec<IpAddr> {
    let forwarded: Vec<IpAddr> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for")
                    .then(|| parse_node(value))?
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_node)
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    node.rsplit_once(':')?.0.parse().ok().map(canonical)
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, what a dual-stack socket reports) as plain IPv4, so the
/// same client gets the same geo and visitor hash however it connected.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 40000)
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).expect("parse");
        let spoofed = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            proxies.client_ip(peer("203.0.113.9"), &spoofed),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(peer("10.1.1.1"), &spoofed),
            "10.1.1.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn trusted_proxy_yields_the_nearest_untrusted_hop() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "192.0.2.1".into()]).expect("parse");
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 192.0.2.1")]);
        assert_eq!(
            proxies.client_ip(peer("10.0.0.5"), &chain),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=\"[2001:db8::7]:4711\";proto=https, for=10.2.3.4",
        )]);
        assert_eq!(
            proxies.client_ip(peer("10.0.0.5"), &forwarded),
            "2001:db8::7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn mapped_ipv6_peers_are_treated_as_ipv4() {
        let proxies = TrustedProxies::default();
        assert_eq!(
            proxies.client_ip(peer("::ffff:81.20.145.1"), &HeaderMap::new()),
            "81.20.145.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn bad_proxy_entries_are_refused() {
        assert!(TrustedProxies::parse(&["not-a-cidr".into()]).is_err());
    }
}
