//! How a simulated peer behaves, and how arrivals are assigned a behaviour.
//!
//! Every behaviour is modelled through the same charging decision the node and the
//! verifier use ([`ilpt_protocol::charging::Terms::decide`]); a behaviour changes only
//! what the peer *pays*, what *vouchers* it sends, and whether it *checks* before serving.

use serde::Serialize;

use crate::config::BehaviourMix;
use crate::random::Stream;

/// What a peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// The original seed: has every piece, never leaves, serves only against payment.
    Creator,
    /// Pays the price, serves only against valid vouchers.
    Honest,
    /// Never pays; serves honestly if it ever gets pieces.
    FreeRider,
    /// Pays for its own download, then serves anyone without asking the verifier.
    Pirate,
    /// Pays for 1/k of the file and shows that one receipt to k seeders.
    Replayer,
    /// Pays nothing; its vouchers carry forged signatures.
    Forger,
    /// Pays, but buys from its own group's seeds so that the seeder share comes back.
    Colluder,
    /// Never pays; comes back under a fresh identity when refused.
    Sybil,
    /// Pays, never attests a delivery, and once each share is movable buys the piece
    /// again through a second key of its own and attests that key, to take the seeder
    /// shares back (its take is bounded by `ilpt_protocol::delivery::ACK_WINDOW` per
    /// honest peer that served it).
    ShareThief,
}

impl Behaviour {
    /// Every behaviour, in report order.
    pub const ALL: [Behaviour; 9] = [
        Behaviour::Creator,
        Behaviour::Honest,
        Behaviour::FreeRider,
        Behaviour::Pirate,
        Behaviour::Replayer,
        Behaviour::Forger,
        Behaviour::Colluder,
        Behaviour::Sybil,
        Behaviour::ShareThief,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Creator => "creator",
            Behaviour::Honest => "honest",
            Behaviour::FreeRider => "free_rider",
            Behaviour::Pirate => "pirate",
            Behaviour::Replayer => "replayer",
            Behaviour::Forger => "forger",
            Behaviour::Colluder => "colluder",
            Behaviour::Sybil => "sybil",
            Behaviour::ShareThief => "share_thief",
        }
    }

    /// Whether this peer asks the verifier before it serves.
    pub fn checks_payment(self) -> bool {
        self != Behaviour::Pirate
    }

    /// Whether it attests the pieces it receives (a share thief withholds).
    pub fn attests(self) -> bool {
        self != Behaviour::ShareThief
    }

    /// Whether its vouchers verify (a forger's do not).
    pub fn signs_honestly(self) -> bool {
        self != Behaviour::Forger
    }

    /// Whether it can end up unable to pay for the whole file, and so gives up when
    /// nobody serves it (`behaviours.patience_s`).
    pub fn may_starve(self) -> bool {
        matches!(
            self,
            Behaviour::FreeRider | Behaviour::Replayer | Behaviour::Forger | Behaviour::Sybil
        )
    }
}

/// Draws a behaviour for each arrival from the scenario's fractions.
#[derive(Debug, Clone)]
pub(crate) struct Assigner {
    cumulative: Vec<(f64, Behaviour)>,
    stream: Stream,
}

impl Assigner {
    /// An assigner for `mix`, drawing from `stream`.
    pub(crate) fn new(mix: &BehaviourMix, stream: Stream) -> Assigner {
        let mut at = 0.0;
        let mut cumulative = Vec::new();
        for (f, b) in [
            (mix.free_rider, Behaviour::FreeRider),
            (mix.pirate, Behaviour::Pirate),
            (mix.replayer, Behaviour::Replayer),
            (mix.forger, Behaviour::Forger),
            (mix.colluder, Behaviour::Colluder),
            (mix.sybil, Behaviour::Sybil),
            (mix.share_thief, Behaviour::ShareThief),
        ] {
            if f > 0.0 {
                at += f;
                cumulative.push((at, b));
            }
        }
        Assigner { cumulative, stream }
    }

    /// The next arrival's behaviour.
    pub(crate) fn next(&mut self) -> Behaviour {
        if self.cumulative.is_empty() {
            return Behaviour::Honest;
        }
        let u = self.stream.unit();
        self.cumulative
            .iter()
            .find(|(at, _)| u <= *at)
            .map_or(Behaviour::Honest, |(_, b)| *b)
    }
}
