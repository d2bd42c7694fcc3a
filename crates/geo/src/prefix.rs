use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

/// IPv4 addresses are cut to their /24, IPv6 to their /48: a network an ISP assigns to many
/// people, coarse enough not to single out one subscriber.
const IPV4_PREFIX_LEN: u8 = 24;
const IPV6_PREFIX_LEN: u8 = 48;

/// The truncated network of `ip` as text, e.g. `81.20.145.0/24` or `2001:db8:1::/48`.
/// An IPv4-mapped IPv6 address is treated as the IPv4 address it carries.
pub fn network_prefix(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => Ipv4Net::new_assert(v4, IPV4_PREFIX_LEN).trunc().to_string(),
        IpAddr::V6(v6) => Ipv6Net::new_assert(v6, IPV6_PREFIX_LEN).trunc().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix_of(text: &str) -> String {
        network_prefix(text.parse().expect("test address parses"))
    }

    #[test]
    fn ipv4_is_cut_to_slash_24() {
        assert_eq!(prefix_of("81.20.145.1"), "81.20.145.0/24");
        assert_eq!(prefix_of("8.8.8.8"), "8.8.8.0/24");
    }

    #[test]
    fn ipv6_is_cut_to_slash_48() {
        assert_eq!(prefix_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1::/48");
        assert_eq!(prefix_of("2a00:1450:4001:81b::200e"), "2a00:1450:4001::/48");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_cut_as_ipv4() {
        assert_eq!(prefix_of("::ffff:81.20.145.77"), "81.20.145.0/24");
    }
}
