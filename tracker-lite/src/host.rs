//! The unit every per-address limit of the tracker counts: one host.
//!
//! An IPv4 address is one host. An IPv6 host is its /64: a subscriber gets at least a
//! /64 and may use any of its 2^64 addresses at will, so counting addresses one by one
//! would let one machine hold as many "addresses" as it likes. IPv4 addresses that
//! arrive mapped into IPv6 (`::ffff:a.b.c.d`, from a dual-stack socket) are IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One host, as the per-address limits count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address: its /64 network.
    V6(u64),
}

/// The addresses no per-address limit applies to: the tracker's own machine as local
/// swarms, tests and `ilpt demo` reach it, all of whose peers share 127.0.0.1 or ::1.
/// The rest of 127.0.0.0/8 is limited like any host, so that tests can stand for many
/// hosts with 127.0.0.2, 127.0.0.3, …
pub const UNLIMITED: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

impl Host {
    /// The host `ip` belongs to.
    pub fn of(ip: IpAddr) -> Host {
        match ip.to_canonical() {
            IpAddr::V4(a) => Host::V4(a),
            IpAddr::V6(a) => Host::V6((u128::from(a) >> 64) as u64),
        }
    }

    /// The host `ip` belongs to, or `None` if `ip` is one of [`UNLIMITED`].
    pub fn limited(ip: IpAddr) -> Option<Host> {
        if UNLIMITED.contains(&ip.to_canonical()) {
            None
        } else {
            Some(Host::of(ip))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_ipv6_slash_64_is_one_host_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Host::of(ip("2001:db8:1:2::1")),
            Host::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            Host::of(ip("2001:db8:1:2::1")),
            Host::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(Host::of(ip("::ffff:192.0.2.1")), Host::of(ip("192.0.2.1")));
        assert_ne!(Host::of(ip("192.0.2.1")), Host::of(ip("192.0.2.2")));
    }

    #[test]
    fn only_127_0_0_1_and_ipv6_loopback_are_unlimited() {
        assert_eq!(Host::limited(ip("127.0.0.1")), None);
        assert_eq!(Host::limited(ip("::1")), None);
        assert_eq!(Host::limited(ip("::ffff:127.0.0.1")), None);
        assert_eq!(
            Host::limited(ip("127.0.0.2")),
            Some(Host::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        // ::1's /64 holds other addresses, which are not loopback: they are limited.
        assert!(Host::limited(ip("::2")).is_some());
    }
}
