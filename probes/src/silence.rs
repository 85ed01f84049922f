//! When to call a UDP path silent: adaptively, from its siblings.
//!
//! Until some UDP port of a host answers over a family, the engine's default schedule decides
//! (about 1.5 s). Once one answered with round-trip time `r`, every UDP exchange to that host and
//! family, waiting or yet to start, gives up `4 r + 200 ms` after its first request, never sooner
//! than [`FLOOR`] nor later than [`CEILING`]. The STUN probes and the port matrix of a run share
//! one [`Siblings`], so each learns from the others; every silent path says which rule applied.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::stun::probe::Family;

/// The shortest wait before calling a UDP path silent, whatever the siblings' RTT.
pub const FLOOR: Duration = Duration::from_millis(1000);
/// The longest adaptive wait.
pub const CEILING: Duration = Duration::from_millis(4000);

/// Which paths count as siblings: the same host (as configured, any case) over the same family.
pub type Key = (String, Family);

#[derive(Default)]
struct Host {
    /// The wait in force and its explanation, once a sibling answered.
    rule: Option<(Duration, String)>,
    /// Exchanges still waiting: an id, their first send, their give-up control.
    waiting: Vec<(u64, Instant, watch::Sender<Option<Instant>>)>,
}

/// The shared state of one run.
#[derive(Default)]
pub struct Siblings {
    hosts: Mutex<HashMap<Key, Host>>,
    next: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Siblings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Siblings")
    }
}

/// One exchange's membership: the control its driver listens to, and its id.
pub struct Ticket {
    /// Feeds the driver's give-up instant.
    pub control: watch::Receiver<Option<Instant>>,
    key: Key,
    id: u64,
}

fn key(host: &str, family: Family) -> Key {
    (host.to_ascii_lowercase(), family)
}

impl Siblings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Host>> {
        self.hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers an exchange to `host` over `family` whose first request goes out at `first_send`.
    pub fn join(&self, host: &str, family: Family, first_send: Instant) -> Ticket {
        let (sender, control) = watch::channel(None);
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = key(host, family);
        let mut hosts = self.lock();
        let entry = hosts.entry(key.clone()).or_default();
        if let Some((wait, _)) = &entry.rule {
            let _ = sender.send(Some(first_send + *wait));
        }
        entry.waiting.push((id, first_send, sender));
        Ticket { control, key, id }
    }

    /// The exchange ended; `answered` carries its port and RTT when it was answered. Returns
    /// the rule that applied to it, if it waited under one (for a silent path's evidence).
    pub fn leave(&self, ticket: Ticket, answered: Option<(u16, Duration)>) -> Option<String> {
        let mut hosts = self.lock();
        let entry = hosts.entry(ticket.key).or_default();
        entry.waiting.retain(|(id, _, _)| *id != ticket.id);
        if let (Some((port, rtt)), None) = (answered, &entry.rule) {
            let wait = (rtt * 4 + Duration::from_millis(200)).clamp(FLOOR, CEILING);
            let why = format!(
                "gave up after {} ms: UDP {port} on the same host answered in {:.1} ms, so 4 x RTT + 200 ms, at least {} ms, suffices",
                wait.as_millis(),
                rtt.as_secs_f64() * 1000.0,
                FLOOR.as_millis()
            );
            for (_, started, control) in &entry.waiting {
                let _ = control.send(Some(*started + wait));
            }
            entry.rule = Some((wait, why));
        }
        entry.rule.as_ref().map(|(_, why)| why.clone())
    }
}

/// The rule for a silent path that no sibling informed.
pub fn default_rule(give_up: Duration) -> String {
    format!(
        "gave up after {} ms: the default schedule (no UDP port of this host answered to learn its RTT from)",
        give_up.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_sets_the_wait_of_the_waiting_and_of_those_to_come() {
        let siblings = Siblings::default();
        let t0 = Instant::now();
        let waiting = siblings.join("Media.Lab", Family::V4, t0);
        let answering = siblings.join("media.lab", Family::V4, t0);
        let other_family = siblings.join("media.lab", Family::V6, t0);
        assert_eq!(*waiting.control.borrow(), None);
        let rule = siblings
            .leave(answering, Some((8000, Duration::from_millis(50))))
            .unwrap();
        assert!(
            rule.contains("UDP 8000") && rule.contains("gave up after 1000 ms"),
            "{rule}"
        );
        // 4 x 50 ms + 200 ms = 400 ms, under the floor: 1 s.
        assert_eq!(*waiting.control.borrow(), Some(t0 + FLOOR));
        assert_eq!(*other_family.control.borrow(), None);
        let later = siblings.join("media.lab", Family::V4, t0 + Duration::from_secs(1));
        assert_eq!(
            *later.control.borrow(),
            Some(t0 + Duration::from_secs(1) + FLOOR)
        );
        assert!(siblings
            .leave(waiting, None)
            .unwrap()
            .contains("gave up after 1000 ms"));
        assert_eq!(siblings.leave(other_family, None), None);
    }

    #[test]
    fn a_slow_sibling_lengthens_the_wait_up_to_the_ceiling() {
        let siblings = Siblings::default();
        let t0 = Instant::now();
        let waiting = siblings.join("h", Family::V4, t0);
        let slow = siblings.join("h", Family::V4, t0);
        siblings.leave(slow, Some((1, Duration::from_millis(600))));
        assert_eq!(
            *waiting.control.borrow(),
            Some(t0 + Duration::from_millis(2600))
        );
        let siblings = Siblings::default();
        let waiting = siblings.join("h", Family::V4, t0);
        let very_slow = siblings.join("h", Family::V4, t0);
        siblings.leave(very_slow, Some((1, Duration::from_secs(3))));
        assert_eq!(*waiting.control.borrow(), Some(t0 + CEILING));
    }
}
