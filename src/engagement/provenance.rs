//! Where an event came from: its **source** and its **traffic class**.
//!
//! Governance acts on engagement, so every stored event says who could have sent it.
//! An event vouched for by an identity token or a server key comes from that person
//! (`person:<keyed hash>`); any other event comes from the client's network
//! (`net:<keyed hash>` of its IPv4 /24 or IPv6 /48 prefix — never the address itself).
//! The hashes are keyed with a key derived from the signing secret, so every node of a
//! deployment agrees on them and nobody without the secret can map one back to a
//! network by hashing candidates.
//!
//! The client address is the TCP peer, unless the peer is one of `trusted_proxies` (a
//! CDN or load balancer in front): then it is the right-most address of the one
//! forwarding header the proxies write (`forwarded_header`: `X-Forwarded-For`, every
//! line of it in order, or `Forwarded: for=`) that is not itself a trusted proxy. Left
//! of that, anyone could have written anything, so it is never read; nor is the other
//! header, which the proxy passes through untouched.
//!
//! The traffic class comes from the User-Agent, matched against `isbot`'s maintained
//! list of bot patterns: `bot` events are stored and reported, never judged.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use ipnet::IpNet;
use serde::Serialize;
use sha2::Sha256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficClass {
    /// A User-Agent no bot pattern matches.
    Human,
    /// A User-Agent a bot pattern matches: stored, reported, never judged.
    Bot,
    /// No User-Agent at all (server-to-server calls, some apps).
    Unknown,
}

impl TrafficClass {
    pub const ALL: [TrafficClass; 3] = [
        TrafficClass::Human,
        TrafficClass::Bot,
        TrafficClass::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrafficClass::Human => "human",
            TrafficClass::Bot => "bot",
            TrafficClass::Unknown => "unknown",
        }
    }

    pub fn parse(value: &str) -> Option<TrafficClass> {
        TrafficClass::ALL.into_iter().find(|c| c.as_str() == value)
    }

    /// Classifies a User-Agent header.
    pub fn of_user_agent(user_agent: Option<&str>) -> TrafficClass {
        // The pattern list compiles into one regular expression: once per process.
        static BOTS: LazyLock<isbot::Bots> = LazyLock::new(isbot::Bots::default);
        match user_agent.map(str::trim) {
            None | Some("") => TrafficClass::Unknown,
            Some(ua) if BOTS.is_bot(ua) => TrafficClass::Bot,
            Some(_) => TrafficClass::Human,
        }
    }

    /// Whether events of this class enter the rollups governance judges.
    pub fn is_judged(self) -> bool {
        self != TrafficClass::Bot
    }
}

/// Which header the trusted proxies write the client address into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...` (all lines, in order).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    #[serde(rename = "forwarded")]
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// Proxies whose forwarding headers are believed (`trusted_proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the
    /// right-most forwarded address that is not a trusted proxy. `forwarded` is the
    /// configured header's value (all its lines joined by commas, in order). An
    /// unreadable entry ends the walk at the last address we could trust (its
    /// sender's).
    pub fn client_address(
        &self,
        peer: IpAddr,
        header: ForwardedHeader,
        forwarded: Option<&str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = match (header, forwarded) {
            (_, None) => return peer,
            (ForwardedHeader::XForwardedFor, Some(list)) => {
                list.split(',').map(str::trim).collect()
            }
            (ForwardedHeader::Forwarded, Some(value)) => forwarded_for_values(value),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = parse_hop(hop) else {
                return client;
            };
            client = address;
            if !self.contains(address) {
                return address;
            }
        }
        client
    }
}

/// The `for=` values of a `Forwarded` header (RFC 7239), in order.
fn forwarded_for_values(header: &str) -> Vec<&str> {
    header
        .split(',')
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("for")
                .then(|| value.trim().trim_matches('"'))
        })
        .collect()
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(canonical(address));
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<IpAddr>().ok().map(canonical);
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>()
        .ok()
        .map(|v4| canonical(IpAddr::V4(v4)))
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 peers) is IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The network an address is counted under: its IPv4 /24 or IPv6 /48, as bytes with a
/// family tag (so no IPv4 prefix equals an IPv6 one).
pub fn network_prefix(address: IpAddr) -> Vec<u8> {
    match canonical(address) {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![4, o[0], o[1], o[2]]
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            vec![6, o[0], o[1], o[2], o[3], o[4], o[5]]
        }
    }
}

/// Makes source names: keyed hashes of networks and people.
#[derive(Clone)]
pub struct SourceNamer {
    key: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

impl SourceNamer {
    /// The key is derived from the signing secret, so all nodes name sources alike.
    pub fn new(signing_secret: &[u8]) -> SourceNamer {
        let mut key = [0u8; 32];
        key.copy_from_slice(&hmac(signing_secret, b"tailor:event-source:v1"));
        SourceNamer { key }
    }

    fn name(&self, kind: &str, value: &[u8]) -> String {
        let digest = hmac(&self.key, value);
        format!("{kind}:{}", hex::encode(&digest[..10]))
    }

    /// `net:<hash>` of the address's network prefix.
    pub fn network(&self, address: IpAddr) -> String {
        self.name("net", &network_prefix(address))
    }

    /// `person:<hash>` of a verified person's key.
    pub fn person(&self, person_key: &str) -> String {
        self.name("person", person_key.as_bytes())
    }

    /// `key:<hash>` of a server key (by its position in `server_api_keys`), for
    /// events a server sends without naming a person.
    pub fn server_key(&self, index: usize) -> String {
        self.name("key", &index.to_le_bytes())
    }
}

fn hmac(key: &[u8], value: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Whether an address is one a proxy inside the deployment would have: loopback,
/// private (RFC 1918), unique-local or link-local.
fn is_internal(address: IpAddr) -> bool {
    match canonical(address) {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Everything needed to say where a request came from.
pub struct Provenance {
    pub trusted_proxies: TrustedProxies,
    pub header: ForwardedHeader,
    pub names: SourceNamer,
    /// Set once the misconfiguration warning has been logged.
    warned: AtomicBool,
}

/// Where a request came from, as far as it can be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAddress {
    Known(IpAddr),
    /// The peer is an internal address that forwards for someone, but not one of
    /// `trusted_proxies`: every client behind it would look like one.
    UntrustedProxy(IpAddr),
}

impl Provenance {
    pub fn new(
        trusted_proxies: TrustedProxies,
        header: ForwardedHeader,
        names: SourceNamer,
    ) -> Provenance {
        Provenance {
            trusted_proxies,
            header,
            names,
            warned: AtomicBool::new(false),
        }
    }

    /// The configured forwarding header, every line of it joined in order (a proxy
    /// may add a line instead of appending to the one the client sent).
    fn forwarded(&self, req: &actix_web::HttpRequest) -> Option<String> {
        // A line with stray bytes is kept (its bad hops are unreadable, not its good ones).
        let values: Vec<String> = req
            .headers()
            .get_all(self.header.name())
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// The client address of a request (see [`TrustedProxies::client_address`]).
    pub fn client(&self, req: &actix_web::HttpRequest) -> Option<ClientAddress> {
        let peer = canonical(req.peer_addr()?.ip());
        let forwarded = self.forwarded(req);
        if forwarded.is_some() && !self.trusted_proxies.contains(peer) && is_internal(peer) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    proxy = %peer,
                    header = self.header.name(),
                    "requests come through a proxy that is not in trusted_proxies: every client \
                     behind it counts as one (one evidence source; one rate-limit bucket, at \
                     100 times a client's limit); add the proxy's network to trusted_proxies"
                );
            }
            return Some(ClientAddress::UntrustedProxy(peer));
        }
        Some(ClientAddress::Known(self.trusted_proxies.client_address(
            peer,
            self.header,
            forwarded.as_deref(),
        )))
    }

    /// The client address, whatever it is (the proxy's, when untrusted).
    pub fn client_address(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        self.client(req).map(|c| match c {
            ClientAddress::Known(a) | ClientAddress::UntrustedProxy(a) => a,
        })
    }

    /// `net:<hash>` of the request's client network (the untrusted proxy's, when it
    /// is one); `net:unknown` without a peer (only in-process test requests have none).
    pub fn network_source(&self, req: &actix_web::HttpRequest) -> String {
        self.client_address(req)
            .map_or_else(|| "net:unknown".to_string(), |a| self.names.network(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn forwarding_headers_count_only_behind_a_trusted_proxy() {
        use ForwardedHeader::{Forwarded, XForwardedFor};
        let none = proxies(&[]);
        // Without trusted proxies the header is anyone's to write: ignored.
        assert_eq!(
            none.client_address(ip("203.0.113.9"), XForwardedFor, Some("198.51.100.1")),
            ip("203.0.113.9")
        );
        let cdn = proxies(&["127.0.0.1/32", "10.0.0.0/8"]);
        let from_cdn = |header, value| cdn.client_address(ip("127.0.0.1"), header, value);
        // The right-most untrusted hop is the client; what it claims to its left is not read.
        assert_eq!(
            from_cdn(XForwardedFor, Some("1.1.1.1, 198.51.100.7, 10.1.2.3")),
            ip("198.51.100.7")
        );
        assert_eq!(
            from_cdn(
                Forwarded,
                Some("for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"")
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            from_cdn(XForwardedFor, Some("198.51.100.7:5000")),
            ip("198.51.100.7")
        );
        // Garbage stops the walk at the last trusted hop; no header: the peer.
        assert_eq!(
            from_cdn(XForwardedFor, Some("not-an-address")),
            ip("127.0.0.1")
        );
        assert_eq!(from_cdn(XForwardedFor, None), ip("127.0.0.1"));
        // An untrusted peer's header is ignored even with proxies configured.
        assert_eq!(
            cdn.client_address(ip("192.0.2.1"), XForwardedFor, Some("198.51.100.7")),
            ip("192.0.2.1")
        );
        // IPv4-mapped peers are IPv4; internal addresses are what proxies have.
        assert!(cdn.contains(ip("::ffff:127.0.0.1")));
        assert!(is_internal(ip("10.1.2.3")) && is_internal(ip("fd00::1")));
        assert!(!is_internal(ip("198.51.100.7")));
    }

    #[test]
    fn sources_name_networks_not_addresses() {
        let names = SourceNamer::new(b"secret-secret-secret-secret-secret");
        assert_eq!(
            names.network(ip("198.51.100.7")),
            names.network(ip("198.51.100.200"))
        );
        assert_ne!(
            names.network(ip("198.51.100.7")),
            names.network(ip("198.51.101.7"))
        );
        assert_eq!(
            names.network(ip("2001:db8:cafe:1::1")),
            names.network(ip("2001:db8:cafe:ffff::2"))
        );
        assert_ne!(
            names.network(ip("2001:db8:cafe::1")),
            names.network(ip("2001:db8:caff::1"))
        );
        let name = names.network(ip("198.51.100.7"));
        assert!(name.starts_with("net:") && !name.contains("198"), "{name}");
        // Another deployment's key names the same network differently.
        let other = SourceNamer::new(b"another-secret-another-secret-xx");
        assert_ne!(other.network(ip("198.51.100.7")), name);
        assert_ne!(names.person("p:1"), names.person("p:2"));
    }

    #[test]
    fn user_agents_are_classified_by_the_maintained_list() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(
            TrafficClass::of_user_agent(Some(chrome)),
            TrafficClass::Human
        );
        for bot in [
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "python-requests/2.31.0",
            "curl/8.4.0",
            "HeadlessChrome/120.0",
        ] {
            assert_eq!(
                TrafficClass::of_user_agent(Some(bot)),
                TrafficClass::Bot,
                "{bot}"
            );
        }
        assert_eq!(TrafficClass::of_user_agent(None), TrafficClass::Unknown);
        assert_eq!(
            TrafficClass::of_user_agent(Some("  ")),
            TrafficClass::Unknown
        );
    }
}
