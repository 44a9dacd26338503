//! Charging arithmetic: what a piece costs and how a spend splits between the creator
//! and the serving peer. Integers only; every split adds up to the whole, to the unit.
//!
//! Rounding rules (fixed, because the verifier and the simulator must agree):
//! - A license price spreads over the pieces as `price / n` each, and the remainder
//!   `price % n` adds one unit to each of the *first* pieces. So
//!   Σ `piece_price(i)` = price exactly, and no two pieces differ by more than one unit.
//! - A spend of `a` gives the creator `floor(a × bps / 10 000)` and the serving peer the
//!   rest; when the creator itself served, the creator gets all of `a`.

use crate::amount::{Amount, Bps};

/// The price of piece `index` of a torrent of `piece_count` pieces whose license
/// costs `price` in total, or `None` if `index` is out of range.
pub fn piece_price(price: Amount, piece_count: u32, index: u32) -> Option<Amount> {
    if index >= piece_count {
        return None;
    }
    let n = u64::from(piece_count);
    let base = price.0 / n;
    let remainder = price.0 % n;
    let extra = u64::from(u64::from(index) < remainder);
    Some(Amount(base + extra))
}

/// The sum of the prices of the given pieces (each counted once per occurrence).
pub fn pieces_price(price: Amount, piece_count: u32, pieces: &[u32]) -> Option<Amount> {
    pieces.iter().try_fold(Amount::ZERO, |acc, &i| {
        acc.checked_add(piece_price(price, piece_count, i)?)
    })
}

/// How one spend divides between the creator and the peer that served the piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// The creator's part.
    pub creator: Amount,
    /// The serving peer's part (zero when the creator served).
    pub seeder: Amount,
}

/// Splits a spend of `amount`: `creator_share` of it to the creator (rounded down),
/// the rest to the serving peer; all of it to the creator if `served_by_creator`.
pub fn split(amount: Amount, creator_share: Bps, served_by_creator: bool) -> Split {
    if served_by_creator {
        return Split {
            creator: amount,
            seeder: Amount::ZERO,
        };
    }
    // ⌊amount · bps / 10 000⌋ without a 128-bit division (a library call): with
    // amount = q · 10 000 + r it is q · bps + ⌊r · bps / 10 000⌋, where q · bps ≤ amount
    // (bps ≤ 10 000) and r · bps < 10⁸; the divisions are by a constant, so products.
    let bps = u64::from(creator_share.get());
    let (q, r) = (amount.0 / 10_000, amount.0 % 10_000);
    let creator = (q * bps + r * bps / 10_000).min(amount.0);
    Split {
        creator: Amount(creator),
        seeder: Amount(amount.0 - creator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn remainder_goes_to_the_first_pieces() {
        let p = |i| piece_price(Amount(10), 4, i).unwrap().0;
        assert_eq!([p(0), p(1), p(2), p(3)], [3, 3, 2, 2]);
        assert_eq!(piece_price(Amount(10), 4, 4), None);
        assert_eq!(piece_price(Amount(10), 0, 0), None);
    }

    #[test]
    fn creator_serving_keeps_everything() {
        let s = split(Amount(101), Bps::new(8000).unwrap(), true);
        assert_eq!((s.creator, s.seeder), (Amount(101), Amount(0)));
        let s = split(Amount(101), Bps::new(8000).unwrap(), false);
        assert_eq!((s.creator, s.seeder), (Amount(80), Amount(21)));
    }

    #[test]
    fn the_largest_amounts_split_without_overflow() {
        for bps in [0u64, 1, 9_999, 10_000] {
            let s = split(Amount(u64::MAX), Bps::new(bps).unwrap(), false);
            let exact = u128::from(u64::MAX) * u128::from(bps) / 10_000;
            assert_eq!(u128::from(s.creator.0), exact, "{bps}");
            assert_eq!(s.creator.0 + s.seeder.0, u64::MAX);
        }
    }

    proptest! {
        #[test]
        fn piece_prices_sum_to_the_price(price in any::<u64>(), n in 1u32..5000) {
            let all: Vec<u32> = (0..n).collect();
            prop_assert_eq!(pieces_price(Amount(price), n, &all), Some(Amount(price)));
            let first = piece_price(Amount(price), n, 0).unwrap().0;
            let last = piece_price(Amount(price), n, n - 1).unwrap().0;
            prop_assert!(first - last <= 1);
        }

        #[test]
        fn split_parts_add_up_to_the_whole(a in any::<u64>(), bps in 0u64..=10_000, by_creator in any::<bool>()) {
            let s = split(Amount(a), Bps::new(bps).unwrap(), by_creator);
            prop_assert_eq!(s.creator.0 as u128 + s.seeder.0 as u128, a as u128);
            if !by_creator {
                // Rounded down, never by more than one unit.
                let exact = a as u128 * bps as u128;
                prop_assert!(s.creator.0 as u128 * 10_000 <= exact);
                prop_assert!(exact < (s.creator.0 as u128 + 1) * 10_000);
            }
        }
    }
}
