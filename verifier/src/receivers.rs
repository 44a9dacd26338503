//! Which hosts the SPSP proxy may query: public ones only.
//!
//! Anyone can ask the proxy to fetch a payment pointer, and the proxy sends that host a
//! `Receipt-Secret`. Left open, it would let anyone make the verifier call services
//! that only it can reach (its own loopback, the operator's private network, a cloud
//! metadata address) and hand them secrets. So the proxy connects only to global
//! addresses: an IP literal in the URL is checked as it stands, and a host name is
//! checked as it resolves, at connection time, by [`GlobalOnly`], the client's resolver.
//! Checking the addresses actually connected to is what defeats DNS rebinding (a name
//! that resolves to a public address when checked and to 127.0.0.1 when used).
//!
//! `--allow-http-receivers` (local testing) lifts the rule, together with the one
//! against plain http.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The advice every refusal ends with.
const HOW_TO_ALLOW: &str =
    "start the verifier with --allow-http-receivers to query such receivers (local testing)";

/// True for an address of the public internet; false for loopback, private (RFC 1918,
/// IPv6 unique-local), shared (CGNAT), link-local, unspecified, documentation,
/// benchmarking, multicast and reserved addresses. An IPv4 address carried in IPv6
/// (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged as the IPv4 address, since that
/// is what a connection to it reaches.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_global = a == 0 // "this network", 0.0.0.0/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || (a == 100 && b & 0xc0 == 64) // shared address space (CGNAT), 100.64/10
        || ip.is_loopback() // 127/8
        || ip.is_link_local() // 169.254/16
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0/24
        || ip.is_documentation() // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || (a == 198 && b & 0xfe == 18) // benchmarking, 198.18/15
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !not_global
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    // NAT64's well-known prefix (RFC 6052): the gateway connects to the IPv4 address in
    // the last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [hi, lo] = [s[6].to_be_bytes(), s[7].to_be_bytes()];
        return is_global_v4(Ipv4Addr::new(hi[0], hi[1], lo[0], lo[1]));
    }
    // Only 2000::/3 holds global unicast addresses; everything else (loopback,
    // unspecified, unique-local fc00::/7, link-local fe80::/10, multicast, IPv4-compatible,
    // discard-only) is outside it.
    let global_unicast = s[0] & 0xe000 == 0x2000;
    // IETF protocol assignments (Teredo among them), 2001::/23, and documentation,
    // 2001:db8::/32.
    let ietf = s[0] == 0x2001 && (s[1] < 0x200 || s[1] == 0xdb8);
    let not_global = ietf
        || s[0] == 0x2002 // 6to4, 2002::/16: it reaches the IPv4 address inside
        || (s[0] == 0x3fff && s[1] < 0x1000); // documentation, 3fff::/20
    global_unicast && !not_global
}

/// Checks the host of `url` when it is an IP literal (those are connected to without
/// resolving, so [`GlobalOnly`] never sees them). Names are checked as they resolve.
pub fn check_literal_host(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("the receiver URL {url:?} is invalid: {e}"))?;
    let Some(host) = parsed.host_str() else {
        return Err(format!("the receiver URL {url:?} has no host"));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) if !is_global(ip) => Err(format!(
            "the SPSP receiver {host} is not a public address (loopback, private, link-local \
             or otherwise reserved), and the proxy queries only public hosts; {HOW_TO_ALLOW}"
        )),
        _ => Ok(()),
    }
}

/// A host name that resolves to no public address (the resolver's refusal).
#[derive(Debug, thiserror::Error)]
#[error(
    "the SPSP receiver {host} resolves to {}, not a public address (loopback, private, \
     link-local or otherwise reserved), and the proxy queries only public hosts; {HOW_TO_ALLOW}",
    list(.addrs)
)]
pub struct NotGlobal {
    /// The name asked for.
    pub host: String,
    /// What it resolved to.
    pub addrs: Vec<IpAddr>,
}

fn list(addrs: &[IpAddr]) -> String {
    if addrs.is_empty() {
        return "no address".into();
    }
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SPSP proxy's resolver: the system's (getaddrinfo, through tokio), with every
/// address that is not global dropped; a name left with none fails with [`NotGlobal`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalOnly;

impl reqwest::dns::Resolve for GlobalOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (global, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                resolved.into_iter().partition(|a| is_global(a.ip()));
            if global.is_empty() {
                let addrs = refused.iter().map(SocketAddr::ip).collect();
                return Err(Box::new(NotGlobal { host, addrs }) as _);
            }
            Ok(Box::new(global.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The refusal of [`GlobalOnly`] inside a failed request, if that is why it failed.
pub fn refusal(e: &reqwest::Error) -> Option<&NotGlobal> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<NotGlobal>() {
            return Some(refused);
        }
        cause = c.source();
    }
    None
}

/// The SPSP proxy's HTTP client. It follows no redirect: a receiver would otherwise
/// hand its Receipt-Secret to whatever host it names. Unless `any_host` (local
/// testing), it connects to public addresses only ([`GlobalOnly`]) and directly,
/// ignoring any system proxy, whose own address the resolver would be judging instead
/// of the receiver's.
pub fn proxy_client(any_host: bool) -> Result<reqwest::Client, reqwest::Error> {
    crate::http_client(|| {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if any_host {
            builder
        } else {
            builder.no_proxy().dns_resolver(GlobalOnly)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_global() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip} is not global");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2001:4860:4860::8888",
            "2606:4700::1111",
        ] {
            assert!(is_global(ip.parse().unwrap()), "{ip} is global");
        }
    }

    #[test]
    fn literal_hosts_that_are_not_public_are_refused_naming_the_flag() {
        for url in [
            "https://127.0.0.1/pay",
            "https://127.0.0.1:8443/pay",
            "https://[::1]:8443/pay",
            "https://[fd00::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            // The URL parser reads other spellings of an IPv4 address as the address.
            "https://0x7f.1/pay",
            "https://2130706433/pay",
        ] {
            let err = check_literal_host(url).unwrap_err();
            assert!(err.contains("--allow-http-receivers"), "{url}: {err}");
        }
        for url in [
            "https://wallet.example/alice",
            "https://8.8.8.8/pay",
            "https://[2606:4700::1111]/",
        ] {
            assert_eq!(check_literal_host(url), Ok(()), "{url}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_refused() {
        use reqwest::dns::Resolve as _;
        let Err(e) = GlobalOnly.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost resolved to a public address");
        };
        let refused = e.downcast_ref::<NotGlobal>().expect("a NotGlobal refusal");
        assert!(refused.addrs.iter().all(|a| a.is_loopback()), "{refused}");
        assert!(refused.to_string().contains("--allow-http-receivers"));
    }

    #[tokio::test]
    async fn a_request_refused_by_the_resolver_says_why() {
        let client = proxy_client(false).unwrap();
        let e = client
            .get("https://localhost:9/pay")
            .send()
            .await
            .unwrap_err();
        let refused = refusal(&e).expect("the resolver's refusal is found in the error");
        assert_eq!(refused.host, "localhost");
    }
}
