//! The areas a person reads a report by: devices, browser, network paths, signaling, WebRTC and
//! account. Each probe kind belongs to exactly one; the HTML report has a card per area.

use crate::{Kind, ProbeResult, Status};

/// A group of probe kinds that answer one question about a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// Camera, microphone and the machine itself.
    Devices,
    /// The checks that run in the user's own browser.
    Browser,
    /// Media paths: STUN, the port matrix, MTU, TURN relays, quality and throughput.
    Network,
    /// The signaling WebSocket.
    Signaling,
    /// A full WebRTC connection with a test peer.
    Webrtc,
    /// SDKAppID, userId, userSig, roomId and privateMapKey.
    Account,
}

impl Area {
    /// Every area, in the order reports show them.
    pub const ALL: [Area; 6] = [
        Area::Devices,
        Area::Browser,
        Area::Network,
        Area::Signaling,
        Area::Webrtc,
        Area::Account,
    ];

    /// The area a kind belongs to.
    pub fn of(kind: Kind) -> Area {
        match kind {
            Kind::Camera | Kind::Microphone | Kind::Environment => Area::Devices,
            Kind::Browser => Area::Browser,
            Kind::Stun
            | Kind::Ports
            | Kind::Mtu
            | Kind::Turn
            | Kind::Quality
            | Kind::Throughput => Area::Network,
            Kind::Signaling => Area::Signaling,
            Kind::Webrtc => Area::Webrtc,
            Kind::Account | Kind::Room => Area::Account,
        }
    }

    /// A short machine name (`network`), used for anchors.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Devices => "devices",
            Area::Browser => "browser",
            Area::Network => "network",
            Area::Signaling => "signaling",
            Area::Webrtc => "webrtc",
            Area::Account => "account",
        }
    }

    /// The heading a person reads (`Network paths`).
    pub fn title(self) -> &'static str {
        match self {
            Area::Devices => "Devices",
            Area::Browser => "Browser",
            Area::Network => "Network paths",
            Area::Signaling => "Signaling",
            Area::Webrtc => "WebRTC",
            Area::Account => "Account and room",
        }
    }

    /// What the area covers, said when no probe of it ran.
    pub fn covers(self) -> &'static str {
        match self {
            Area::Devices => "camera, microphone and environment",
            Area::Browser => "the checks that run in the user's own browser, on the agent's page",
            Area::Network => "STUN, TRTC's port matrix, MTU, TURN relays, quality and throughput",
            Area::Signaling => "the signaling WebSocket",
            Area::Webrtc => "a WebRTC connection with a test peer",
            Area::Account => "SDKAppID, userId, userSig, roomId and privateMapKey",
        }
    }

    /// The probes of this area, in report order.
    pub fn probes(self, probes: &[ProbeResult]) -> Vec<&ProbeResult> {
        probes
            .iter()
            .filter(|probe| Area::of(probe.kind) == self)
            .collect()
    }
}

/// The worst of some probes' statuses for a summary: `fail` over `warn` over `pass`; `skip` only
/// when every probe was skipped; none without probes.
pub fn worst_status<'a>(probes: impl IntoIterator<Item = &'a ProbeResult>) -> Option<Status> {
    let mut worst: Option<Status> = None;
    for probe in probes {
        let rank = |status: Status| match status {
            Status::Skip => 0,
            Status::Pass => 1,
            Status::Warn => 2,
            Status::Fail => 3,
        };
        worst = match worst {
            Some(seen) if rank(seen) >= rank(probe.status) => Some(seen),
            _ => Some(probe.status),
        };
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_an_area_and_every_area_a_kind() {
        for area in Area::ALL {
            assert!(
                Kind::ALL.iter().any(|&kind| Area::of(kind) == area),
                "{area:?} has no kind"
            );
        }
    }
}
