//! Per-burst counters for the quality probe's uplink/downlink split, in a fixed amount of memory.
//!
//! A token holder's binding request may carry a burst id and a sequence number (the
//! `TRTC-PREFLIGHT-BURST` attribute, see the module documentation of [`super`]). The table counts,
//! per source address and burst id, the distinct sequence numbers received and the copies seen
//! twice; the answer reports both. A bitmap of [`BITMAP_BITS`] bits tells first copies from
//! duplicates; sequence numbers beyond it are counted without that check.
//!
//! The table holds [`ENTRIES`] bursts, allocated once (about 64 KiB); a new burst takes the slot
//! of the burst seen least recently. Only requests that presented the token reach it.

use std::net::SocketAddr;
use std::time::Instant;

/// Bursts remembered at once.
pub(crate) const ENTRIES: usize = 32;
/// Sequence numbers below this are told apart from duplicates (the longest default-sized burst
/// is 1,000 a second for 10 s).
pub(crate) const BITMAP_BITS: u32 = 16_384;
const WORDS: usize = (BITMAP_BITS / 64) as usize;

/// The sequence number of a query: "how many did you receive?", not counted itself.
pub const BURST_QUERY: u32 = u32::MAX;

struct Entry {
    source: Option<SocketAddr>,
    burst: u32,
    received: u32,
    duplicates: u32,
    last_seen: Option<Instant>,
    seen: Box<[u64; WORDS]>,
}

impl Entry {
    fn empty() -> Entry {
        Entry {
            source: None,
            burst: 0,
            received: 0,
            duplicates: 0,
            last_seen: None,
            seen: Box::new([0; WORDS]),
        }
    }
}

/// What a burst's counters say after a request was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BurstCount {
    /// The burst id, echoed.
    pub(crate) burst: u32,
    /// Distinct sequence numbers received so far (queries not counted).
    pub(crate) received: u32,
    /// Requests received again with a sequence number already seen.
    pub(crate) duplicates: u32,
}

/// The counters of the bursts in progress.
pub(crate) struct BurstTable {
    entries: Vec<Entry>,
}

impl BurstTable {
    /// A table of [`ENTRIES`] bursts, allocated here once.
    pub(crate) fn new() -> BurstTable {
        BurstTable {
            entries: (0..ENTRIES).map(|_| Entry::empty()).collect(),
        }
    }

    /// Bytes the table takes (fixed).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.entries.len() * (std::mem::size_of::<Entry>() + WORDS * 8)
    }

    /// Records request `sequence` of `burst` from `source` at `now` (a [`BURST_QUERY`] is not
    /// counted) and returns the burst's counters.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        source: SocketAddr,
        burst: u32,
        sequence: u32,
    ) -> BurstCount {
        let index = match self
            .entries
            .iter()
            .position(|e| e.source == Some(source) && e.burst == burst)
        {
            Some(index) => index,
            None => {
                let index = self
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.last_seen)
                    .map_or(0, |(index, _)| index);
                let entry = &mut self.entries[index];
                entry.source = Some(source);
                entry.burst = burst;
                entry.received = 0;
                entry.duplicates = 0;
                entry.seen.fill(0);
                index
            }
        };
        let entry = &mut self.entries[index];
        entry.last_seen = Some(now);
        if sequence != BURST_QUERY {
            if sequence < BITMAP_BITS {
                let (word, bit) = ((sequence / 64) as usize, sequence % 64);
                if entry.seen[word] & (1 << bit) != 0 {
                    entry.duplicates = entry.duplicates.saturating_add(1);
                } else {
                    entry.seen[word] |= 1 << bit;
                    entry.received = entry.received.saturating_add(1);
                }
            } else {
                entry.received = entry.received.saturating_add(1);
            }
        }
        BurstCount {
            burst,
            received: entry.received,
            duplicates: entry.duplicates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn counts_distinct_sequences_and_duplicates_and_queries_count_nothing() {
        let t0 = Instant::now();
        let mut table = BurstTable::new();
        for sequence in [0, 1, 2, 2, 5, 1] {
            table.record(t0, at(1), 7, sequence);
        }
        let count = table.record(t0, at(1), 7, BURST_QUERY);
        assert_eq!(
            count,
            BurstCount {
                burst: 7,
                received: 4,
                duplicates: 2
            }
        );
        assert_eq!(table.record(t0, at(1), 7, BURST_QUERY), count);
        // Beyond the bitmap: counted, never called a duplicate.
        table.record(t0, at(1), 7, BITMAP_BITS + 3);
        let count = table.record(t0, at(1), 7, BITMAP_BITS + 3);
        assert_eq!((count.received, count.duplicates), (6, 2));
    }

    #[test]
    fn bursts_are_kept_apart_by_source_and_id() {
        let t0 = Instant::now();
        let mut table = BurstTable::new();
        table.record(t0, at(1), 7, 0);
        table.record(t0, at(2), 7, 0);
        table.record(t0, at(1), 8, 0);
        assert_eq!(table.record(t0, at(1), 7, 1).received, 2);
        assert_eq!(table.record(t0, at(2), 7, BURST_QUERY).received, 1);
        assert_eq!(table.record(t0, at(1), 8, BURST_QUERY).received, 1);
    }

    #[test]
    fn a_full_table_forgets_the_burst_seen_least_recently() {
        let t0 = Instant::now();
        let mut table = BurstTable::new();
        let memory = table.memory_bytes();
        for i in 0..ENTRIES as u32 {
            table.record(t0 + Duration::from_millis(u64::from(i)), at(1), i, 0);
        }
        // Burst 0 is the oldest: a new one takes its place; burst 1 is still there.
        let later = t0 + Duration::from_secs(1);
        table.record(later, at(1), 1_000, 0);
        assert_eq!(table.record(later, at(1), 1, BURST_QUERY).received, 1);
        assert_eq!(table.record(later, at(1), 0, BURST_QUERY).received, 0);
        assert_eq!(table.memory_bytes(), memory);
        assert!(memory < 80 * 1024, "{memory}");
    }
}
