//! The open announce connections of one serving thread, and which of them to close when
//! there are too many.
//!
//! A connection is *idle* while it waits for a request (its first, or the next on a
//! keep-alive connection) and *busy* while a request of it is being answered. A newcomer is
//! never turned away because others hold connections open: when its host already has
//! [`MAX_CONNECTIONS_PER_HOST`], that host's longest-idle connection is closed for it;
//! when the thread has [`MAX_CONNECTIONS_PER_THREAD`], the thread's longest-idle one is.
//! Only when every connection in the way is busy is the newcomer closed instead. So
//! thousands of idle connections from a few hosts cost those hosts their own oldest
//! connections, not anybody's announce.
//!
//! No I/O here: the serving thread calls [`Connections::open`], [`Connections::busy`],
//! [`Connections::idle`] and [`Connections::close`] and closes what `open` gives back.

use std::collections::HashMap;

use crate::host::Host;

/// Most connections one serving thread keeps open.
pub const MAX_CONNECTIONS_PER_THREAD: usize = 4096;
/// Most connections one host (see [`Host`]) keeps open on one serving thread. An
/// announce takes a connection for a round trip; even many clients behind one NAT
/// address seldom hold this many at once.
pub const MAX_CONNECTIONS_PER_HOST: usize = 32;

/// Limits of one thread's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most open in all.
    pub per_thread: usize,
    /// Most open from one host (the unlimited addresses have no limit).
    pub per_host: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            per_thread: MAX_CONNECTIONS_PER_THREAD,
            per_host: MAX_CONNECTIONS_PER_HOST,
        }
    }
}

/// One open connection, as [`Connections`] knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnId {
    slot: u32,
    generation: u32,
}

/// The answer to [`Connections::open`].
#[derive(Debug)]
pub struct Opened<T> {
    /// The newcomer's id, or `None` if it must be closed (everything in its way busy).
    pub id: Option<ConnId>,
    /// The handles of connections to close to make room for it.
    pub shed: Vec<T>,
}

#[derive(Debug)]
struct Live<T> {
    /// `None` for the unlimited addresses.
    host: Option<Host>,
    busy: bool,
    /// When it last became idle, in a count of such events: smaller is longer ago.
    idle_since: u64,
    /// Neighbours in the list of idle connections, longest idle first.
    prev: Option<u32>,
    next: Option<u32>,
    handle: T,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    live: Option<Live<T>>,
}

/// The open connections of one serving thread. `T` is what closes one (the driver's
/// handle), given back when it is to be closed.
#[derive(Debug)]
pub struct Connections<T> {
    limits: ConnectionLimits,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    open: usize,
    /// The idle connections, longest idle at the head.
    idle_head: Option<u32>,
    idle_tail: Option<u32>,
    /// The connections of each limited host.
    per_host: HashMap<Host, Vec<u32>>,
    clock: u64,
}

impl<T> Connections<T> {
    /// No connections, with these limits.
    pub fn new(limits: ConnectionLimits) -> Connections<T> {
        Connections {
            limits,
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            idle_head: None,
            idle_tail: None,
            per_host: HashMap::new(),
            clock: 0,
        }
    }

    /// Connections open.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// A connection from `host` (`None`: an unlimited address) was accepted; `handle`
    /// closes it. It starts idle, waiting for its request.
    pub fn open(&mut self, host: Option<Host>, handle: T) -> Opened<T> {
        let mut shed = Vec::new();
        if let Some(h) = host {
            let mine = self.per_host.get(&h).map_or(&[][..], Vec::as_slice);
            if mine.len() >= self.limits.per_host {
                let oldest = mine
                    .iter()
                    .copied()
                    .filter_map(|s| self.live(s).filter(|l| !l.busy).map(|l| (l.idle_since, s)))
                    .min();
                match oldest.and_then(|(_, s)| self.remove(s)) {
                    Some(gone) => shed.push(gone),
                    None => return Opened { id: None, shed },
                }
            }
        }
        if self.open >= self.limits.per_thread {
            match self.idle_head.and_then(|s| self.remove(s)) {
                Some(gone) => shed.push(gone),
                None => return Opened { id: None, shed },
            }
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    live: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[slot as usize].generation;
        self.slots[slot as usize].live = Some(Live {
            host,
            busy: true,
            idle_since: 0,
            prev: None,
            next: None,
            handle,
        });
        self.open += 1;
        if let Some(h) = host {
            self.per_host.entry(h).or_default().push(slot);
        }
        self.push_idle(slot);
        Opened {
            id: Some(ConnId { slot, generation }),
            shed,
        }
    }

    /// `id` has a request in flight: it is not to be closed for a newcomer.
    pub fn busy(&mut self, id: ConnId) {
        if self.get(id).is_some_and(|l| !l.busy) {
            self.unlink(id.slot);
            if let Some(l) = self.live_mut(id.slot) {
                l.busy = true;
            }
        }
    }

    /// `id` waits for a request again, from now: it is the last to be closed of the
    /// idle ones.
    pub fn idle(&mut self, id: ConnId) {
        if self.get(id).is_none() {
            return;
        }
        if self.get(id).is_some_and(|l| !l.busy) {
            self.unlink(id.slot);
        }
        self.push_idle(id.slot);
    }

    /// `id` closed by itself; gives back its handle (`None` if it was already closed
    /// for a newcomer).
    pub fn close(&mut self, id: ConnId) -> Option<T> {
        self.get(id)?;
        self.remove(id.slot)
    }

    fn get(&self, id: ConnId) -> Option<&Live<T>> {
        let slot = self.slots.get(id.slot as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.live.as_ref())
            .flatten()
    }

    fn live(&self, slot: u32) -> Option<&Live<T>> {
        self.slots.get(slot as usize)?.live.as_ref()
    }

    fn live_mut(&mut self, slot: u32) -> Option<&mut Live<T>> {
        self.slots.get_mut(slot as usize)?.live.as_mut()
    }

    /// Appends `slot` to the idle list, marking it idle from now.
    fn push_idle(&mut self, slot: u32) {
        self.clock += 1;
        let (clock, tail) = (self.clock, self.idle_tail);
        let Some(l) = self.live_mut(slot) else { return };
        l.busy = false;
        l.idle_since = clock;
        l.prev = tail;
        l.next = None;
        match tail.and_then(|t| self.live_mut(t)) {
            Some(t) => t.next = Some(slot),
            None => self.idle_head = Some(slot),
        }
        self.idle_tail = Some(slot);
    }

    /// Takes idle `slot` out of the idle list.
    fn unlink(&mut self, slot: u32) {
        let Some(l) = self.live_mut(slot) else { return };
        let (prev, next) = (l.prev.take(), l.next.take());
        match prev.and_then(|p| self.live_mut(p)) {
            Some(p) => p.next = next,
            None => self.idle_head = next,
        }
        match next.and_then(|n| self.live_mut(n)) {
            Some(n) => n.prev = prev,
            None => self.idle_tail = prev,
        }
    }

    /// Forgets `slot`; gives back its handle.
    fn remove(&mut self, slot: u32) -> Option<T> {
        if !self.live(slot)?.busy {
            self.unlink(slot);
        }
        let s = self.slots.get_mut(slot as usize)?;
        let live = s.live.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        self.open -= 1;
        if let Some(h) = live.host {
            if let Some(mine) = self.per_host.get_mut(&h) {
                mine.retain(|&s| s != slot);
                if mine.is_empty() {
                    self.per_host.remove(&h);
                }
            }
        }
        Some(live.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn host(n: u8) -> Option<Host> {
        Some(Host::V4(Ipv4Addr::new(192, 0, 2, n)))
    }

    fn table(per_thread: usize, per_host: usize) -> Connections<&'static str> {
        Connections::new(ConnectionLimits {
            per_thread,
            per_host,
        })
    }

    #[test]
    fn a_host_at_its_limit_loses_its_own_longest_idle_connection() {
        let mut t = table(100, 3);
        let a = t.open(host(1), "a1").id.unwrap();
        t.open(host(1), "a2").id.unwrap();
        t.open(host(1), "a3").id.unwrap();
        t.open(host(2), "b1").id.unwrap();
        // a1 answers a request: it is no longer the longest idle of its host.
        t.busy(a);
        t.idle(a);
        let o = t.open(host(1), "a4");
        assert!(o.id.is_some());
        assert_eq!(o.shed, vec!["a2"]);
        assert_eq!(t.len(), 4);
        // Unlimited addresses have no per-host limit.
        for _ in 0..10 {
            assert!(t.open(None, "local").shed.is_empty());
        }
    }

    #[test]
    fn a_full_thread_closes_its_longest_idle_connection_for_a_newcomer() {
        let mut t = table(3, 10);
        let old = t.open(host(1), "old").id.unwrap();
        let mid = t.open(host(2), "mid").id.unwrap();
        t.open(host(3), "new").id.unwrap();
        // The oldest is writing an answer: the next longest idle goes.
        t.busy(old);
        let o = t.open(host(4), "newcomer");
        assert_eq!(o.shed, vec!["mid"]);
        assert!(o.id.is_some());
        assert_eq!(t.close(mid), None, "already closed");
        // Everyone busy: the newcomer is the one closed.
        let mut t = table(1, 10);
        let only = t.open(host(1), "only").id.unwrap();
        t.busy(only);
        let o = t.open(host(2), "late");
        assert!(o.id.is_none() && o.shed.is_empty());
        assert_eq!(t.close(only), Some("only"));
        assert!(t.is_empty());
    }

    #[test]
    fn thousands_of_idle_connections_from_one_host_keep_nobody_else_out() {
        let mut t = table(64, 8);
        let honest: Vec<ConnId> = (0..20)
            .map(|i| t.open(host(100 + i), "honest").id.unwrap())
            .collect();
        let mut shed = 0;
        for _ in 0..5000 {
            let o = t.open(host(66), "attacker");
            assert!(o.id.is_some());
            shed += o.shed.len();
            assert!(o.shed.iter().all(|h| *h == "attacker"));
        }
        assert_eq!(shed, 5000 - 8);
        assert_eq!(t.len(), 28);
        for id in honest {
            assert_eq!(t.close(id), Some("honest"));
        }
        // Slots are reused, and an id of a closed connection stays dead.
        assert_eq!(t.slots.len(), 28);
    }
}
