//! Bandwidth sharing, recomputed after each event for the peers whose transfers
//! changed (see [`crate::flows`] for the rule): a serving peer's capacity is split
//! equally among its active uploads, which caps each; a downloader's capacity is then
//! water-filled over its active downloads under those caps (max-min on the download
//! side). A flow whose rate changes has its delivered bytes settled and its completion
//! rescheduled.

use super::Engine;
use crate::event::{Event, FlowId};
use crate::flows::delivered_since;
use crate::peer::PeerId;

impl Engine {
    /// Recomputes the rates of the flows touched by this event.
    pub(super) fn flush_rates(&mut self) {
        if self.dirty.is_empty() && self.refill.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        let mut refill = std::mem::take(&mut self.refill);
        // An uploader's count sets the caps of its uploads: refill their downloaders.
        // (Unless the count is back where it was when the rates were last computed.)
        dirty.sort_unstable();
        dirty.dedup();
        for &u in &dirty {
            let peer = &mut self.peers[u as usize];
            if peer.active_up == peer.flushed_up {
                continue;
            }
            peer.flushed_up = peer.active_up;
            refill.extend(peer.uploads.iter().map(|l| l.peer));
        }
        refill.sort_unstable();
        refill.dedup();
        for &d in &refill {
            self.water_fill(d);
        }
        refill.clear();
        self.refill = refill;
        dirty.clear();
        self.dirty = dirty;
    }

    /// Shares `d`'s download capacity over its active downloads, each capped by its
    /// uploader's equal share.
    fn water_fill(&mut self, d: PeerId) {
        let mut caps = std::mem::take(&mut self.scratch);
        caps.clear();
        let peer = &self.peers[d as usize];
        for (k, l) in peer.downloads.iter().enumerate() {
            if l.active {
                caps.push((self.share[l.peer as usize], l.flow, k));
            }
        }
        caps.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut left = peer.download_bps;
        let n = caps.len();
        for (i, &(cap, id, k)) in caps.iter().enumerate() {
            let share = left / (n - i) as f64;
            let rate = cap.min(share);
            left -= rate;
            // Summation order can move a recomputed share by an ulp; that is no change.
            let link = &mut self.peers[d as usize].downloads[k];
            if (rate - link.rate).abs() > 1e-9 * rate {
                link.rate = rate;
                self.set_rate(id, rate);
            }
        }
        self.scratch = caps;
    }

    fn set_rate(&mut self, id: FlowId, rate: f64) {
        let now = self.now;
        let f = self.flows.get_mut(id);
        f.left = (f.left - delivered_since(f, now)).max(0.0);
        f.since = now;
        f.rate = rate;
        f.version = f.version.wrapping_add(1);
        let at = now + f.left / rate;
        let version = f.version;
        self.queue.push(at, Event::FlowDone { flow: id, version });
    }
}
