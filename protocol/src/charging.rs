//! The charging rules: what a spend voucher does to a payer's balance, and who earns
//! each piece's seeder share. The verifier carries these decisions out in its ledger,
//! the simulator in memory; neither decides itself.
//!
//! # The rule
//!
//! **A payer pays for a piece at most once. The creator's share of it is earned when it
//! is charged. A serving peer earns the seeder share only once the payer attests that
//! it received the piece from that peer and the piece passed its hash check.**
//!
//! 1. A voucher is spendable only until its deadline, and the deadline may lie at most
//!    [`Windows::max_validity`] ahead of the verifier's clock. A payee the payer
//!    revoked (banned) can spend none of the payer's vouchers.
//! 2. The first spend for a piece charges its price ([`crate::split::piece_price`]):
//!    the creator's part is earned at once; the seeder part is **pending** with the
//!    voucher's payee, its *holder* ([`SpendDecision::Charge`]).
//! 3. A delivery attestation of the payer ([`crate::delivery`]) that covers the piece
//!    and names the holder **settles** the share: it is the holder's, for good
//!    ([`AttestDecision::Settle`]). Settled shares never move.
//! 4. A pending share is **movable** once its holder has held it for
//!    [`Windows::move_after`] without an attestation (it had its chance and did not
//!    deliver), or as soon as the payer revoked the holder. Never sooner. A movable
//!    share goes to another payee when that payee spends a voucher for the piece
//!    ([`SpendDecision::Move`], pending again) or when the payer attests that payee
//!    delivered it ([`AttestDecision::Take`], settled). Before it is movable, another
//!    payee's voucher changes nothing ([`SpendDecision::Held`]: the piece is paid, so
//!    that payee may serve it; an attestation for it is a claim settled later,
//!    [`SettleDecision::Move`]).
//! 5. A share still pending [`Windows::forfeit_after`] after its holder got it, with
//!    nobody to move to, goes to the creator, settled ([`SettleDecision::Forfeit`]).
//!
//! # What it guarantees, and against whom
//!
//! - A payer never pays more than the license price, and every unit charged is the
//!   creator's, settled with a payee, or pending with exactly one payee.
//! - *A payee that took vouchers and delivered nothing earns nothing*: an honest payer
//!   attests only what arrived and checked, so its shares stay pending, then move to
//!   whoever delivered or go to the creator. Spending late does not help it either:
//!   a voucher dies at its deadline, and a share the payer attested for another payee
//!   is settled there.
//! - *A payer cannot take a share back* by naming a second key of its own: a second
//!   voucher changes nothing while the first payee may still deliver (H2 of the
//!   adversarial probe), and a settled share never moves.
//! - *Withholding attestations earns the payer nothing*: a share never attested goes
//!   to the creator. A payer that also re-buys through a key of its own can redirect
//!   only movable shares, that is shares of deliveries it left unattested; a serving
//!   peer stops serving a payer while [`crate::delivery::ACK_WINDOW`] of its deliveries
//!   are unattested, so that is at most `ACK_WINDOW` seeder shares per honest serving
//!   peer, paid for out of the payer's own full price.
//!
//! The property tests at the end of this file hold these, including the attacks.

use crate::amount::{Amount, Bps};
use crate::keys::PublicKey;
use crate::split::{piece_price, split};
use crate::voucher::Voucher;

/// The validity an honest payer gives its vouchers: long enough for a serving peer to
/// batch and spend it, short enough that a payee cannot keep vouchers to spend later.
pub const VOUCHER_VALIDITY_S: u64 = 60;

/// The rule's time windows, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Windows {
    /// The furthest ahead of the verifier's clock a voucher's deadline may be: the
    /// validity honest payers use plus a margin for clocks that disagree.
    pub max_validity: u64,
    /// How long a holder keeps an unattested share before it may move: longer than an
    /// honest holder needs to spend, serve, and hand back the payer's attestation.
    pub move_after: u64,
    /// How long an unattested share waits for someone to move to before it goes to
    /// the creator.
    pub forfeit_after: u64,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows {
            max_validity: 2 * VOUCHER_VALIDITY_S,
            move_after: 120,
            forfeit_after: 3600,
        }
    }
}

/// The license terms the rules need (from a parsed, signature-checked license).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// Price of the whole file.
    pub price: Amount,
    /// Number of pieces of the torrent.
    pub piece_count: u32,
    /// Creator's share of each spend.
    pub creator_share: Bps,
    /// The creator's key: the creator's part of every charge is its, and as a payee it
    /// holds seeder shares like any other.
    pub creator: PublicKey,
}

/// A piece a payer has been charged for: who holds its seeder share, since when, and
/// whether that is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// The payee holding the seeder share (the creator once forfeited).
    pub holder: PublicKey,
    /// When the holder got it (seconds).
    pub since: u64,
    /// Settled: attested for the holder, or the creator's; it never moves again.
    pub settled: bool,
}

/// What the driver knows of the parties besides the share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// The payer revoked the share's holder.
    pub holder_revoked: bool,
    /// The payer revoked the voucher's (or attestation's) payee.
    pub payee_revoked: bool,
    /// The payer has already attested that this payee delivered this piece.
    pub payee_attested: bool,
}

/// What a spend does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendDecision {
    /// First purchase: debit `amount`; `creator` is the creator's at once, `seeder`
    /// is pending with the voucher's payee, the creator too (or settled already, when
    /// `settled`: the share is zero, or the payer attested the delivery).
    Charge {
        /// The amount debited.
        amount: Amount,
        /// The creator's part.
        creator: Amount,
        /// The payee's part.
        seeder: Amount,
        /// The seeder part is settled at once.
        settled: bool,
    },
    /// The piece was paid for, and its movable share moves from `from` to the
    /// voucher's payee (pending, or settled when `settled`). Nothing is debited.
    Move {
        /// The holder losing the share.
        from: PublicKey,
        /// The seeder share moved.
        amount: Amount,
        /// Settled at once (the payer attested the delivery already).
        settled: bool,
    },
    /// The piece was paid for and another payee holds its share, which is not movable
    /// before `movable_at`: nothing changes (the payee may serve a paid piece).
    Held {
        /// The holder.
        holder: PublicKey,
        /// When the share becomes movable, unless settled first.
        movable_at: u64,
    },
    /// The voucher's payee holds the share already, or it is settled: nothing changes.
    AlreadyPaid,
}

/// What an attestation of one piece, naming a payee, does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestDecision {
    /// The payee holds the pending share: it is settled, the payee's.
    Settle {
        /// The seeder share settled.
        amount: Amount,
    },
    /// Another holder's share is movable: it moves to the payee, settled.
    Take {
        /// The holder losing it.
        from: PublicKey,
        /// The seeder share.
        amount: Amount,
    },
    /// Another holder's share is pending and not movable yet: the payee's claim is
    /// kept and settled by [`Terms::settle`] once the share is movable.
    Claim,
    /// Nothing to do: no charge for the piece yet, or its share is settled.
    Nothing,
}

/// What happens to a pending share with time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleDecision {
    /// The share is movable and the payer attested that `to` delivered the piece: it
    /// moves there, settled.
    Move {
        /// The claimant.
        to: PublicKey,
        /// The seeder share.
        amount: Amount,
    },
    /// Nobody to move to and `forfeit_after` has passed: the creator's, settled.
    Forfeit {
        /// The seeder share.
        amount: Amount,
    },
}

/// Why a voucher cannot be spent (before looking at the balance).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendRefusal {
    /// The piece index is past the end of the torrent.
    #[error("piece {piece} does not exist (the torrent has {piece_count} pieces)")]
    NoSuchPiece {
        /// The voucher's piece.
        piece: u32,
        /// The torrent's piece count.
        piece_count: u32,
    },
    /// The voucher's amount is not the piece's price.
    #[error("piece {piece} costs {expected}, but the voucher authorises {found}")]
    WrongAmount {
        /// The voucher's piece.
        piece: u32,
        /// The price by the license.
        expected: Amount,
        /// What the voucher says.
        found: Amount,
    },
    /// The payer names itself as payee (it would earn from its own purchase).
    #[error("a payer cannot be its own payee")]
    SelfPayee,
    /// The deadline has passed.
    #[error("voucher expired at {expires} (now {now})")]
    Expired {
        /// The voucher's deadline.
        expires: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// The deadline is further ahead than [`Windows::max_validity`].
    #[error("voucher deadline {expires} is more than {max} s ahead (now {now})")]
    TooLong {
        /// The voucher's deadline.
        expires: u64,
        /// The verifier's clock.
        now: u64,
        /// The longest validity allowed.
        max: u64,
    },
    /// The payer revoked (banned) this payee.
    #[error("the payer revoked this payee: it may spend none of the payer's vouchers")]
    Revoked,
}

impl SpendRefusal {
    /// True for a refusal that only the payer's signature makes final (the payee may
    /// not spend), as opposed to a malformed voucher.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, SpendRefusal::Revoked)
    }
}

/// The fields of a [`Voucher`] that the rules look at, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct VoucherParts<'a> {
    /// The piece paid for.
    pub piece: u32,
    /// The amount the voucher authorises.
    pub amount: Amount,
    /// Who pays.
    pub payer: &'a PublicKey,
    /// Who is paid (the serving peer).
    pub payee: &'a PublicKey,
    /// The deadline.
    pub expires: u64,
}

impl<'a> From<&'a Voucher> for VoucherParts<'a> {
    fn from(v: &'a Voucher) -> VoucherParts<'a> {
        VoucherParts {
            piece: v.piece,
            amount: v.amount,
            payer: &v.payer,
            payee: &v.payee,
            expires: v.expires,
        }
    }
}

impl Share {
    /// Whether the share may move to another payee at `now` (rule 4).
    pub fn movable(&self, now: u64, windows: &Windows, holder_revoked: bool) -> bool {
        !self.settled && (holder_revoked || now >= self.since.saturating_add(windows.move_after))
    }
}

impl Terms {
    /// The price of piece `piece` (`None` past the end).
    pub fn piece_price_of(&self, piece: u32) -> Option<Amount> {
        piece_price(self.price, self.piece_count, piece)
    }

    /// The seeder share of piece `piece`, whoever holds it (the creator too).
    pub fn seeder_share(&self, piece: u32) -> Amount {
        let price = piece_price(self.price, self.piece_count, piece).unwrap_or(Amount::ZERO);
        split(price, self.creator_share, false).seeder
    }

    /// Decides what spending `voucher` does at `now`, given the payer's share of its
    /// piece (if it was charged) and the parties' standing.
    pub fn decide(
        &self,
        voucher: &Voucher,
        share: Option<&Share>,
        standing: Standing,
        now: u64,
        windows: &Windows,
    ) -> Result<SpendDecision, SpendRefusal> {
        self.decide_parts(voucher.into(), share, standing, now, windows)
    }

    /// [`Terms::decide`] on a voucher's fields, borrowed (a driver that decides 10⁸
    /// spends, the simulator, keeps its keys in one table and lends them).
    pub fn decide_parts(
        &self,
        voucher: VoucherParts<'_>,
        share: Option<&Share>,
        standing: Standing,
        now: u64,
        windows: &Windows,
    ) -> Result<SpendDecision, SpendRefusal> {
        let expected = piece_price(self.price, self.piece_count, voucher.piece).ok_or(
            SpendRefusal::NoSuchPiece {
                piece: voucher.piece,
                piece_count: self.piece_count,
            },
        )?;
        if voucher.amount != expected {
            return Err(SpendRefusal::WrongAmount {
                piece: voucher.piece,
                expected,
                found: voucher.amount,
            });
        }
        if voucher.payer == voucher.payee {
            return Err(SpendRefusal::SelfPayee);
        }
        if now > voucher.expires {
            return Err(SpendRefusal::Expired {
                expires: voucher.expires,
                now,
            });
        }
        if voucher.expires > now.saturating_add(windows.max_validity) {
            return Err(SpendRefusal::TooLong {
                expires: voucher.expires,
                now,
                max: windows.max_validity,
            });
        }
        if standing.payee_revoked {
            return Err(SpendRefusal::Revoked);
        }
        // The creator serving its own file is a payee like any other: its seeder share
        // is pending until the payer attests the delivery. Were it settled at the
        // charge, a payer's voucher to the creator for a piece that then came from
        // another peer (a downloader pays ahead the first peer it asks, often the
        // creator) would keep that peer from ever earning it.
        let Some(share) = share else {
            let s = split(expected, self.creator_share, false);
            return Ok(SpendDecision::Charge {
                amount: expected,
                creator: s.creator,
                seeder: s.seeder,
                settled: s.seeder == Amount::ZERO || standing.payee_attested,
            });
        };
        if share.holder == *voucher.payee || share.settled {
            return Ok(SpendDecision::AlreadyPaid);
        }
        if share.movable(now, windows, standing.holder_revoked) {
            return Ok(SpendDecision::Move {
                from: share.holder,
                amount: self.seeder_share(voucher.piece),
                settled: standing.payee_attested,
            });
        }
        Ok(SpendDecision::Held {
            holder: share.holder,
            movable_at: share.since.saturating_add(windows.move_after),
        })
    }

    /// Decides what the payer's attestation that `payee` delivered `piece` does at
    /// `now`. `standing.holder_revoked` is whether the payer revoked the share's holder.
    pub fn attest(
        &self,
        piece: u32,
        payee: &PublicKey,
        share: Option<&Share>,
        standing: Standing,
        now: u64,
        windows: &Windows,
    ) -> AttestDecision {
        let Some(share) = share else {
            return AttestDecision::Nothing;
        };
        if share.settled || standing.payee_revoked || piece >= self.piece_count {
            return AttestDecision::Nothing;
        }
        let amount = self.seeder_share(piece);
        if share.holder == *payee {
            return AttestDecision::Settle { amount };
        }
        if share.movable(now, windows, standing.holder_revoked) {
            return AttestDecision::Take {
                from: share.holder,
                amount,
            };
        }
        AttestDecision::Claim
    }

    /// Decides what time does to a pending share of `piece` at `now`: `claimant` is a
    /// payee the payer attested delivered it (other than the holder), if any.
    pub fn settle(
        &self,
        piece: u32,
        share: &Share,
        claimant: Option<&PublicKey>,
        holder_revoked: bool,
        now: u64,
        windows: &Windows,
    ) -> Option<SettleDecision> {
        if share.settled {
            return None;
        }
        let amount = self.seeder_share(piece);
        match claimant {
            Some(to) if *to != share.holder && share.movable(now, windows, holder_revoked) => {
                Some(SettleDecision::Move { to: *to, amount })
            }
            _ if now >= share.since.saturating_add(windows.forfeit_after) => {
                Some(SettleDecision::Forfeit { amount })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info_hash::InfoHash;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// The key of party `n` (made once: a test makes millions of lookups).
    fn key(n: u8) -> PublicKey {
        static KEYS: std::sync::OnceLock<Vec<PublicKey>> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            (0..=255u8)
                .map(|n| SigningKey::from_bytes(&[n; 32]).verifying_key().into())
                .collect()
        })[n as usize]
    }

    /// The parties the properties use: the creator, payees and payers.
    const PARTIES: std::ops::Range<u8> = 0..16;

    const W: Windows = Windows {
        max_validity: 120,
        move_after: 100,
        forfeit_after: 1000,
    };

    fn terms() -> Terms {
        Terms {
            price: Amount(1000),
            piece_count: 3,
            creator_share: Bps::new(8000).unwrap(),
            creator: key(1),
        }
    }

    fn voucher(piece: u32, amount: u64, payee: u8) -> Voucher {
        Voucher {
            info_hash: InfoHash([0; 20]),
            payer: key(9),
            payee: key(payee),
            piece,
            amount: Amount(amount),
            seq: 0,
            expires: 60,
        }
    }

    /// Spends `v`, signed (its deadline set) at `now`.
    fn decide(v: &Voucher, share: Option<Share>, standing: Standing, now: u64) -> SpendDecision {
        let v = Voucher {
            expires: now + 60,
            ..v.clone()
        };
        terms()
            .decide(&v, share.as_ref(), standing, now, &W)
            .unwrap()
    }

    fn pending(holder: u8, since: u64) -> Share {
        Share {
            holder: key(holder),
            since,
            settled: false,
        }
    }

    #[test]
    fn first_spend_charges_the_creator_part_and_leaves_the_seeder_part_pending() {
        // 1000 over 3 pieces: 334, 333, 333.
        let d = decide(&voucher(0, 334, 2), None, Standing::default(), 0);
        assert_eq!(
            d,
            SpendDecision::Charge {
                amount: Amount(334),
                creator: Amount(267),
                seeder: Amount(67),
                settled: false,
            }
        );
        // The creator serving is a payee like any other: its seeder part waits for the
        // payer's attestation too.
        let d = decide(&voucher(1, 333, 1), None, Standing::default(), 0);
        assert_eq!(
            d,
            SpendDecision::Charge {
                amount: Amount(333),
                creator: Amount(266),
                seeder: Amount(67),
                settled: false,
            }
        );
    }

    #[test]
    fn a_share_the_creator_holds_moves_to_the_peer_that_delivered() {
        // The payer paid the creator ahead for piece 0, then got it from payee 2.
        let share = pending(1, 0);
        let early = decide(
            &voucher(0, 334, 2),
            Some(share),
            Standing::default(),
            W.move_after - 1,
        );
        assert!(matches!(early, SpendDecision::Held { .. }), "{early:?}");
        let attested = Standing {
            payee_attested: true,
            ..Standing::default()
        };
        assert_eq!(
            terms().attest(0, &key(2), Some(&share), attested, W.move_after, &W),
            AttestDecision::Take {
                from: key(1),
                amount: Amount(67)
            }
        );
        // Unattested and unclaimed, it is the creator's in the end.
        assert_eq!(
            terms().settle(0, &share, None, false, W.forfeit_after, &W),
            Some(SettleDecision::Forfeit { amount: Amount(67) })
        );
    }

    #[test]
    fn a_second_payee_changes_nothing_until_the_share_is_movable() {
        let v = voucher(2, 333, 3);
        assert_eq!(
            decide(&v, Some(pending(2, 10)), Standing::default(), 50),
            SpendDecision::Held {
                holder: key(2),
                movable_at: 110
            }
        );
        assert_eq!(
            decide(&v, Some(pending(2, 10)), Standing::default(), 110),
            SpendDecision::Move {
                from: key(2),
                amount: Amount(67),
                settled: false
            }
        );
        let revoked = Standing {
            holder_revoked: true,
            ..Standing::default()
        };
        assert!(matches!(
            decide(&v, Some(pending(2, 10)), revoked, 11),
            SpendDecision::Move { .. }
        ));
        let settled = Share {
            settled: true,
            ..pending(2, 10)
        };
        assert_eq!(
            decide(&v, Some(settled), revoked, 10_000),
            SpendDecision::AlreadyPaid
        );
        assert_eq!(
            decide(
                &voucher(2, 333, 2),
                Some(pending(2, 10)),
                Standing::default(),
                20
            ),
            SpendDecision::AlreadyPaid
        );
    }

    #[test]
    fn bad_vouchers_are_refused() {
        let t = terms();
        let refuse = |v: &Voucher, standing, now| t.decide(v, None, standing, now, &W);
        let s = Standing::default();
        assert!(matches!(
            refuse(&voucher(0, 333, 2), s, 0),
            Err(SpendRefusal::WrongAmount { .. })
        ));
        assert!(matches!(
            refuse(&voucher(3, 333, 2), s, 0),
            Err(SpendRefusal::NoSuchPiece { .. })
        ));
        assert_eq!(
            refuse(&voucher(0, 334, 9), s, 0),
            Err(SpendRefusal::SelfPayee)
        );
        assert!(matches!(
            refuse(&voucher(0, 334, 2), s, 61),
            Err(SpendRefusal::Expired { .. })
        ));
        let far = Voucher {
            expires: 500,
            ..voucher(0, 334, 2)
        };
        assert!(matches!(
            refuse(&far, s, 0),
            Err(SpendRefusal::TooLong { .. })
        ));
        let revoked = Standing {
            payee_revoked: true,
            ..s
        };
        assert_eq!(
            refuse(&voucher(0, 334, 2), revoked, 0),
            Err(SpendRefusal::Revoked)
        );
    }

    #[test]
    fn attestations_settle_take_or_claim() {
        let t = terms();
        let s = Standing::default();
        let p = pending(2, 10);
        assert_eq!(
            t.attest(2, &key(2), Some(&p), s, 20, &W),
            AttestDecision::Settle { amount: Amount(67) }
        );
        assert_eq!(
            t.attest(2, &key(3), Some(&p), s, 20, &W),
            AttestDecision::Claim
        );
        assert_eq!(
            t.attest(2, &key(3), Some(&p), s, 110, &W),
            AttestDecision::Take {
                from: key(2),
                amount: Amount(67)
            }
        );
        assert_eq!(
            t.attest(2, &key(3), None, s, 20, &W),
            AttestDecision::Nothing
        );
        assert_eq!(
            t.settle(2, &p, Some(&key(3)), false, 109, &W),
            None,
            "not movable yet"
        );
        assert_eq!(
            t.settle(2, &p, Some(&key(3)), false, 110, &W),
            Some(SettleDecision::Move {
                to: key(3),
                amount: Amount(67)
            })
        );
        assert_eq!(
            t.settle(2, &p, None, false, 1010, &W),
            Some(SettleDecision::Forfeit { amount: Amount(67) })
        );
        assert_eq!(t.settle(2, &p, None, false, 1009, &W), None);
    }

    /// A carry-out of the rules in memory, for the properties: per (payer, piece) the
    /// share, per party what is earned (settled) and pending.
    #[derive(Default)]
    struct Book {
        shares: HashMap<(u8, u32), Share>,
        attested: HashSet<(u8, u8, u32)>,
        revoked: HashSet<(u8, u8)>,
        earned: HashMap<PublicKey, u128>,
        pending: HashMap<PublicKey, u128>,
        charged: HashMap<u8, u128>,
        /// Every settlement of a non-creator: (payer, payee, piece).
        settlements: Vec<(u8, PublicKey, u32)>,
    }

    impl Book {
        fn add(map: &mut HashMap<PublicKey, u128>, k: PublicKey, a: Amount) {
            *map.entry(k).or_default() += u128::from(a.0);
        }
        fn sub(map: &mut HashMap<PublicKey, u128>, k: PublicKey, a: Amount) {
            let e = map.entry(k).or_default();
            *e = e
                .checked_sub(u128::from(a.0))
                .expect("pending went negative");
        }
        fn standing(&self, payer: u8, holder: Option<&Share>, payee: u8, piece: u32) -> Standing {
            let revoked = |k: &PublicKey| {
                PARTIES
                    .clone()
                    .any(|n| key(n) == *k && self.revoked.contains(&(payer, n)))
            };
            Standing {
                holder_revoked: holder.is_some_and(|s| revoked(&s.holder)),
                payee_revoked: self.revoked.contains(&(payer, payee)),
                payee_attested: self.attested.contains(&(payer, payee, piece)),
            }
        }
        fn settle_to(&mut self, t: &Terms, payer: u8, piece: u32, to: PublicKey) {
            if to != t.creator {
                self.settlements.push((payer, to, piece));
            }
        }
        /// Gives `payer`'s seeder share of `piece` to `to`: earned at once if settled,
        /// pending otherwise.
        #[allow(clippy::too_many_arguments)]
        fn hand_share(
            &mut self,
            t: &Terms,
            payer: u8,
            piece: u32,
            to: PublicKey,
            amount: Amount,
            settled: bool,
            now: u64,
        ) {
            if settled {
                Book::add(&mut self.earned, to, amount);
                self.settle_to(t, payer, piece, to);
            } else {
                Book::add(&mut self.pending, to, amount);
            }
            let share = Share {
                holder: to,
                since: now,
                settled,
            };
            self.shares.insert((payer, piece), share);
        }
        fn spend(&mut self, t: &Terms, payer: u8, payee: u8, piece: u32, now: u64) {
            let amount = t.piece_price_of(piece).unwrap();
            let v = Voucher {
                info_hash: InfoHash([0; 20]),
                payer: key(payer),
                payee: key(payee),
                piece,
                amount,
                seq: 0,
                expires: now + 60,
            };
            let share = self.shares.get(&(payer, piece)).copied();
            let standing = self.standing(payer, share.as_ref(), payee, piece);
            let Ok(d) = t.decide(&v, share.as_ref(), standing, now, &W) else {
                return;
            };
            match d {
                SpendDecision::Charge {
                    amount,
                    creator,
                    seeder,
                    settled,
                } => {
                    *self.charged.entry(payer).or_default() += u128::from(amount.0);
                    Book::add(&mut self.earned, t.creator, creator);
                    self.hand_share(t, payer, piece, key(payee), seeder, settled, now);
                }
                SpendDecision::Move {
                    from,
                    amount,
                    settled,
                } => {
                    Book::sub(&mut self.pending, from, amount);
                    self.hand_share(t, payer, piece, key(payee), amount, settled, now);
                }
                SpendDecision::Held { .. } | SpendDecision::AlreadyPaid => {}
            }
        }
        fn attest(&mut self, t: &Terms, payer: u8, payee: u8, piece: u32, now: u64) {
            self.attested.insert((payer, payee, piece));
            let share = self.shares.get(&(payer, piece)).copied();
            let standing = self.standing(payer, share.as_ref(), payee, piece);
            match t.attest(piece, &key(payee), share.as_ref(), standing, now, &W) {
                AttestDecision::Settle { amount } => {
                    Book::sub(&mut self.pending, key(payee), amount);
                    Book::add(&mut self.earned, key(payee), amount);
                    self.settle_to(t, payer, piece, key(payee));
                    self.shares.get_mut(&(payer, piece)).unwrap().settled = true;
                }
                AttestDecision::Take { from, amount } => {
                    Book::sub(&mut self.pending, from, amount);
                    Book::add(&mut self.earned, key(payee), amount);
                    self.settle_to(t, payer, piece, key(payee));
                    self.shares.insert(
                        (payer, piece),
                        Share {
                            holder: key(payee),
                            since: now,
                            settled: true,
                        },
                    );
                }
                AttestDecision::Claim | AttestDecision::Nothing => {}
            }
        }
        fn sweep(&mut self, t: &Terms, now: u64) {
            let keys: Vec<(u8, u32)> = self.shares.keys().copied().collect();
            for (payer, piece) in keys {
                let share = self.shares[&(payer, piece)];
                let claimant = PARTIES
                    .clone()
                    .find(|n| {
                        key(*n) != share.holder && self.attested.contains(&(payer, *n, piece))
                    })
                    .map(key);
                let standing = self.standing(payer, Some(&share), 0, piece);
                match t.settle(
                    piece,
                    &share,
                    claimant.as_ref(),
                    standing.holder_revoked,
                    now,
                    &W,
                ) {
                    Some(SettleDecision::Move { to, amount }) => {
                        Book::sub(&mut self.pending, share.holder, amount);
                        Book::add(&mut self.earned, to, amount);
                        self.settle_to(t, payer, piece, to);
                        self.shares.insert(
                            (payer, piece),
                            Share {
                                holder: to,
                                since: now,
                                settled: true,
                            },
                        );
                    }
                    Some(SettleDecision::Forfeit { amount }) => {
                        Book::sub(&mut self.pending, share.holder, amount);
                        Book::add(&mut self.earned, t.creator, amount);
                        self.shares.insert(
                            (payer, piece),
                            Share {
                                holder: t.creator,
                                since: now,
                                settled: true,
                            },
                        );
                    }
                    None => {}
                }
            }
        }
    }

    /// One step of a swarm: payers 10..13, payees 2..6 (1 is the creator).
    #[derive(Debug, Clone)]
    enum Step {
        /// A payer's voucher to a payee is spent.
        Spend(u8, u8, u32),
        /// A payee delivers a piece to the payer (an honest payer attests it).
        Deliver(u8, u8, u32),
        /// The payer revokes a payee.
        Revoke(u8, u8),
        /// Time passes; the verifier sweeps.
        Wait(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (10u8..13, 1u8..6, 0u32..6).prop_map(|(a, b, p)| Step::Spend(a, b, p)),
            (10u8..13, 1u8..6, 0u32..6).prop_map(|(a, b, p)| Step::Deliver(a, b, p)),
            (10u8..13, 2u8..6).prop_map(|(a, b)| Step::Revoke(a, b)),
            (1u64..400).prop_map(Step::Wait),
        ]
    }

    fn terms_of(price: u64, bps: u64) -> Terms {
        Terms {
            price: Amount(price),
            piece_count: 6,
            creator_share: Bps::new(bps).unwrap(),
            creator: key(1),
        }
    }

    proptest! {
        /// Whatever the swarm does: a payer pays the price at most; creator, settled
        /// and pending shares add up to what was charged; only a payee the payer
        /// attested for a piece ever settles that piece's share; a settled share never
        /// moves.
        #[test]
        fn money_is_conserved_and_only_delivery_earns(
            price in 6u64..100_000,
            bps in 0u64..=10_000,
            steps in proptest::collection::vec(step(), 0..150),
        ) {
            let t = terms_of(price, bps);
            let mut b = Book::default();
            let mut now = 0;
            let mut delivered: HashSet<(u8, PublicKey, u32)> = HashSet::new();
            let mut settled_before: HashMap<(u8, u32), PublicKey> = HashMap::new();
            for s in steps {
                match s {
                    Step::Spend(a, p, i) => b.spend(&t, a, p, i, now),
                    Step::Deliver(a, p, i) => {
                        delivered.insert((a, key(p), i));
                        b.attest(&t, a, p, i, now);
                    }
                    Step::Revoke(a, p) => { b.revoked.insert((a, p)); }
                    Step::Wait(dt) => { now += dt; b.sweep(&t, now); }
                }
                for ((payer, piece), share) in &b.shares {
                    if let Some(was) = settled_before.get(&(*payer, *piece)) {
                        prop_assert_eq!(share.holder, *was, "a settled share moved");
                        prop_assert!(share.settled);
                    }
                }
                for ((payer, piece), share) in &b.shares {
                    if share.settled {
                        settled_before.insert((*payer, *piece), share.holder);
                    }
                }
            }
            for (payer, charged) in &b.charged {
                prop_assert!(*charged <= u128::from(price), "payer {payer} paid {charged}");
            }
            let charged: u128 = b.charged.values().sum();
            let earned: u128 = b.earned.values().sum();
            let pending: u128 = b.pending.values().sum();
            prop_assert_eq!(earned + pending, charged);
            for (payer, payee, piece) in &b.settlements {
                prop_assert!(delivered.contains(&(*payer, *payee, *piece)),
                    "{payee} settled piece {piece} of payer {payer} without delivering it");
            }
        }

        /// A payee that spends vouchers (early or late) and delivers nothing earns
        /// nothing from honest payers, however the honest payee's spends interleave.
        #[test]
        fn a_payee_that_never_delivers_never_earns(
            order in proptest::collection::vec((any::<bool>(), 0u32..6, 0u64..200), 0..80),
        ) {
            let t = terms_of(6000, 8000);
            let (thief, honest, payer) = (5u8, 2u8, 10u8);
            let mut b = Book::default();
            let mut now = 0;
            for (thief_first, piece, dt) in order {
                now += dt;
                if thief_first {
                    b.spend(&t, payer, thief, piece, now);
                }
                b.spend(&t, payer, honest, piece, now);
                b.attest(&t, payer, honest, piece, now);
                if !thief_first {
                    b.spend(&t, payer, thief, piece, now);
                }
                b.sweep(&t, now);
            }
            b.sweep(&t, now + 10_000);
            prop_assert_eq!(b.earned.get(&key(thief)).copied().unwrap_or(0), 0);
            prop_assert_eq!(b.pending.get(&key(thief)).copied().unwrap_or(0), 0);
        }

        /// A payer that withholds every attestation from an honest payee, which serves
        /// by [`crate::delivery::Deliveries`], and re-buys through a key of its own,
        /// redirects at most `ACK_WINDOW` seeder shares; by withholding alone it gains
        /// nothing (the shares go to the creator).
        #[test]
        fn withholding_gains_at_most_the_window(
            pieces in 1u32..300,
            redirect in any::<bool>(),
            waits in proptest::collection::vec(0u64..300, 1..20),
        ) {
            use crate::delivery::{Deliveries, ACK_WINDOW};
            let t = Terms { piece_count: pieces, ..terms_of(u64::from(pieces) * 100, 8000) };
            let (payer, honest, sybil) = (10u8, 2u8, 7u8);
            let mut b = Book::default();
            let mut d = Deliveries::default();
            let mut now = 0;
            let mut waits = waits.into_iter().cycle();
            for piece in 0..pieces {
                if !d.may_serve(piece) {
                    break; // the honest peer stops serving this payer
                }
                b.spend(&t, payer, honest, piece, now);
                d.served(piece);
                now += waits.next().unwrap_or(0);
                b.sweep(&t, now);
                if redirect {
                    for p in 0..=piece {
                        b.spend(&t, payer, sybil, p, now);
                        b.attest(&t, payer, sybil, p, now);
                    }
                }
            }
            b.sweep(&t, now + 100_000);
            let taken = b.earned.get(&key(sybil)).copied().unwrap_or(0)
                + b.pending.get(&key(sybil)).copied().unwrap_or(0);
            let max_share = u128::from(t.seeder_share(0).0);
            prop_assert!(taken <= u128::from(ACK_WINDOW) * max_share,
                "the payer's own key took {taken}");
            if !redirect {
                prop_assert_eq!(taken, 0);
            }
            prop_assert_eq!(b.earned.get(&key(honest)).copied().unwrap_or(0), 0, "nothing attested");
        }
    }
}
