//! Transfers as fluid flows. A flow is one upload slot of a serving peer given to one
//! downloader on their connection: it carries pieces back to back, as a BitTorrent
//! connection's pipelined requests do, one piece at a time (`block`), at a rate that
//! changes only when a flow of one of its two peers opens or closes. A piece finishing
//! does not end the flow when the same pair can go on (see
//! `engine::transfers::complete_flow`): the next piece follows at the same rate.
//!
//! Sharing rule (recomputed at every event that opens, activates or closes a flow): a
//! serving peer splits its upload capacity equally among its active flows, which caps
//! each; a downloader water-fills its download capacity over its flows under those caps
//! (each gets an equal share of what the capped ones leave). No peer ever sends or
//! receives more than its capacity, and no downloader leaves capacity unused while one
//! of its flows could go faster. Upload capacity a downloader cannot take is not handed
//! to the uploader's other flows (full max-min fairness would, at the price of a global
//! recomputation at every event).

use ilpt_protocol::wire::BlockRef;

use crate::event::FlowId;
use crate::peer::PeerId;

/// How the bytes of a transfer are paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payment {
    /// A spend was accepted before serving (or the torrent is free).
    Paid,
    /// Served without a spend, and the payer had not paid for the piece.
    Unpaid,
    /// Served on credit while the verifier was down; settled when it returns.
    Deferred,
}

/// One transfer: an upload slot serving one downloader, a piece at a time. One cache
/// line (aligned), as the events that name it read it first.
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(crate) struct Flow {
    /// Serving peer.
    pub(crate) up: PeerId,
    /// Receiving peer.
    pub(crate) down: PeerId,
    /// The piece being transferred now (a whole piece).
    pub(crate) block: BlockRef,
    /// Pieces carried so far, this one included.
    pub(crate) pieces: u32,
    /// Bytes of `block` still to deliver as of `since`.
    pub(crate) left: f64,
    /// Bytes per second since `since` (0 while waiting for the verifier).
    pub(crate) rate: f64,
    /// When `left` and `rate` were last set.
    pub(crate) since: f64,
    /// Bumped at every rate change; stale events carry an older one.
    pub(crate) version: u32,
    /// Carrying bytes (false while the spend is at the verifier).
    pub(crate) active: bool,
    /// How the current piece is paid.
    pub(crate) payment: Payment,
    /// In use (false: on the free list).
    pub(crate) live: bool,
    /// `Deferred` only: index of the voucher awaiting settlement.
    pub(crate) ticket: u32,
}

/// The `ticket` of a flow that owes no settlement.
pub(crate) const NO_TICKET: u32 = u32::MAX;

/// All transfers, in a slab with a free list.
#[derive(Debug, Default)]
pub(crate) struct FlowTable {
    flows: Vec<Flow>,
    free: Vec<FlowId>,
    live: usize,
}

impl FlowTable {
    /// Adds a flow; returns its id.
    pub(crate) fn insert(&mut self, flow: Flow) -> FlowId {
        self.live += 1;
        if let Some(id) = self.free.pop() {
            let version = self.flows[id as usize].version.wrapping_add(1);
            self.flows[id as usize] = Flow { version, ..flow };
            id
        } else {
            self.flows.push(flow);
            (self.flows.len() - 1) as FlowId
        }
    }

    /// Removes a flow; events still scheduled for it become stale.
    pub(crate) fn remove(&mut self, id: FlowId) -> Flow {
        let f = &mut self.flows[id as usize];
        let out = f.clone();
        f.live = false;
        f.version = f.version.wrapping_add(1);
        self.free.push(id);
        self.live -= 1;
        out
    }

    /// The flow `id` (live or not).
    pub(crate) fn get(&self, id: FlowId) -> &Flow {
        &self.flows[id as usize]
    }

    /// Prefetches flow `id`'s record.
    pub(crate) fn prefetch(&self, id: FlowId) {
        if let Some(f) = self.flows.get(id as usize) {
            crate::prefetch::of(f);
        }
    }

    /// The flow `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: FlowId) -> &mut Flow {
        &mut self.flows[id as usize]
    }

    /// Whether `id` is live at `version`.
    pub(crate) fn current(&self, id: FlowId, version: u32) -> bool {
        self.flows
            .get(id as usize)
            .is_some_and(|f| f.live && f.version == version)
    }

    /// Number of live flows.
    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

/// Bytes delivered by `flow` between its last update and `now`.
pub(crate) fn delivered_since(flow: &Flow, now: f64) -> f64 {
    flow.rate * (now - flow.since)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Flow>(), 64);
        assert_eq!(std::mem::align_of::<Flow>(), 64);
    }
}
