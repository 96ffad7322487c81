//! Where a provider may be fetched from: by default only public addresses.
//!
//! A provider URL is chosen by an operator (or an API client with the admin role), and the
//! ingestor fetches it from inside our network. Without a policy, a URL could aim it at our
//! own database (`localhost:5432`), at private services (`10.0.0.1`) or at a cloud metadata
//! service (`169.254.169.254`), which hands out credentials. [`DestinationPolicy`] says which
//! addresses are refused; it is checked when a provider is registered ([`check_url`]), and by
//! the ingestor on every address a name resolves to and on every redirect ([`check_ip`]), so
//! DNS cannot rebind around it.
//!
//! `allow_private` (`ALLOW_PRIVATE_PROVIDERS=true`, for the demo and tests) opens loopback,
//! the private ranges (RFC 1918, shared CGNAT, IPv6 unique-local) and local names such as
//! `localhost`. It never opens link-local (cloud metadata lives there), known metadata
//! addresses, the unspecified address (`0.0.0.0` reaches this machine), multicast, broadcast,
//! documentation, benchmarking or reserved ranges: no provider is ever there.
//!
//! Addresses are judged after the `url` crate normalises them, so every textual form of an
//! IPv4 address (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`) is the address it denotes,
//! and IPv6 forms that embed an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the address they embed.
//!
//! [`check_url`]: DestinationPolicy::check_url
//! [`check_ip`]: DestinationPolicy::check_ip

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which provider destinations are allowed. The default refuses everything but public
/// addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Also allow loopback, private (RFC 1918, CGNAT, unique-local) addresses and local names
    /// (`ALLOW_PRIVATE_PROVIDERS`). Link-local, metadata and other special ranges stay refused.
    pub allow_private: bool,
}

/// A range of addresses that is not public, as an operator would name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressRange {
    /// `127.0.0.0/8`, `::1`: this machine.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, and IPv6 site-local `fec0::/10`.
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT.
    SharedCgnat,
    /// `fc00::/7`: IPv6 unique-local.
    UniqueLocal,
    /// `64:ff9b:1::/48`: a local-use NAT64 prefix.
    LocalNat64,
    /// `169.254.0.0/16`, `fe80::/10`: link-local, where cloud metadata services answer.
    LinkLocal,
    /// A known cloud metadata address outside link-local (`100.100.100.200`, `fd00:ec2::254`).
    Metadata,
    /// `0.0.0.0/8`, `::`: "this host" (connecting to it reaches this machine).
    Unspecified,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `240.0.0.0/4`, `192.0.0.0/24`, `100::/64`, and the deprecated IPv4-compatible IPv6 form.
    Reserved,
}

impl AddressRange {
    /// The range in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address (this machine)",
            Self::Private => "a private network address",
            Self::SharedCgnat => "a shared (carrier-grade NAT) address",
            Self::UniqueLocal => "an IPv6 unique-local (private) address",
            Self::LocalNat64 => "a local-use NAT64 address",
            Self::LinkLocal => "a link-local address (where cloud metadata services answer)",
            Self::Metadata => "a cloud metadata service address",
            Self::Unspecified => "the unspecified address (it reaches this machine)",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
        }
    }

    /// Whether `allow_private` opens this range.
    pub fn allowed_with_private(self) -> bool {
        matches!(
            self,
            Self::Loopback
                | Self::Private
                | Self::SharedCgnat
                | Self::UniqueLocal
                | Self::LocalNat64
        )
    }

    /// The range `ip` belongs to, or `None` for a public address.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Option<Self> {
        let [a, b, c, d] = ip.octets();
        let range = match (a, b, c) {
            (0, _, _) => Self::Unspecified,
            (10, _, _) => Self::Private,
            (100, 100, 100) if d == 200 => Self::Metadata,
            (100, 64..=127, _) => Self::SharedCgnat,
            (127, _, _) => Self::Loopback,
            (169, 254, _) => Self::LinkLocal,
            (172, 16..=31, _) => Self::Private,
            (192, 0, 0) => Self::Reserved,
            (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Self::Documentation,
            (192, 168, _) => Self::Private,
            (198, 18..=19, _) => Self::Benchmarking,
            (224..=239, _, _) => Self::Multicast,
            (255, 255, 255) if d == 255 => Self::Broadcast,
            (240..=255, _, _) => Self::Reserved,
            _ => return None,
        };
        Some(range)
    }

    fn of_v6(ip: Ipv6Addr) -> Option<Self> {
        let segments = ip.segments();
        if ip.is_unspecified() {
            return Some(Self::Unspecified);
        }
        if ip.is_loopback() {
            return Some(Self::Loopback);
        }
        let embedded = |high: u16, low: u16| {
            Ipv4Addr::new(
                (high >> 8) as u8,
                (high & 0xff) as u8,
                (low >> 8) as u8,
                (low & 0xff) as u8,
            )
        };
        // IPv4-mapped `::ffff:a.b.c.d`: the socket connects to the IPv4 address itself.
        if let Some(v4) = ip.to_ipv4_mapped() {
            return Self::of_v4(v4);
        }
        // IPv4-compatible `::a.b.c.d` (deprecated): judged by what it embeds, and refused
        // even then, as nothing legitimate uses it.
        if segments[..6] == [0; 6] {
            return Some(Self::of_v4(embedded(segments[6], segments[7])).unwrap_or(Self::Reserved));
        }
        // NAT64 well-known prefix `64:ff9b::/96`: a translator connects to the IPv4 address.
        if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return Self::of_v4(embedded(segments[6], segments[7]));
        }
        if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1 {
            return Some(Self::LocalNat64);
        }
        // 6to4 `2002:AABB:CCDD::/48` embeds the IPv4 address `AA.BB.CC.DD`.
        if segments[0] == 0x2002 {
            return Self::of_v4(embedded(segments[1], segments[2]));
        }
        if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
            return Some(Self::Metadata);
        }
        let range = match segments[0] {
            0xfe80..=0xfebf => Self::LinkLocal,
            0xfec0..=0xfeff => Self::Private,
            0xfc00..=0xfdff => Self::UniqueLocal,
            0xff00..=0xffff => Self::Multicast,
            0x2001 if segments[1] == 0x0db8 => Self::Documentation,
            0x3fff if segments[1] <= 0x0fff => Self::Documentation,
            0x2001 if segments[1] == 0x0002 && segments[2] == 0 => Self::Benchmarking,
            0x0100 if segments[1..4] == [0, 0, 0] => Self::Reserved,
            _ => return None,
        };
        Some(range)
    }
}

/// Why a provider destination is refused, in words for an operator. It never carries the
/// URL itself (whose userinfo or query may hold a key), only the host or address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedDestination {
    /// The address (given, or resolved from the host name) is not public.
    #[error(
        "refused destination: the provider address {ip} is {}; {}",
        range.describe(),
        remedy(range.allowed_with_private())
    )]
    Address {
        /// The address.
        ip: IpAddr,
        /// What it is.
        range: AddressRange,
    },
    /// The host name always means this machine (`localhost`, `*.localhost`).
    #[error(
        "refused destination: the provider host `{host}` names this machine; {}",
        remedy(true)
    )]
    LocalName {
        /// The host as written in the URL (normalised).
        host: String,
    },
    /// The host name is a known cloud metadata service.
    #[error(
        "refused destination: the provider host `{host}` is a cloud metadata service; {}",
        remedy(false)
    )]
    MetadataName {
        /// The host as written in the URL (normalised).
        host: String,
    },
    /// The URL has no host or is not http(s).
    #[error("refused destination: the provider URL must be http or https with a host")]
    NotHttp,
    /// Every address the host name resolved to was refused (the first one is named).
    #[error("refused destination: `{host}` resolves only to refused addresses ({first})")]
    AllResolvedRefused {
        /// The host name.
        host: String,
        /// Why its first address was refused.
        first: Box<RefusedDestination>,
    },
}

fn remedy(allowed_with_private: bool) -> &'static str {
    if allowed_with_private {
        "provider URLs must point at public addresses (ALLOW_PRIVATE_PROVIDERS=true or \
         --allow-private-providers allows private and loopback ones)"
    } else {
        "provider URLs must point at public addresses (this range is refused even with \
         ALLOW_PRIVATE_PROVIDERS)"
    }
}

impl DestinationPolicy {
    /// Public addresses only: the default.
    pub const PUBLIC_ONLY: Self = Self {
        allow_private: false,
    };

    /// Public, private and loopback addresses (the demo and tests).
    pub const ALLOW_PRIVATE: Self = Self {
        allow_private: true,
    };

    /// Checks a URL before anything connects: its scheme, a literal address in any form the
    /// `url` crate normalises, and host names that always mean this machine or a metadata
    /// service. Other names are checked on what they resolve to ([`Self::check_ip`]).
    pub fn check_url(&self, url: &url::Url) -> Result<(), RefusedDestination> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RefusedDestination::NotHttp);
        }
        match url.host() {
            None => Err(RefusedDestination::NotHttp),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => self.check_name(name),
        }
    }

    /// Checks one address: the literal one of a URL, or one a host name resolved to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RefusedDestination> {
        match AddressRange::of(ip) {
            None => Ok(()),
            Some(range) if self.allow_private && range.allowed_with_private() => Ok(()),
            Some(range) => Err(RefusedDestination::Address { ip, range }),
        }
    }

    /// Checks a host name (not an address) by what it always means.
    fn check_name(&self, name: &str) -> Result<(), RefusedDestination> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err(RefusedDestination::NotHttp);
        }
        if METADATA_NAMES.contains(&name.as_str()) {
            return Err(RefusedDestination::MetadataName { host: name });
        }
        let local = name == "localhost" || name.ends_with(".localhost");
        if local && !self.allow_private {
            return Err(RefusedDestination::LocalName { host: name });
        }
        Ok(())
    }

    /// Keeps the addresses `host` resolved to that this policy allows, or says why none is.
    /// The ingestor's resolver connects only to what this returns.
    pub fn filter_resolved(
        &self,
        host: &str,
        addresses: impl IntoIterator<Item = std::net::SocketAddr>,
    ) -> Result<Vec<std::net::SocketAddr>, RefusedDestination> {
        let mut first_refusal = None;
        let allowed: Vec<_> = addresses
            .into_iter()
            .filter(|addr| match self.check_ip(addr.ip()) {
                Ok(()) => true,
                Err(refused) => {
                    first_refusal.get_or_insert(refused);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (true, Some(first)) => Err(RefusedDestination::AllResolvedRefused {
                host: host.to_owned(),
                first: Box::new(first),
            }),
            _ => Ok(allowed),
        }
    }
}

/// Host names of cloud metadata services (they resolve to link-local addresses, which the
/// resolver refuses too; naming them refuses them at registration already).
const METADATA_NAMES: [&str; 3] = [
    "metadata.google.internal",
    "metadata.goog",
    "instance-data.ec2.internal",
];

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: DestinationPolicy = DestinationPolicy::PUBLIC_ONLY;
    const PRIVATE_OK: DestinationPolicy = DestinationPolicy::ALLOW_PRIVATE;

    fn check(policy: DestinationPolicy, url: &str) -> Result<(), RefusedDestination> {
        policy.check_url(&url::Url::parse(url).unwrap())
    }

    fn range_of(url: &str) -> Option<AddressRange> {
        match check(PUBLIC, url) {
            Err(RefusedDestination::Address { range, .. }) => Some(range),
            Err(other) => panic!("{url}: refused for another reason: {other}"),
            Ok(()) => None,
        }
    }

    #[test]
    fn public_addresses_and_names_are_allowed() {
        for url in [
            "https://provider.example/feed.xml",
            "http://8.8.8.8/feed",
            "http://[2606:4700:4700::1111]/feed",
            "http://[::ffff:8.8.8.8]/feed",
            "http://[64:ff9b::808:808]/feed",
            "https://93.184.215.14:8443/x?y=1",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
        ] {
            assert_eq!(check(PUBLIC, url), Ok(()), "{url}");
        }
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused_by_default() {
        use AddressRange::*;
        for (url, range) in [
            ("http://10.0.0.1/", Private),
            ("http://172.16.0.1/", Private),
            ("http://172.31.255.255/", Private),
            ("http://192.168.1.10/", Private),
            ("http://127.0.0.1/", Loopback),
            ("http://127.255.0.9/", Loopback),
            ("http://169.254.169.254/latest/meta-data/", LinkLocal),
            ("http://169.254.170.2/", LinkLocal),
            ("http://100.64.0.1/", SharedCgnat),
            ("http://100.127.255.254/", SharedCgnat),
            ("http://100.100.100.200/", Metadata),
            ("http://0.0.0.0/", Unspecified),
            ("http://0.1.2.3/", Unspecified),
            ("http://224.0.0.1/", Multicast),
            ("http://239.255.255.250/", Multicast),
            ("http://255.255.255.255/", Broadcast),
            ("http://192.0.2.1/", Documentation),
            ("http://198.51.100.7/", Documentation),
            ("http://203.0.113.9/", Documentation),
            ("http://198.18.0.1/", Benchmarking),
            ("http://198.19.255.1/", Benchmarking),
            ("http://240.0.0.1/", Reserved),
            ("http://192.0.0.170/", Reserved),
        ] {
            assert_eq!(range_of(url), Some(range), "{url}");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused_by_default() {
        use AddressRange::*;
        for (url, range) in [
            ("http://[::1]/", Loopback),
            ("http://[::]/", Unspecified),
            ("http://[fe80::1]/", LinkLocal),
            ("http://[fec0::1]/", Private),
            ("http://[fc00::1]/", UniqueLocal),
            ("http://[fd12:3456::1]/", UniqueLocal),
            ("http://[fd00:ec2::254]/", Metadata),
            ("http://[ff02::1]/", Multicast),
            ("http://[2001:db8::1]/", Documentation),
            ("http://[3fff::1]/", Documentation),
            ("http://[2001:2::1]/", Benchmarking),
            ("http://[100::1]/", Reserved),
            ("http://[64:ff9b:1::a00:1]/", LocalNat64),
        ] {
            assert_eq!(range_of(url), Some(range), "{url}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_the_embedded_address() {
        use AddressRange::*;
        for (url, range) in [
            ("http://[::ffff:169.254.169.254]/", LinkLocal),
            ("http://[::ffff:a9fe:a9fe]/", LinkLocal),
            ("http://[::ffff:127.0.0.1]/", Loopback),
            ("http://[::ffff:10.0.0.1]/", Private),
            ("http://[::127.0.0.1]/", Loopback),
            ("http://[::8.8.8.8]/", Reserved),
            ("http://[64:ff9b::169.254.169.254]/", LinkLocal),
            ("http://[64:ff9b::7f00:1]/", Loopback),
            ("http://[2002:a9fe:a9fe::1]/", LinkLocal),
            ("http://[2002:c0a8:0101::1]/", Private),
        ] {
            assert_eq!(range_of(url), Some(range), "{url}");
        }
    }

    #[test]
    fn every_textual_form_of_an_ipv4_address_is_the_address_it_denotes() {
        for url in [
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.1/",
            "http://0x7f.0.0.1/",
            "http://127.0.0.1./",
            "http://%31%32%37.0.0.1/",
            "http://１２７.0.0.1/",
        ] {
            assert_eq!(range_of(url), Some(AddressRange::Loopback), "{url}");
        }
        assert_eq!(
            range_of("http://0xa9fea9fe/"),
            Some(AddressRange::LinkLocal)
        );
        assert_eq!(
            range_of("http://2852039166/"),
            Some(AddressRange::LinkLocal)
        );
        assert_eq!(range_of("http://0xa.0.0.1/"), Some(AddressRange::Private));
    }

    #[test]
    fn names_of_this_machine_and_of_metadata_services_are_refused() {
        for url in [
            "http://localhost:5432/",
            "http://LOCALHOST/",
            "http://localhost./",
            "http://db.localhost/",
            "http://a.b.localhost:8080/x",
        ] {
            assert!(
                matches!(
                    check(PUBLIC, url),
                    Err(RefusedDestination::LocalName { .. })
                ),
                "{url}"
            );
            assert_eq!(check(PRIVATE_OK, url), Ok(()), "{url} with allow_private");
        }
        for url in [
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://Metadata.Google.Internal./",
        ] {
            assert!(
                matches!(
                    check(PRIVATE_OK, url),
                    Err(RefusedDestination::MetadataName { .. })
                ),
                "{url}"
            );
        }
        assert_eq!(check(PUBLIC, "http://notlocalhost.example/"), Ok(()));
    }

    #[test]
    fn allow_private_opens_private_and_loopback_but_never_metadata_or_special_ranges() {
        for url in [
            "http://127.0.0.1:8080/feed.xml",
            "http://[::1]:8080/",
            "http://10.0.0.1/",
            "http://192.168.0.10/",
            "http://100.64.1.1/",
            "http://[fd12::1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(check(PRIVATE_OK, url), Ok(()), "{url}");
        }
        for url in [
            "http://169.254.169.254/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.100.100.200/",
            "http://[fd00:ec2::254]/",
            "http://0.0.0.0:5432/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.1/",
            "http://198.18.0.1/",
        ] {
            assert!(check(PRIVATE_OK, url).is_err(), "{url} allowed");
        }
    }

    #[test]
    fn refusals_say_why_in_operator_words_without_userinfo_or_query() {
        let err = check(
            PUBLIC,
            "http://admin:hunter2@169.254.169.254/latest?token=s3cret",
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "refused destination: the provider address 169.254.169.254 is a link-local address \
             (where cloud metadata services answer); provider URLs must point at public \
             addresses (this range is refused even with ALLOW_PRIVATE_PROVIDERS)"
        );
        assert!(!text.contains("hunter2") && !text.contains("s3cret"));
        let err = check(PUBLIC, "http://user:pw@10.1.2.3/?key=abc").unwrap_err();
        assert!(
            err.to_string().contains("ALLOW_PRIVATE_PROVIDERS=true"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw@") && !err.to_string().contains("abc"));
    }

    #[test]
    fn only_http_and_https_urls_are_fetched() {
        assert_eq!(
            check(PRIVATE_OK, "ftp://provider.example/feed"),
            Err(RefusedDestination::NotHttp)
        );
        assert_eq!(
            check(PRIVATE_OK, "file:///etc/passwd"),
            Err(RefusedDestination::NotHttp)
        );
    }

    #[test]
    fn resolved_addresses_are_filtered_and_all_refused_is_an_error() {
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let mixed = [
            addr("10.0.0.1:80"),
            addr("93.184.215.14:80"),
            addr("[::1]:80"),
        ];
        assert_eq!(
            PUBLIC.filter_resolved("feed.example", mixed),
            Ok(vec![addr("93.184.215.14:80")])
        );
        let rebound = [addr("169.254.169.254:80"), addr("127.0.0.1:80")];
        let err = PUBLIC
            .filter_resolved("rebind.example", rebound)
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "refused destination: `rebind.example` resolves only to refused addresses"
            ),
            "{err}"
        );
        assert_eq!(
            PRIVATE_OK.filter_resolved("rebind.example", rebound),
            Ok(vec![addr("127.0.0.1:80")])
        );
        assert_eq!(PUBLIC.filter_resolved("nothing.example", []), Ok(vec![]));
    }
}
