//! The rendezvous point: the set of peers present in the swarm, from which an announce
//! returns a uniform random sample. It grants nothing; it can only be down.

use crate::peer::PeerId;
use crate::random::Stream;

const ABSENT: u32 = u32::MAX;

/// Present peers and the tracker's state.
#[derive(Debug)]
pub(crate) struct Tracker {
    present: Vec<PeerId>,
    position: Vec<u32>,
    /// Whether it answers announces.
    pub(crate) up: bool,
    /// Peers whose announce waits for the tracker to come back.
    pub(crate) waiting: Vec<PeerId>,
    stream: Stream,
}

impl Tracker {
    /// An empty, running tracker.
    pub(crate) fn new(stream: Stream) -> Tracker {
        Tracker {
            present: Vec::new(),
            position: Vec::new(),
            up: true,
            waiting: Vec::new(),
            stream,
        }
    }

    /// `peer` joined.
    pub(crate) fn add(&mut self, peer: PeerId) {
        let i = peer as usize;
        if self.position.len() <= i {
            self.position.resize(i + 1, ABSENT);
        }
        if self.position[i] == ABSENT {
            self.position[i] = self.present.len() as u32;
            self.present.push(peer);
        }
    }

    /// `peer` left.
    pub(crate) fn remove(&mut self, peer: PeerId) {
        let Some(pos) = self.position.get(peer as usize).copied() else {
            return;
        };
        if pos == ABSENT {
            return;
        }
        self.present.swap_remove(pos as usize);
        if let Some(moved) = self.present.get(pos as usize) {
            self.position[*moved as usize] = pos;
        }
        self.position[peer as usize] = ABSENT;
    }

    /// Number of peers present.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.present.len()
    }

    /// Up to `want` distinct present peers other than `asker`, uniformly at random.
    pub(crate) fn sample(&mut self, asker: PeerId, want: usize) -> Vec<PeerId> {
        let n = self.present.len();
        if n <= want + 1 {
            return self
                .present
                .iter()
                .copied()
                .filter(|p| *p != asker)
                .collect();
        }
        let mut out: Vec<PeerId> = Vec::with_capacity(want);
        // Rejection sampling: `want` is small next to `n` (else the branch above).
        let mut tries = 0;
        while out.len() < want && tries < want * 8 {
            tries += 1;
            let p = self.present[self.stream.below(n)];
            if p != asker && !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Purpose;

    #[test]
    fn samples_are_distinct_present_peers() {
        let mut t = Tracker::new(Stream::new(1, Purpose::Tracker));
        for p in 0..100 {
            t.add(p);
        }
        t.remove(5);
        t.remove(99);
        assert_eq!(t.len(), 98);
        let s = t.sample(3, 30);
        assert_eq!(s.len(), 30);
        assert!(!s.contains(&3) && !s.contains(&5) && !s.contains(&99));
        let mut d = s.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 30);
        assert_eq!(t.sample(0, 200).len(), 97);
    }
}
