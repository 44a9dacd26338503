//! The event queue: events in virtual-time order, ties broken by insertion order so
//! that a run is deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::event::Event;

/// An event and its time. Ties in time keep their insertion order without a sequence
/// number (see [`EventQueue`]), so an entry is 24 bytes rather than 32, and more of
/// them share a line.
#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at: f64,
    event: Event,
}

/// Width of one calendar bucket, in virtual seconds.
const BUCKET_S: f64 = 1e-3;
/// Buckets in the calendar: events further ahead than `BUCKETS · BUCKET_S` (≈ 4 s)
/// wait in a heap until the calendar reaches them.
const BUCKETS: u64 = 4096;
/// A drained bucket that grew past this many events gives its memory back.
const KEEP_CAPACITY: usize = 1024;

/// Buckets per virtual second.
const PER_S: f64 = 1.0 / BUCKET_S;

fn bucket_of(at: f64) -> u64 {
    // Saturating cast; `at` is never negative (events are never scheduled in the past).
    // A product rather than a quotient (a division's latency, twice an event): the
    // bucket only has to grow with the time, which a product by a positive constant
    // does, so the order of events is the same.
    (at * PER_S) as u64
}

/// An event waiting beyond the calendar's horizon, ordered for the heap.
#[derive(Debug)]
struct Far {
    at: f64,
    seq: u64,
    event: Event,
}

impl PartialEq for Far {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Far {}
impl PartialOrd for Far {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Far {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending events: a calendar queue (Brown, 1988). Events in the next ≈ 4 s go to a
/// ring of 1 ms buckets, appended unsorted; the bucket being drained is sorted once,
/// stably by time (and later arrivals in it inserted after the events of their time);
/// later events wait in a binary heap. A piece transfer's events are a push and a pop
/// at O(1) cost on memory that is touched in order, where a heap of 10⁶ events costs
/// ~20 cache misses per pop.
///
/// The order is exactly a heap's by time, then insertion order. A bucket receives its
/// events in insertion order: first, when the calendar's horizon reaches it, the heap's
/// events for it (in the heap's order: by time, then insertion), and only then pushes
/// (which went to the heap while it was beyond the horizon). So a stable sort by time
/// keeps ties in insertion order, and no sequence number is stored in the ring.
#[derive(Debug)]
pub(crate) struct EventQueue {
    /// Bucket `b` of the calendar is `ring[b % BUCKETS]`.
    ring: Vec<Vec<Scheduled>>,
    /// The bucket being drained.
    current: u64,
    /// `ring` of `current` is sorted, earliest first.
    sorted: bool,
    /// The next entry to pop in the bucket being drained (those before it are done).
    head: usize,
    /// Events in `ring`, not yet popped.
    in_ring: usize,
    /// Events at or past the calendar's horizon.
    far: BinaryHeap<Far>,
    seq: u64,
}

impl Default for EventQueue {
    fn default() -> EventQueue {
        EventQueue {
            ring: (0..BUCKETS).map(|_| Vec::new()).collect(),
            current: 0,
            sorted: false,
            head: 0,
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
        let b = bucket_of(at);
        if b >= self.current.saturating_add(BUCKETS) {
            self.seq += 1;
            self.far.push(Far {
                at,
                seq: self.seq,
                event,
            });
        } else {
            self.place(b, Scheduled { at, event });
        }
    }

    /// Puts `s`, of bucket `b`, into the calendar.
    fn place(&mut self, b: u64, s: Scheduled) {
        let b = b.max(self.current);
        let bucket = &mut self.ring[(b % BUCKETS) as usize];
        if b == self.current && self.sorted {
            // After every waiting event of its time or earlier: ties in insertion order.
            let head = self.head.min(bucket.len());
            let at = head + bucket[head..].partition_point(|x| x.at <= s.at);
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
                self.place(
                    bucket_of(s.at),
                    Scheduled {
                        at: s.at,
                        event: s.event,
                    },
                );
            }
        }
    }

    /// Advances to the earliest bucket with events left and sorts it; false if no
    /// event is left.
    fn settle(&mut self) -> bool {
        loop {
            if self.in_ring == 0 {
                let Some(next) = self.far.peek() else {
                    return false;
                };
                let next = bucket_of(next.at);
                if next > self.current {
                    self.leave_bucket();
                    self.current = next;
                }
                self.refill();
                continue;
            }
            let bucket = &mut self.ring[(self.current % BUCKETS) as usize];
            if self.head < bucket.len() {
                if !self.sorted {
                    bucket.sort_by(|a, b| a.at.total_cmp(&b.at));
                    self.sorted = true;
                }
                return true;
            }
            self.leave_bucket();
            self.current += 1;
            self.refill();
        }
    }

    /// Empties the bucket being drained (all its events were popped), before the
    /// calendar moves on.
    fn leave_bucket(&mut self) {
        let bucket = &mut self.ring[(self.current % BUCKETS) as usize];
        debug_assert!(self.head >= bucket.len(), "a bucket left with events in it");
        if bucket.capacity() > KEEP_CAPACITY {
            *bucket = Vec::new();
        } else {
            bucket.clear();
        }
        self.head = 0;
        self.sorted = false;
    }

    /// The earliest event and its time.
    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<(f64, Event)> {
        self.pop_due(f64::INFINITY)
    }

    /// The earliest event and its time, if it is not later than `end` (then it stays
    /// in the queue): one look for the run loop's "is the next event due, and which".
    pub(crate) fn pop_due(&mut self, end: f64) -> Option<(f64, Event)> {
        if !self.settle() {
            return None;
        }
        let s = *self.ring[(self.current % BUCKETS) as usize].get(self.head)?;
        if s.at > end {
            return None;
        }
        self.head += 1;
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
        self.ring[(self.current % BUCKETS) as usize].get(self.head + k)
    }

    /// Time of the earliest event.
    #[cfg(test)]
    pub(crate) fn peek_time(&mut self) -> Option<f64> {
        if !self.settle() {
            return None;
        }
        self.ring[(self.current % BUCKETS) as usize]
            .get(self.head)
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
        assert_eq!(q.pop_due(1.5), None, "not due yet: it stays");
        assert_eq!(q.pop_due(2.0), Some((2.0, Event::Sample)));
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
                heap.push(Far {
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
