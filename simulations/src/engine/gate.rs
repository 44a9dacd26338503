//! The serving peer's payment check, as the node runs it before a piece leaves:
//! present the payer's receipt and voucher to the verifier and serve only if the spend
//! is accepted. A pirate skips the check. While the verifier is down, a fail-closed
//! peer serves nothing and a fail-open one serves on a bounded credit, keeping the
//! voucher to spend when the verifier returns.

use super::Engine;
use crate::config::VerifierMode;
use crate::flows::{Payment, NO_TICKET};
use crate::peer::PeerId;

/// The serving peer's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Gate {
    /// Serve after `wait` seconds (the verifier's answer).
    Serve {
        /// How it is paid.
        payment: Payment,
        /// Seconds until bytes flow.
        wait: f64,
        /// Deferred voucher index, or `NO_TICKET`.
        ticket: u32,
    },
    /// Do not serve; `lasting` if asking again cannot help (no balance, forged).
    Refuse {
        /// The refusal stands for the rest of the connection.
        lasting: bool,
    },
}

impl Engine {
    /// Whether `u` can serve anyone at all now.
    pub(super) fn may_serve(&self, u: PeerId) -> bool {
        self.verifier_up
            || self.cfg.license.price.0 == 0
            || !self.peers[u as usize].behaviour.checks_payment()
            || self.cfg.faults.verifier_mode != VerifierMode::FailClosed
    }

    /// Whether `u` serves `piece` to `d`.
    pub(super) fn gate(&mut self, u: PeerId, d: PeerId, piece: u32) -> Gate {
        let serve = |payment, wait| Gate::Serve {
            payment,
            wait,
            ticket: NO_TICKET,
        };
        if self.cfg.license.price.0 == 0 {
            return serve(Payment::Paid, 0.0);
        }
        let payer = self.peers[d as usize].identity;
        if !self.peers[u as usize].behaviour.checks_payment() {
            let paid = self.ledger.has_paid(payer, piece);
            return serve(if paid { Payment::Paid } else { Payment::Unpaid }, 0.0);
        }
        let forged = !self.peers[d as usize].behaviour.signs_honestly();
        let payee = self.peers[u as usize].identity;
        if !self.verifier_up {
            return match self.cfg.faults.verifier_mode {
                VerifierMode::FailClosed => Gate::Refuse { lasting: false },
                VerifierMode::FailOpen { credit } => {
                    let price = self.ledger.piece_price(piece);
                    let open = self.open_credit.entry((u, d)).or_default();
                    if *open + price > credit.0 {
                        return Gate::Refuse { lasting: false };
                    }
                    *open += price;
                    let ticket = self.defer(payer, payee, piece, forged, d);
                    Gate::Serve {
                        payment: Payment::Deferred,
                        wait: 0.0,
                        ticket,
                    }
                }
            };
        }
        if let Some(r) = self.peers[d as usize].receipt {
            self.ledger.credit(payer, r);
        }
        // Requests are pipelined: while a serving peer is sending, it already spends
        // the vouchers of the requests queued behind, so the verifier's round trip
        // delays a transfer only when the peer had nothing in flight to hide it behind.
        let wait = if self.peers[u as usize].active_up == 0 {
            self.cfg.license.verifier_latency_s
        } else {
            0.0
        };
        match self.ledger.spend(payer, payee, piece, forged, self.now) {
            // An honest peer serves a payer only while few of its deliveries to it are
            // unattested; a payer that never attests is refused for good.
            Ok(_) if self.window_allows(u, d, piece) => serve(Payment::Paid, wait),
            Ok(_) | Err(_) => Gate::Refuse { lasting: true },
        }
    }
}
