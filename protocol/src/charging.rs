//! The charging rules: what a spend voucher does to a payer's balance and to the
//! earnings of the creator and the serving peers. The verifier carries these decisions
//! out in its ledger; the simulator carries them out in memory. Neither decides itself.
//!
//! - Piece `i` costs [`crate::split::piece_price`]; a voucher must name exactly that.
//! - A payer is charged for a piece at most once. The first spend debits the price and
//!   splits it ([`crate::split::split`]).
//! - A later voucher for a piece already paid, naming another payee, charges nothing and
//!   *moves* the piece's seeder share from the earlier payee to the new one (a payer that
//!   got nothing from the first payee can buy elsewhere without paying twice; a peer
//!   that often loses pieces this way is a bad peer).
//! - A later voucher naming the same payee changes nothing.
//!
//! So a payer never pays more than the license price in total, and every unit charged
//! is attributed to exactly one party.

use crate::amount::{Amount, Bps};
use crate::keys::PublicKey;
use crate::split::{piece_price, split};
use crate::voucher::Voucher;

/// The license terms the rules need (from a parsed, signature-checked license).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// Price of the whole file.
    pub price: Amount,
    /// Number of pieces of the torrent.
    pub piece_count: u32,
    /// Creator's share of each spend.
    pub creator_share: Bps,
    /// The creator's key (a spend served by the creator pays the creator everything).
    pub creator: PublicKey,
}

/// A piece this payer has already paid for, and to whom its seeder share went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaidPiece {
    /// The payee credited with the piece's seeder share.
    pub payee: PublicKey,
}

/// Who earns what from one decision. `party` amounts are signed to express moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendDecision {
    /// First purchase: debit `amount` from the payer's balance; `creator` and `seeder`
    /// amounts go to the creator and to `payee` (sum = amount).
    Charge {
        /// The amount debited.
        amount: Amount,
        /// The creator's part.
        creator: Amount,
        /// The payee's part (zero when the payee is the creator).
        seeder: Amount,
    },
    /// Already paid to another payee: debit nothing, move `amount` of earnings from
    /// `from` to the voucher's payee.
    Move {
        /// The earlier payee, which loses the seeder share.
        from: PublicKey,
        /// The seeder share moved.
        amount: Amount,
    },
    /// Already paid to this same payee: nothing changes.
    AlreadyPaid,
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
}

impl Terms {
    /// The price of piece `piece` (`None` past the end).
    pub fn piece_price_of(&self, piece: u32) -> Option<Amount> {
        piece_price(self.price, self.piece_count, piece)
    }

    /// The seeder share of piece `piece` when a non-creator serves it.
    pub fn seeder_share(&self, piece: u32) -> Amount {
        let price = piece_price(self.price, self.piece_count, piece).unwrap_or(Amount::ZERO);
        split(price, self.creator_share, false).seeder
    }

    /// Decides what `voucher` does, given whether its piece was already paid for.
    pub fn decide(
        &self,
        voucher: &Voucher,
        already: Option<PaidPiece>,
    ) -> Result<SpendDecision, SpendRefusal> {
        self.decide_parts(
            VoucherParts {
                piece: voucher.piece,
                amount: voucher.amount,
                payer: &voucher.payer,
                payee: &voucher.payee,
            },
            already.as_ref().map(|p| &p.payee),
        )
    }

    /// [`Terms::decide`] on a voucher's fields, borrowed, and the payee the piece was
    /// already paid to: the same decision without building a [`Voucher`] (a driver
    /// that decides 10⁸ spends, the simulator, keeps its keys in one table and lends
    /// them).
    pub fn decide_parts(
        &self,
        voucher: VoucherParts<'_>,
        already_paid_to: Option<&PublicKey>,
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
        match already_paid_to {
            None => {
                let s = split(expected, self.creator_share, *voucher.payee == self.creator);
                Ok(SpendDecision::Charge {
                    amount: expected,
                    creator: s.creator,
                    seeder: s.seeder,
                })
            }
            Some(paid) if paid == voucher.payee => Ok(SpendDecision::AlreadyPaid),
            Some(paid) => Ok(SpendDecision::Move {
                from: *paid,
                amount: self.seeder_share(voucher.piece),
            }),
        }
    }
}

/// The fields of a [`Voucher`] that [`Terms::decide_parts`] looks at, borrowed.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info_hash::InfoHash;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        SigningKey::from_bytes(&[n; 32]).verifying_key().into()
    }

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
        }
    }

    #[test]
    fn first_spend_charges_and_splits() {
        // 1000 over 3 pieces: 334, 333, 333.
        let d = terms().decide(&voucher(0, 334, 2), None).unwrap();
        assert_eq!(
            d,
            SpendDecision::Charge {
                amount: Amount(334),
                creator: Amount(267),
                seeder: Amount(67)
            }
        );
        let d = terms().decide(&voucher(1, 333, 1), None).unwrap();
        assert_eq!(
            d,
            SpendDecision::Charge {
                amount: Amount(333),
                creator: Amount(333),
                seeder: Amount(0)
            }
        );
    }

    #[test]
    fn second_payee_gets_the_seeder_share_moved_not_charged() {
        let paid = Some(PaidPiece { payee: key(2) });
        assert_eq!(
            terms().decide(&voucher(2, 333, 2), paid).unwrap(),
            SpendDecision::AlreadyPaid
        );
        assert_eq!(
            terms().decide(&voucher(2, 333, 3), paid).unwrap(),
            SpendDecision::Move {
                from: key(2),
                amount: Amount(67)
            }
        );
    }

    #[test]
    fn wrong_amount_missing_piece_and_self_payee_are_refused() {
        assert!(matches!(
            terms().decide(&voucher(0, 333, 2), None),
            Err(SpendRefusal::WrongAmount { .. })
        ));
        assert!(matches!(
            terms().decide(&voucher(3, 333, 2), None),
            Err(SpendRefusal::NoSuchPiece { .. })
        ));
        assert_eq!(
            terms().decide(&voucher(0, 334, 9), None),
            Err(SpendRefusal::SelfPayee)
        );
    }

    proptest! {
        /// Whatever order and payees a swarm produces, the payer pays the price at most,
        /// and creator + seeders earn exactly what was charged.
        #[test]
        fn totals_conserve_and_never_exceed_the_price(
            price in 1u64..1_000_000,
            n in 1u32..40,
            bps in 0u64..=10_000,
            spends in proptest::collection::vec((0u32..40, 1u8..6), 0..200),
        ) {
            let t = Terms { price: Amount(price), piece_count: n, creator_share: Bps::new(bps).unwrap(), creator: key(1) };
            let mut paid: std::collections::HashMap<u32, PublicKey> = Default::default();
            let mut earned: std::collections::HashMap<PublicKey, i128> = Default::default();
            let mut charged = 0u128;
            for (piece, payee) in spends {
                let piece = piece % n;
                let amount = piece_price(t.price, n, piece).unwrap().0;
                let v = voucher(piece, amount, payee);
                match t.decide(&v, paid.get(&piece).map(|p| PaidPiece { payee: *p })).unwrap() {
                    SpendDecision::Charge { amount, creator, seeder } => {
                        charged += amount.0 as u128;
                        *earned.entry(t.creator).or_default() += creator.0 as i128;
                        *earned.entry(v.payee).or_default() += seeder.0 as i128;
                        paid.insert(piece, v.payee);
                    }
                    SpendDecision::Move { from, amount } => {
                        *earned.entry(from).or_default() -= amount.0 as i128;
                        *earned.entry(v.payee).or_default() += amount.0 as i128;
                        paid.insert(piece, v.payee);
                    }
                    SpendDecision::AlreadyPaid => {}
                }
            }
            prop_assert!(charged <= price as u128);
            prop_assert_eq!(earned.values().sum::<i128>(), charged as i128);
            prop_assert!(earned.values().all(|e| *e >= 0));
        }
    }
}
