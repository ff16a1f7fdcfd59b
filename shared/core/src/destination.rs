//! Where Hookline may send requests. A webhook sender must not become a way into its own network:
//! by default only public addresses are allowed, checked when a subscription is saved (for IP
//! literals and `localhost`) and again on every attempt for each address DNS returns (the sender
//! connects only to an address that passed this check).

use crate::error::ErrorCode;
use crate::error::{Error, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DestinationPolicy {
    /// Allow loopback and private targets (local development only).
    pub allow_private: bool,
    /// Refuse plain `http://` URLs.
    pub require_https: bool,
}

impl DestinationPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

pub fn not_allowed(what: &str) -> Error {
    Error::invalid(
        ErrorCode::DestinationNotAllowed,
        format!("{what} is not a public address; Hookline only delivers to public destinations"),
    )
}

/// Checks the URL's host when it can be judged without DNS: IP literals (in any form the URL
/// parser normalises, such as `2130706433` or `0x7f.1`) and `localhost` names.
pub fn check_url_host(url: &url::Url, policy: &DestinationPolicy) -> Result<()> {
    if policy.allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
            Err(not_allowed(&ip.to_string()))
        }
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
            Err(not_allowed(&ip.to_string()))
        }
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                Err(not_allowed(&d))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// True only for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// Ranges that are never a public destination. An IPv6 address that embeds an IPv4 address is
/// judged by the IPv4 address (see `embedded_v4`).
const BLOCKED: &[&str] = &[
    "0.0.0.0/8",       // "this network", unspecified
    "10.0.0.0/8",      // RFC 1918
    "100.64.0.0/10",   // CGNAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link-local, incl. cloud metadata 169.254.169.254
    "172.16.0.0/12",   // RFC 1918
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // TEST-NET-1
    "192.88.99.0/24",  // 6to4 relay anycast
    "192.168.0.0/16",  // RFC 1918
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // TEST-NET-2
    "203.0.113.0/24",  // TEST-NET-3
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, broadcast
    "::/128",          // unspecified
    "::1/128",         // loopback
    "100::/64",        // discard-only
    "2001::/23",       // IETF protocol assignments
    "2001:db8::/32",   // documentation
    "3fff::/20",       // documentation (RFC 9637)
    "fc00::/7",        // unique-local, incl. fd00:ec2::254
    "fe80::/10",       // link-local
    "fec0::/10",       // site-local (deprecated)
    "ff00::/8",        // multicast
];

fn blocked() -> &'static [IpNet] {
    static NETS: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
        BLOCKED
            .iter()
            .map(|n| n.parse().expect("valid CIDR"))
            .collect()
    });
    &NETS
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !blocked().iter().any(|n| n.contains(&IpAddr::V4(ip)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    // Only the global unicast block 2000::/3 is routable on the internet.
    static GLOBAL: LazyLock<IpNet> = LazyLock::new(|| "2000::/3".parse().expect("valid CIDR"));
    GLOBAL.contains(&IpAddr::V6(ip)) && !blocked().iter().any(|n| n.contains(&IpAddr::V6(ip)))
}

/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96` and the
/// local-use `64:ff9b:1::/48`) and 6to4 (`2002::/16`) addresses carry an IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last32 = Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    let is_mapped_or_compatible =
        s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) && !(s[5] == 0 && s[6] == 0);
    static NAT64: LazyLock<[IpNet; 2]> = LazyLock::new(|| {
        [
            "64:ff9b::/96".parse().expect("valid CIDR"),
            "64:ff9b:1::/48".parse().expect("valid CIDR"),
        ]
    });
    if is_mapped_or_compatible || NAT64.iter().any(|n| n.contains(&IpAddr::V6(ip))) {
        return Some(last32);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(s: &str) -> bool {
        is_public(s.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:db8::1",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn odd_ip_literal_forms_are_normalised_and_refused() {
        let p = DestinationPolicy::default();
        for u in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://localhost./",
            "http://api.localhost/",
        ] {
            let url = url::Url::parse(u).unwrap();
            assert_eq!(
                check_url_host(&url, &p).unwrap_err().code,
                "destination_not_allowed",
                "{u}"
            );
        }
    }

    #[test]
    fn the_local_flag_allows_loopback() {
        let p = DestinationPolicy {
            allow_private: true,
            require_https: false,
        };
        let url = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert!(check_url_host(&url, &p).is_ok());
        assert!(p.allows("127.0.0.1".parse().unwrap()));
    }
}
