//! The egress for a destination: which local address and interface the OS would use, that
//! interface's MTU, and whether it is a tunnel (a VPN), so a report can say "via wg0 (tunnel,
//! MTU 1420)" beside each target.
//!
//! Connecting a UDP socket sends nothing; it only asks the routing table for the source address.

use std::net::{IpAddr, SocketAddr, UdpSocket};

/// The interface and source address the OS picks for a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    /// The local address packets would come from.
    pub source: IpAddr,
    /// The interface holding that address, when it could be found.
    pub interface: Option<String>,
    /// The interface's MTU, where the OS tells it.
    pub mtu: Option<u32>,
    /// Whether the interface is a tunnel (VPN, PPP, IP-in-IP, GRE, WireGuard, tun/tap).
    pub tunnel: bool,
}

/// Why the egress could not be found.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// No route to the destination (for example no IPv6 default route).
    #[error("no route to {destination}: {source}")]
    NoRoute {
        /// The destination.
        destination: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Finds the egress for `destination` without sending anything.
pub fn egress(destination: SocketAddr) -> Result<Egress, EgressError> {
    let unspecified: SocketAddr = match destination {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let no_route = |source| EgressError::NoRoute {
        destination,
        source,
    };
    let socket = UdpSocket::bind(unspecified).map_err(no_route)?;
    socket.connect(destination).map_err(no_route)?;
    let source = socket.local_addr().map_err(no_route)?.ip();
    let interface = interface_of(source);
    let (mtu, tunnel) = match &interface {
        Some(name) => (mtu_of(name), is_tunnel(name)),
        None => (None, false),
    };
    Ok(Egress {
        source,
        interface,
        mtu,
        tunnel,
    })
}

/// The name of the interface that holds `address`.
pub fn interface_of(address: IpAddr) -> Option<String> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .find(|interface| interface.ip() == address)
        .map(|interface| interface.name)
}

/// The MTU of an interface (Linux: `/sys/class/net/NAME/mtu`).
pub fn mtu_of(interface: &str) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/mtu")).ok()?;
    text.trim().parse().ok()
}

/// ARPHRD_* link types of tunnels (Linux `if_arp.h`): PPP, IP-in-IP, IPv6-in-IPv6, SIT, GRE,
/// IPv6 GRE, and NONE (tun devices and WireGuard).
const TUNNEL_LINK_TYPES: [u32; 7] = [512, 768, 769, 776, 778, 823, 65534];

/// Name prefixes of tunnel interfaces on systems without `/sys` (macOS `utun`, `ipsec`, ...).
const TUNNEL_PREFIXES: [&str; 8] = ["tun", "tap", "wg", "ppp", "utun", "ipsec", "gpd", "zt"];

/// Whether an interface is a tunnel: by its link type where the OS tells it, else by its name.
pub fn is_tunnel(interface: &str) -> bool {
    let sys = format!("/sys/class/net/{interface}");
    if let Ok(text) = std::fs::read_to_string(format!("{sys}/type")) {
        if let Ok(link_type) = text.trim().parse::<u32>() {
            return TUNNEL_LINK_TYPES.contains(&link_type)
                || std::path::Path::new(&format!("{sys}/tun_flags")).exists();
        }
    }
    TUNNEL_PREFIXES
        .iter()
        .any(|prefix| interface.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_goes_out_through_lo() {
        let egress = egress("127.0.0.1:3478".parse().unwrap()).unwrap();
        assert_eq!(egress.source, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(!egress.tunnel);
        if cfg!(target_os = "linux") {
            assert_eq!(egress.interface.as_deref(), Some("lo"));
            assert!(egress.mtu.is_some_and(|mtu| mtu >= 1500), "{egress:?}");
        }
    }

    #[test]
    fn names_of_tunnels() {
        // Interfaces that do not exist here are judged by their names.
        assert!(is_tunnel("utun3"));
        assert!(is_tunnel("wg9"));
        assert!(!is_tunnel("eth9"));
        assert!(!is_tunnel("lo"));
    }
}
