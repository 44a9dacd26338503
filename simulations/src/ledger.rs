//! The verifier, as the simulator runs it: balances funded by receipts, vouchers spent
//! through the protocol's charging rules, and every party's earnings.
//!
//! The decision of each spend is [`Terms::decide_parts`], the body of the
//! [`Terms::decide`] the real verifier calls, on the voucher's fields with keys lent
//! from the keyring; this module only carries its outcome out (debit, split, move),
//! exactly as the verifier's ledger does. (The verifier moves a seeder share only as
//! far as it is unpaid; the simulator pays nothing out, so a share always moves whole,
//! as it would there.) Two things are modelled rather than computed:
//!
//! - **Signatures.** Signing and checking a real voucher per piece costs ~50 µs, too
//!   much for 10⁸ pieces, so a voucher carries a `forged` flag instead of a signature;
//!   a forged voucher is refused before the decision, as the verifier refuses a
//!   signature that does not verify. Keys are real (see [`crate::keys`]), so the rules
//!   compare real payers and payees.
//! - **Receipts.** A receipt is an amount under a receipt id; crediting it adds only
//!   what it adds to the most already credited under that id, as the verifier credits
//!   an RFC 0039 receipt monotonically per (nonce, stream). A receipt shown to several
//!   seeders therefore counts once.

use ilpt_protocol::amount::Amount;
#[cfg(debug_assertions)]
use ilpt_protocol::bitfield::word_mask;
use ilpt_protocol::charging::{SpendDecision, SpendRefusal, Terms, VoucherParts};

use crate::keys::Keyring;

/// Index of a payer/payee identity (identity 0 is the creator).
pub(crate) type IdentityId = u32;

/// Index of a receipt.
pub(crate) type ReceiptId = u32;

/// Words of a payer's paid-piece bits.
#[cfg(debug_assertions)]
fn words_per_payer(piece_count: u32) -> usize {
    (piece_count as usize).div_ceil(64)
}

/// What a successful spend did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spent {
    /// First purchase of the piece: the payer was debited.
    Charged,
    /// Already paid to another payee: the seeder share moved to this one.
    Moved,
    /// Already paid to this payee.
    AlreadyPaid,
}

/// Why a spend was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpendError {
    /// The voucher's signature does not verify.
    Forged,
    /// The balance does not cover the piece.
    Insufficient,
    /// The charging rules refuse the voucher.
    Rules(SpendRefusal),
}

/// One identity's account: one cache line (a spend reads and writes the payer's).
#[derive(Debug)]
#[repr(align(64))]
struct Account {
    balance: u64,
    /// `(piece, payee)` of each piece paid for and not yet delivered (see
    /// [`Ledger::delivered`]): a handful, the requests in flight and any whose transfer
    /// was cut short. Read when a piece is bought again.
    payees: Vec<(u32, IdentityId)>,
    earned: i128,
    /// Charged in total, and for how many pieces.
    charged: u64,
    pieces: u32,
    /// The receipt last credited to this account, [`NO_RECEIPT`] before the first. A
    /// receipt's amount is fixed when it is issued, so once credited it adds nothing
    /// more, to this account or any other: the spends that show it again need not
    /// read it (a line a spend at 100,000 payers).
    credited: ReceiptId,
}

impl Account {
    /// Where `piece` is in `payees`, if it is there.
    fn payee_slot(&self, piece: u32) -> Option<usize> {
        self.payees.iter().position(|(p, _)| *p == piece)
    }
}

/// No receipt (see `Account::credited`).
const NO_RECEIPT: ReceiptId = ReceiptId::MAX;

impl Default for Account {
    fn default() -> Account {
        Account {
            balance: 0,
            payees: Vec::new(),
            earned: 0,
            charged: 0,
            pieces: 0,
            credited: NO_RECEIPT,
        }
    }
}

/// Money totals of a run, in asset units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyTotals {
    /// Paid into the revenue-share pointer (receipts issued).
    pub funded: u64,
    /// Credited to balances (receipts accepted by the verifier).
    pub credited: u64,
    /// Charged for pieces (Σ `Charge.amount`): the verified payments.
    pub charged: u64,
    /// Seeder shares moved between payees.
    pub moved: u64,
    /// Spends refused: forged vouchers.
    pub refused_forged: u64,
    /// Spends refused: balance too low.
    pub refused_balance: u64,
}

/// The simulated verifier.
#[derive(Debug)]
pub(crate) struct Ledger {
    terms: Terms,
    keys: Keyring,
    accounts: Vec<Account>,
    /// Debug builds only: every piece each payer ever paid for, `words` 64-bit words
    /// per identity, to check that no piece is bought again after its payee record was
    /// dropped. (Release runs need only the records: see [`Ledger::has_paid`]. This
    /// table was 12.8 MB and two lines read a spend at 100,000 payers.)
    #[cfg(debug_assertions)]
    paid: Vec<u64>,
    #[cfg(debug_assertions)]
    words: usize,
    receipts: Vec<(u64, u64)>,
    totals: MoneyTotals,
}

impl Ledger {
    /// A ledger for a license of `price` over `piece_count` pieces; identity 0 is the
    /// creator.
    pub(crate) fn new(price: Amount, piece_count: u32, share: ilpt_protocol::Bps) -> Ledger {
        let mut keys = Keyring::default();
        let creator = keys.open();
        Ledger {
            terms: Terms {
                price,
                piece_count,
                creator_share: share,
                creator,
            },
            keys,
            accounts: vec![Account::default()],
            #[cfg(debug_assertions)]
            paid: vec![0; words_per_payer(piece_count)],
            #[cfg(debug_assertions)]
            words: words_per_payer(piece_count),
            receipts: Vec::new(),
            totals: MoneyTotals::default(),
        }
    }

    /// A new identity.
    pub(crate) fn open(&mut self) -> IdentityId {
        self.accounts.push(Account::default());
        #[cfg(debug_assertions)]
        self.paid.resize(self.paid.len() + self.words, 0);
        self.keys.open();
        (self.accounts.len() - 1) as IdentityId
    }

    /// The identity will spend no more: forget its per-piece record (the balance and
    /// earnings stay).
    pub(crate) fn close(&mut self, id: IdentityId) {
        if let Some(a) = self.accounts.get_mut(id as usize) {
            a.payees = Vec::new();
        }
        #[cfg(debug_assertions)]
        if let Some(bits) = self.paid_bits_mut(id) {
            bits.fill(0);
        }
    }

    /// The payer pays `amount` into the revenue-share pointer and gets a receipt.
    pub(crate) fn pay(&mut self, amount: u64) -> ReceiptId {
        self.totals.funded += amount;
        self.receipts.push((amount, 0));
        (self.receipts.len() - 1) as ReceiptId
    }

    /// A serving peer presents `receipt` for `payer`: credits what it adds.
    pub(crate) fn credit(&mut self, payer: IdentityId, receipt: ReceiptId) {
        let Some(a) = self.accounts.get_mut(payer as usize) else {
            return;
        };
        if a.credited == receipt {
            // Its whole amount was seen when it was credited last: it adds nothing.
            return;
        }
        let Some((total, seen)) = self.receipts.get_mut(receipt as usize) else {
            return;
        };
        let increase = total.saturating_sub(*seen);
        *seen = (*seen).max(*total);
        a.balance += increase;
        a.credited = receipt;
        self.totals.credited += increase;
    }

    /// Whether `payer` has paid for `piece` (to anyone), for a piece it has not been
    /// delivered: the pieces it can still ask for, the only ones a spend or a serving
    /// peer asks about. (A delivered piece is not asked for again; its record is
    /// dropped, and this says `false`.)
    pub(crate) fn has_paid(&self, payer: IdentityId, piece: u32) -> bool {
        self.payee_of(payer, piece).is_some()
    }

    /// Whom `payer` paid for `piece`, while it is not delivered.
    fn payee_of(&self, payer: IdentityId, piece: u32) -> Option<IdentityId> {
        let a = self.accounts.get(payer as usize)?;
        a.payee_slot(piece).map(|i| a.payees[i].1)
    }

    /// Debug builds: whether `payer` ever paid for `piece`.
    #[cfg(debug_assertions)]
    fn ever_paid(&self, payer: IdentityId, piece: u32) -> bool {
        self.paid_word(payer, piece)
            .and_then(|w| self.paid.get(w))
            .is_some_and(|x| x & word_mask(piece) != 0)
    }

    /// Debug builds: where in `paid` `payer`'s bit for `piece` is (none out of range).
    #[cfg(debug_assertions)]
    fn paid_word(&self, payer: IdentityId, piece: u32) -> Option<usize> {
        ((piece as usize) < self.terms.piece_count as usize)
            .then(|| payer as usize * self.words + piece as usize / 64)
    }

    /// `payer`'s words of `paid`.
    #[cfg(debug_assertions)]
    fn paid_bits_mut(&mut self, payer: IdentityId) -> Option<&mut [u64]> {
        let at = payer as usize * self.words;
        self.paid.get_mut(at..at + self.words)
    }

    /// Spends `payer`'s voucher for `piece`, naming `payee`.
    pub(crate) fn spend(
        &mut self,
        payer: IdentityId,
        payee: IdentityId,
        piece: u32,
        forged: bool,
    ) -> Result<Spent, SpendError> {
        if forged {
            self.totals.refused_forged += 1;
            return Err(SpendError::Forged);
        }
        let n = self.terms.piece_count as usize;
        let price = self.terms.piece_price_of(piece).unwrap_or(Amount::ZERO);
        if self.accounts.get(payer as usize).is_none() {
            return Err(SpendError::Insufficient);
        }
        let (Some(payer_key), Some(payee_key)) = (self.keys.key(payer), self.keys.key(payee))
        else {
            return Err(SpendError::Insufficient);
        };
        // The payer's record of this piece, if it paid for it (found once: read here,
        // written at the end).
        let slot = self.accounts[payer as usize].payee_slot(piece);
        let earlier = slot.map(|i| self.accounts[payer as usize].payees[i].1);
        #[cfg(debug_assertions)]
        debug_assert!(
            earlier.is_some() || !self.ever_paid(payer, piece),
            "piece {piece} bought again after delivery"
        );
        // The voucher's fields, the keys lent from the table: the verifier's decision.
        let voucher = VoucherParts {
            piece,
            amount: price,
            payer: payer_key,
            payee: payee_key,
        };
        let already = earlier.and_then(|id| self.keys.key(id));
        let decision = self
            .terms
            .decide_parts(voucher, already)
            .map_err(SpendError::Rules)?;
        let account = &mut self.accounts[payer as usize];
        let outcome = match decision {
            SpendDecision::Charge {
                amount,
                creator,
                seeder,
            } => {
                if account.balance < amount.0 {
                    self.totals.refused_balance += 1;
                    return Err(SpendError::Insufficient);
                }
                account.balance -= amount.0;
                account.charged += amount.0;
                account.pieces += 1;
                self.totals.charged += amount.0;
                self.accounts[0].earned += i128::from(creator.0);
                self.accounts[payee as usize].earned += i128::from(seeder.0);
                Spent::Charged
            }
            SpendDecision::Move { from, amount } => {
                // `Move` comes only for a piece already paid, so `earlier` is its payee.
                if let Some(from_id) = earlier {
                    debug_assert_eq!(Some(&from), self.keys.key(from_id));
                    self.totals.moved += amount.0;
                    self.accounts[from_id as usize].earned -= i128::from(amount.0);
                    self.accounts[payee as usize].earned += i128::from(amount.0);
                }
                Spent::Moved
            }
            SpendDecision::AlreadyPaid => Spent::AlreadyPaid,
        };
        if (piece as usize) < n {
            let payees = &mut self.accounts[payer as usize].payees;
            match slot {
                Some(i) => payees[i].1 = payee,
                None => payees.push((piece, payee)),
            }
            #[cfg(debug_assertions)]
            if let Some(x) = self
                .paid_word(payer, piece)
                .and_then(|w| self.paid.get_mut(w))
            {
                *x |= word_mask(piece);
            }
        }
        Ok(outcome)
    }

    /// `payer` received and verified `piece`: it will not buy it again, so its payee
    /// need not be kept. (The verifier keeps every paid piece; here only those that can
    /// still be bought again are kept, so the record is a few entries a payer, not one
    /// a piece: at 100,000 downloaders of 1,000 pieces that was 400 MB, half the
    /// simulator's memory, and its stores evicted what the next events needed.) The
    /// caller must not call this while a spend of `payer` for `piece` may still come,
    /// as a deferred voucher spent when the verifier returns can.
    pub(crate) fn delivered(&mut self, payer: IdentityId, piece: u32) {
        if let Some(a) = self.accounts.get_mut(payer as usize) {
            if let Some(i) = a.payee_slot(piece) {
                a.payees.swap_remove(i);
            }
        }
    }

    /// Prefetches `id`'s record of paid pieces' payees (its address is in the account:
    /// call this once [`Ledger::warm_account`]'s prefetch of the account has arrived).
    pub(crate) fn warm_payees(&self, id: IdentityId) {
        if let Some(a) = self.accounts.get(id as usize) {
            // Every line of it: a list of a handful of entries often spans two.
            crate::prefetch::slice(&a.payees);
        }
    }

    /// Prefetches what a spend naming `id` as payer or payee needs: its key and
    /// account (see the engine's reading ahead).
    pub(crate) fn warm_account(&self, id: IdentityId) {
        self.keys.warm(id);
        if let Some(a) = self.accounts.get(id as usize) {
            crate::prefetch::of(a);
        }
    }

    /// Prefetches receipt `r`'s entry before `payer` shows it, unless the payer's
    /// account says it was credited already (so call this once [`Ledger::warm_account`]'s
    /// prefetch of the account has arrived).
    pub(crate) fn warm_receipt(&self, payer: IdentityId, r: ReceiptId) {
        if self
            .accounts
            .get(payer as usize)
            .is_some_and(|a| a.credited == r)
        {
            return;
        }
        if let Some(x) = self.receipts.get(r as usize) {
            crate::prefetch::of(x);
        }
    }

    /// What identity `id` has earned (net of moves).
    pub(crate) fn earned(&self, id: IdentityId) -> i128 {
        self.accounts.get(id as usize).map_or(0, |a| a.earned)
    }

    /// What identity `id` was charged, and for how many pieces.
    pub(crate) fn charged(&self, id: IdentityId) -> (u64, u32) {
        self.accounts
            .get(id as usize)
            .map_or((0, 0), |a| (a.charged, a.pieces))
    }

    /// The seeder share of one piece served by a non-creator.
    pub(crate) fn seeder_share(&self, piece: u32) -> Amount {
        self.terms.seeder_share(piece)
    }

    /// The price of `piece`.
    pub(crate) fn piece_price(&self, piece: u32) -> u64 {
        self.terms.piece_price_of(piece).map_or(0, |a| a.0)
    }

    /// Number of identities, the creator included.
    pub(crate) fn identities(&self) -> usize {
        self.accounts.len()
    }

    /// Balances left unspent (refundable to payers).
    pub(crate) fn unspent(&self) -> u64 {
        self.accounts.iter().map(|a| a.balance).sum()
    }

    /// Running totals.
    pub(crate) fn totals(&self) -> MoneyTotals {
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ilpt_protocol::Bps;

    fn ledger() -> Ledger {
        // 1000 over 3 pieces: 334, 333, 333; 80 % to the creator.
        Ledger::new(Amount(1000), 3, Bps::new(8000).unwrap())
    }

    #[test]
    fn a_replayed_receipt_credits_once() {
        let mut l = ledger();
        let payer = l.open();
        let r = l.pay(400);
        for _ in 0..4 {
            l.credit(payer, r);
        }
        assert_eq!(l.totals().credited, 400);
        assert_eq!(l.spend(payer, 0, 0, false), Ok(Spent::Charged));
        assert_eq!(l.spend(payer, 0, 1, false), Err(SpendError::Insufficient));
    }

    #[test]
    fn an_account_is_one_line() {
        assert_eq!(std::mem::size_of::<Account>(), 64);
    }

    #[test]
    fn a_receipt_shown_again_credits_nothing_to_anyone() {
        let mut l = ledger();
        let (a, b) = (l.open(), l.open());
        let r = l.pay(500);
        l.credit(a, r);
        l.credit(a, r);
        l.credit(b, r);
        assert_eq!(l.totals().credited, 500);
        assert_eq!(
            (
                l.accounts[a as usize].balance,
                l.accounts[b as usize].balance
            ),
            (500, 0)
        );
        let r2 = l.pay(300);
        l.credit(a, r2);
        l.credit(a, r);
        assert_eq!(l.accounts[a as usize].balance, 800);
        assert_eq!(l.totals().credited, 800);
    }

    /// A payer credited with 1000 (the price of every piece), and two payees.
    fn funded_payer_and_two_payees(l: &mut Ledger) -> (IdentityId, IdentityId, IdentityId) {
        let (payer, a, b) = (l.open(), l.open(), l.open());
        let r = l.pay(1000);
        l.credit(payer, r);
        (payer, a, b)
    }

    #[test]
    fn a_payee_is_kept_until_its_piece_is_delivered() {
        let mut l = ledger();
        let (payer, a, b) = funded_payer_and_two_payees(&mut l);
        assert_eq!(l.spend(payer, a, 0, false), Ok(Spent::Charged));
        assert_eq!(l.spend(payer, a, 1, false), Ok(Spent::Charged));
        assert_eq!(l.accounts[payer as usize].payees.len(), 2);
        // Piece 0 arrived; piece 1's transfer was cut short and is bought again.
        l.delivered(payer, 0);
        assert_eq!(l.accounts[payer as usize].payees, vec![(1, a)]);
        assert_eq!(l.spend(payer, b, 1, false), Ok(Spent::Moved));
        assert_eq!(l.accounts[payer as usize].payees, vec![(1, b)]);
        assert_eq!((l.earned(a), l.earned(b)), (67, 67));
        assert!(!l.has_paid(payer, 0) && l.has_paid(payer, 1));
        l.delivered(payer, 1);
        assert!(!l.has_paid(payer, 1));
        assert!(l.accounts[payer as usize].payees.is_empty());
    }

    #[test]
    fn charges_split_and_moves_conserve_the_total() {
        let mut l = ledger();
        let (payer, a, b) = funded_payer_and_two_payees(&mut l);
        assert_eq!(l.spend(payer, a, 0, false), Ok(Spent::Charged));
        assert_eq!(l.spend(payer, b, 0, false), Ok(Spent::Moved));
        assert_eq!(l.spend(payer, b, 0, false), Ok(Spent::AlreadyPaid));
        assert_eq!(l.spend(payer, 0, 1, false), Ok(Spent::Charged));
        assert_eq!((l.earned(a), l.earned(b)), (0, 67));
        assert_eq!(l.earned(0), 267 + 333);
        let total: i128 = (0..l.identities() as u32).map(|i| l.earned(i)).sum();
        assert_eq!(total, i128::from(l.totals().charged));
        assert_eq!(l.spend(payer, a, 2, true), Err(SpendError::Forged));
        assert!(l.has_paid(payer, 0) && !l.has_paid(payer, 2));
    }
}
