//! The event queue: events in virtual-time order, ties broken by insertion order so
//! that a run is deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::event::Event;

#[derive(Debug)]
struct Scheduled {
    at: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Width of one calendar bucket, in virtual seconds.
const BUCKET_S: f64 = 1e-3;
/// Buckets in the calendar: events further ahead than `BUCKETS · BUCKET_S` (≈ 4 s)
/// wait in a heap until the calendar reaches them.
const BUCKETS: u64 = 4096;
/// A drained bucket that grew past this many events gives its memory back.
const KEEP_CAPACITY: usize = 1024;

fn bucket_of(at: f64) -> u64 {
    // Saturating cast; `at` is never negative (events are never scheduled in the past).
    (at / BUCKET_S) as u64
}

/// Pending events: a calendar queue (Brown, 1988). Events in the next ≈ 4 s go to a
/// ring of 1 ms buckets, appended unsorted; the bucket being drained is sorted once
/// (and later arrivals in it inserted in order); later events wait in a binary heap.
/// A piece transfer's events are a push and a pop at O(1) cost on memory that is
/// touched in order, where a heap of 10⁶ events costs ~20 cache misses per pop.
/// The order is exactly the heap's: time, then insertion order.
#[derive(Debug)]
pub(crate) struct EventQueue {
    /// Bucket `b` of the calendar is `ring[b % BUCKETS]`.
    ring: Vec<Vec<Scheduled>>,
    /// The bucket being drained.
    current: u64,
    /// `ring` of `current` is sorted, earliest last.
    sorted: bool,
    /// Events in `ring`.
    in_ring: usize,
    /// Events at or past the calendar's horizon.
    far: BinaryHeap<Scheduled>,
    seq: u64,
}

impl Default for EventQueue {
    fn default() -> EventQueue {
        EventQueue {
            ring: (0..BUCKETS).map(|_| Vec::new()).collect(),
            current: 0,
            sorted: false,
            in_ring: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl EventQueue {
    /// Schedules `event` at time `at` (never before the current event; the engine
    /// guarantees it).
    pub(crate) fn push(&mut self, at: f64, event: Event) {
        self.seq += 1;
        let s = Scheduled {
            at,
            seq: self.seq,
            event,
        };
        if bucket_of(at) >= self.current.saturating_add(BUCKETS) {
            self.far.push(s);
        } else {
            self.place(s);
        }
    }

    fn place(&mut self, s: Scheduled) {
        let b = bucket_of(s.at).max(self.current);
        let bucket = &mut self.ring[(b % BUCKETS) as usize];
        if b == self.current && self.sorted {
            // Sorted by `Ord`, which is reversed: the earliest is last.
            let at = bucket.partition_point(|x| *x < s);
            bucket.insert(at, s);
        } else {
            bucket.push(s);
        }
        self.in_ring += 1;
    }

    /// Moves the heap's events that the calendar now reaches into it.
    fn refill(&mut self) {
        let horizon = self.current.saturating_add(BUCKETS);
        while self.far.peek().is_some_and(|s| bucket_of(s.at) < horizon) {
            if let Some(s) = self.far.pop() {
                self.place(s);
            }
        }
    }

    /// Advances to the earliest non-empty bucket and sorts it; false if no event is
    /// left.
    fn settle(&mut self) -> bool {
        loop {
            if self.in_ring == 0 {
                let Some(next) = self.far.peek() else {
                    return false;
                };
                self.current = self.current.max(bucket_of(next.at));
                self.sorted = false;
                self.refill();
                continue;
            }
            let bucket = &mut self.ring[(self.current % BUCKETS) as usize];
            if !bucket.is_empty() {
                if !self.sorted {
                    bucket.sort_unstable();
                    self.sorted = true;
                }
                return true;
            }
            if bucket.capacity() > KEEP_CAPACITY {
                *bucket = Vec::new();
            }
            self.current += 1;
            self.sorted = false;
            self.refill();
        }
    }

    /// The earliest event and its time.
    pub(crate) fn pop(&mut self) -> Option<(f64, Event)> {
        if !self.settle() {
            return None;
        }
        let s = self.ring[(self.current % BUCKETS) as usize].pop()?;
        self.in_ring -= 1;
        Some((s.at, s.event))
    }

    /// The event `k` places after the next one, if it is in the bucket being drained
    /// (the engine reads ahead to bring its data into cache; see `Engine::warm_ahead`).
    pub(crate) fn ahead(&self, k: usize) -> Option<&Event> {
        self.entry_ahead(k).map(|s| &s.event)
    }

    /// Prefetches the entry of the event `k` places after the next one, if it is in the
    /// bucket being drained (so that [`EventQueue::ahead`] finds it in cache later: the
    /// bucket was filled by pushes up to seconds ago, and its lines are cold).
    pub(crate) fn prefetch_ahead(&self, k: usize) {
        if let Some(s) = self.entry_ahead(k) {
            crate::prefetch::of(s);
        }
    }

    /// The entry `k` places after the next one, if it is in the bucket being drained.
    fn entry_ahead(&self, k: usize) -> Option<&Scheduled> {
        if !self.sorted {
            return None;
        }
        let bucket = &self.ring[(self.current % BUCKETS) as usize];
        bucket.get(bucket.len().checked_sub(k + 1)?)
    }

    /// Time of the earliest event.
    pub(crate) fn peek_time(&mut self) -> Option<f64> {
        if !self.settle() {
            return None;
        }
        self.ring[(self.current % BUCKETS) as usize]
            .last()
            .map(|s| s.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_insertion_order() {
        let mut q = EventQueue::default();
        q.push(2.0, Event::Sample);
        q.push(1.0, Event::Announce(7));
        q.push(1.0, Event::Announce(8));
        assert_eq!(q.pop(), Some((1.0, Event::Announce(7))));
        assert_eq!(q.pop(), Some((1.0, Event::Announce(8))));
        assert_eq!(q.pop(), Some((2.0, Event::Sample)));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn the_calendar_pops_in_the_order_of_a_heap() {
        let mut rng = ilpt_protocol::rng::Rng::new(5);
        let mut q = EventQueue::default();
        let mut heap = BinaryHeap::new();
        let mut now = 0.0;
        let mut seq = 0;
        for round in 0..200_000u32 {
            if rng.below(2) == 0 || heap.is_empty() {
                // Mostly near events, some at the same time, some far ahead.
                let at = match rng.below(10) {
                    0 => now,
                    1 => now + rng.below(100_000) as f64 * 1e-3,
                    _ => now + rng.below(2_000) as f64 * 1e-3,
                };
                seq += 1;
                q.push(at, Event::Announce(round));
                heap.push(Scheduled {
                    at,
                    seq,
                    event: Event::Announce(round),
                });
            } else {
                let expected = heap.pop().map(|s| (s.at, s.event));
                assert_eq!(q.peek_time(), expected.map(|e| e.0));
                let got = q.pop();
                assert_eq!(got, expected);
                if let Some((at, _)) = got {
                    now = at;
                }
            }
        }
    }
}
