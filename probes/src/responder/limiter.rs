//! Per-source-address rate limiting in a fixed amount of memory.
//!
//! Each source IP address (ports ignored: a flood from many ports of one host is one source) has
//! a token bucket, stored as the single timestamp of the generic cell rate algorithm (GCRA): the
//! "theoretical arrival time" `tat`. A request at `t` is allowed when `tat - t` (the debt) is within
//! the burst tolerance, and then pushes `tat` one emission interval further. A `tat` at or before
//! `t` is a full bucket, indistinguishable from a source never seen: that is why entries need no
//! "occupied" flag and why evicting them loses nothing.
//!
//! The table is set-associative: a keyed hash (SipHash with per-process random keys, so nobody can
//! aim at one set) picks a set of [`WAYS`] slots; a source not in its set takes the slot whose
//! bucket is fullest (the smallest `tat`, the idlest source). A source being limited has the
//! largest debt in its set and is evicted last, so spoofed one-off sources churn among themselves.
//! The table is allocated once: `capacity × 24` bytes, never more, whatever the number of sources.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

/// Slots per set: a lookup reads at most this many entries (one or two cache lines' worth).
const WAYS: usize = 8;

/// One source's bucket: its address (IPv4 stored as IPv4-mapped IPv6) and its GCRA timestamp in
/// nanoseconds since the limiter's epoch.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: [u8; 16],
    tat: u64,
}

/// Memory taken by one table entry, in bytes.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Slot>();

/// A token bucket per source IP address in a fixed-size table.
pub(crate) struct Limiter {
    slots: Box<[Slot]>,
    set_mask: usize,
    /// Nanoseconds per token.
    interval: u64,
    /// Debt allowed before refusing: `(burst - 1)` intervals.
    tolerance: u64,
    hasher: RandomState,
    /// The first `now` seen; time is counted from it.
    epoch: Option<Instant>,
}

impl Limiter {
    /// A limiter allowing `per_second` requests a second per source with bursts of `burst`, in a
    /// table of at least `capacity` entries (rounded up to a power of two, at least [`WAYS`]).
    pub(crate) fn new(per_second: u32, burst: u32, capacity: usize) -> Self {
        let slots = capacity.max(WAYS).next_power_of_two();
        let interval = 1_000_000_000 / u64::from(per_second.max(1));
        Self {
            slots: vec![Slot::default(); slots].into_boxed_slice(),
            set_mask: slots / WAYS - 1,
            interval,
            tolerance: interval.saturating_mul(u64::from(burst.max(1) - 1)),
            hasher: RandomState::new(),
            epoch: None,
        }
    }

    /// Number of entries the table holds; fixed at construction.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the table takes; fixed at construction.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.len() * ENTRY_BYTES
    }

    /// Sources whose bucket is not full at `now` (the ones the table really remembers).
    /// Walks the whole table: for metrics and tests, not for the packet path.
    pub(crate) fn tracked(&self, now: Instant) -> usize {
        let t = self.nanos(now);
        self.slots.iter().filter(|s| s.tat > t).count()
    }

    /// Takes one token from `source`'s bucket at `now`; false when the bucket is empty.
    pub(crate) fn allow(&mut self, now: Instant, source: IpAddr) -> bool {
        let t = self.nanos_or_start(now);
        let key = match source {
            IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
            IpAddr::V6(ip) => ip.octets(),
        };
        let set = (self.hasher.hash_one(key) as usize & self.set_mask) * WAYS;
        let ways = &mut self.slots[set..set + WAYS];
        let index = match ways.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                let (i, _) = ways
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.tat)
                    .unwrap_or((0, &Slot::default()));
                ways[i] = Slot { key, tat: 0 };
                i
            }
        };
        let slot = &mut ways[index];
        let tat = slot.tat.max(t);
        if tat - t > self.tolerance {
            return false;
        }
        slot.tat = tat.saturating_add(self.interval);
        true
    }

    fn nanos_or_start(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        since(epoch, now)
    }

    fn nanos(&self, now: Instant) -> u64 {
        self.epoch.map_or(0, |epoch| since(epoch, now))
    }
}

/// Nanoseconds from `epoch` to `now`, 0 if `now` is earlier; u64 lasts 584 years.
fn since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}
