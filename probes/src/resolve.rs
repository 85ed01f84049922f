//! Name resolution with overrides (`--resolve HOST=ADDR`, as curl does), split by address family.
//!
//! A probe resolves its target once, here, and tests each family on its own: one family failing
//! while the other works is a different verdict from both failing.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Addresses used instead of the system resolver for some names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides(BTreeMap<String, Vec<IpAddr>>);

impl Overrides {
    /// Overrides from `(host, address)` pairs; a host given several times gets every address.
    pub fn new(pairs: impl IntoIterator<Item = (String, IpAddr)>) -> Overrides {
        let mut map: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (host, address) in pairs {
            let entry = map.entry(host.to_ascii_lowercase()).or_default();
            if !entry.contains(&address) {
                entry.push(address);
            }
        }
        Overrides(map)
    }

    /// The addresses given for `host`, if any.
    pub fn get(&self, host: &str) -> Option<&[IpAddr]> {
        self.0.get(&host.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// How a name was turned into addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The host was an address already.
    Literal,
    /// From `--resolve`.
    Override,
    /// From the system resolver.
    System,
}

/// The addresses of a host, by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// IPv4 addresses, in resolver order.
    pub v4: Vec<IpAddr>,
    /// IPv6 addresses, in resolver order.
    pub v6: Vec<IpAddr>,
    /// Where they came from.
    pub source: Source,
    /// How long the lookup took.
    pub took: Duration,
}

impl Resolved {
    /// Every address, IPv4 first.
    pub fn all(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.v4.iter().chain(self.v6.iter()).copied()
    }
}

/// Why a name did not resolve.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The resolver answered with an error (no such name, no answer, no resolver reachable).
    #[error("the name {host} did not resolve: {reason}")]
    Failed {
        /// The host.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The resolver answered, with no address.
    #[error("the name {host} resolved to no address")]
    Empty {
        /// The host.
        host: String,
    },
}

/// Resolves `host` (a name or an address literal, `[v6]` accepted), overrides first.
pub async fn resolve(host: &str, overrides: &Overrides) -> Result<Resolved, ResolveError> {
    let started = Instant::now();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare.parse::<IpAddr>() {
        return Ok(split(vec![address], Source::Literal, started));
    }
    if let Some(addresses) = overrides.get(host) {
        return Ok(split(addresses.to_vec(), Source::Override, started));
    }
    let found = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|error| ResolveError::Failed {
            host: host.to_string(),
            reason: error.to_string(),
        })?;
    let mut addresses: Vec<IpAddr> = Vec::new();
    for address in found.map(|socket: SocketAddr| socket.ip()) {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(ResolveError::Empty {
            host: host.to_string(),
        });
    }
    Ok(split(addresses, Source::System, started))
}

fn split(addresses: Vec<IpAddr>, source: Source, started: Instant) -> Resolved {
    let (v4, v6) = addresses.into_iter().partition(IpAddr::is_ipv4);
    Resolved {
        v4,
        v6,
        source,
        took: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_need_no_resolver() {
        let resolved = resolve("127.0.0.1", &Overrides::default()).await.unwrap();
        assert_eq!(
            (resolved.v4.len(), resolved.v6.len(), resolved.source),
            (1, 0, Source::Literal)
        );
        let resolved = resolve("[::1]", &Overrides::default()).await.unwrap();
        assert_eq!(resolved.v6, ["::1".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn overrides_win_and_ignore_case() {
        let overrides = Overrides::new([
            ("stun.example.com".to_string(), "127.0.0.2".parse().unwrap()),
            ("STUN.example.com".to_string(), "::1".parse().unwrap()),
        ]);
        let resolved = resolve("Stun.Example.Com", &overrides).await.unwrap();
        assert_eq!(resolved.source, Source::Override);
        assert_eq!(resolved.v4, ["127.0.0.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(resolved.v6, ["::1".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn localhost_resolves_through_the_system() {
        let resolved = resolve("localhost", &Overrides::default()).await.unwrap();
        assert_eq!(resolved.source, Source::System);
        assert!(
            resolved.all().all(|address| address.is_loopback()),
            "{resolved:?}"
        );
    }
}
