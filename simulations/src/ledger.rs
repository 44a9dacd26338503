//! The verifier, as the simulator runs it: balances funded by receipts, vouchers spent
//! through the protocol's charging rules, and every party's earnings.
//!
//! The decision of each spend is [`Terms::decide_parts`], the body of the
//! [`Terms::decide`] the real verifier calls, on the voucher's fields with keys lent
//! from the keyring; each delivery attestation is [`Terms::attest`] and each settlement
//! with time [`Terms::settle`]. This module only carries the outcomes out (debit, the
//! creator's part, pending and settled seeder shares, moves, forfeits), as the
//! verifier's ledger does. Three things are modelled rather than computed:
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
//! - **The settlement sweep.** The verifier settles claims and forfeits every second
//!   from an index of pending shares. Here a payer's pending shares are settled when
//!   that payer next spends or attests (its few records are in cache then), and every
//!   one left at the end of the run ([`Ledger::finish`]): the same decisions, made a
//!   little later, so the totals at the end are the verifier's.

use ilpt_protocol::amount::Amount;
#[cfg(debug_assertions)]
use ilpt_protocol::bitfield::word_mask;
use ilpt_protocol::charging::{
    AttestDecision, SettleDecision, Share, SpendDecision, SpendRefusal, Standing, Terms,
    VoucherParts, Windows,
};

use crate::keys::Keyring;

/// Index of a payer/payee identity (identity 0 is the creator).
pub(crate) type IdentityId = u32;

/// Index of a receipt.
pub(crate) type ReceiptId = u32;

/// No identity (an empty claim).
const NOBODY: IdentityId = IdentityId::MAX;

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
    /// Already paid, its share movable: the seeder share moved to this payee.
    Moved,
    /// Already paid, its share held by a payee that may still deliver.
    Held,
    /// Already paid to this payee, or settled.
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

/// A piece a payer paid for and has not received, or whose seeder share is not
/// settled: who holds the share, since when (whole virtual seconds), a payee the payer
/// attested delivered it instead, and whether the share is settled and the piece
/// delivered. Dropped once both are true: the piece is not bought again then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    piece: u32,
    holder: IdentityId,
    since: u32,
    claimant: IdentityId,
    settled: bool,
    delivered: bool,
}

impl Held {
    fn done(&self) -> bool {
        self.settled && self.delivered
    }
}

/// One identity's account: one cache line (a spend reads and writes the payer's).
#[derive(Debug)]
#[repr(align(64))]
struct Account {
    balance: u64,
    /// The pieces paid for and not received, or whose seeder share is not settled: a
    /// handful (the requests in flight, any whose transfer was cut short, and a
    /// withholding payer's). Read when a piece is bought again or attested.
    held: Vec<Held>,
    /// Settled: the creator's parts, and seeder shares attested (or forfeited).
    earned: u64,
    /// Seeder shares this identity holds, not settled.
    pending: u64,
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
    /// Where `piece` is in `held`, if it is there.
    fn held_slot(&self, piece: u32) -> Option<usize> {
        self.held.iter().position(|h| h.piece == piece)
    }
}

/// No receipt (see `Account::credited`).
const NO_RECEIPT: ReceiptId = ReceiptId::MAX;

impl Default for Account {
    fn default() -> Account {
        Account {
            balance: 0,
            held: Vec::new(),
            earned: 0,
            pending: 0,
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
    /// Seeder shares that went to the creator, never attested.
    pub forfeited: u64,
    /// Spends refused: forged vouchers.
    pub refused_forged: u64,
    /// Spends refused: balance too low.
    pub refused_balance: u64,
}

/// The simulated verifier.
#[derive(Debug)]
pub(crate) struct Ledger {
    terms: Terms,
    windows: Windows,
    keys: Keyring,
    accounts: Vec<Account>,
    /// Debug builds only: every piece each payer ever paid for, `words` 64-bit words
    /// per identity, to check that no piece is bought again after its record was
    /// dropped. (Release runs need only the records: see [`Ledger::has_paid`]. This
    /// table was 12.8 MB and two lines read a spend at 100,000 payers.)
    #[cfg(debug_assertions)]
    paid: Vec<u64>,
    #[cfg(debug_assertions)]
    words: usize,
    receipts: Vec<(u64, u64)>,
    totals: MoneyTotals,
}

/// Whole virtual seconds, as the rules count them.
fn secs(now: f64) -> u64 {
    if now > 0.0 {
        now as u64
    } else {
        0
    }
}

impl Ledger {
    /// A ledger for a license of `price` over `piece_count` pieces; identity 0 is the
    /// creator.
    pub(crate) fn new(
        price: Amount,
        piece_count: u32,
        share: ilpt_protocol::Bps,
        windows: Windows,
    ) -> Ledger {
        let mut keys = Keyring::default();
        let creator = keys.open();
        Ledger {
            terms: Terms {
                price,
                piece_count,
                creator_share: share,
                creator,
            },
            windows,
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

    /// The identity will spend no more: only its records of shares not settled stay
    /// (the balance and earnings stay too).
    pub(crate) fn close(&mut self, id: IdentityId) {
        if let Some(a) = self.accounts.get_mut(id as usize) {
            a.held.retain(|h| !h.settled);
            a.held.shrink_to_fit();
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

    /// Whether `payer` has paid for `piece`, for a piece it has not received (or whose
    /// share is not settled): the pieces it can still ask for, the only ones a spend or
    /// a serving peer asks about. (A piece received is not asked for again; once its
    /// share is settled its record is dropped, and this says `false`.)
    pub(crate) fn has_paid(&self, payer: IdentityId, piece: u32) -> bool {
        self.accounts
            .get(payer as usize)
            .is_some_and(|a| a.held_slot(piece).is_some())
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

    /// The share a record stands for, with its holder's key lent from the table.
    fn share(&self, h: &Held) -> Option<Share> {
        Some(Share {
            holder: *self.keys.key(h.holder)?,
            since: u64::from(h.since),
            settled: h.settled,
        })
    }

    /// Spends `payer`'s voucher for `piece`, naming `payee`, at virtual time `now`.
    pub(crate) fn spend(
        &mut self,
        payer: IdentityId,
        payee: IdentityId,
        piece: u32,
        forged: bool,
        now: f64,
    ) -> Result<Spent, SpendError> {
        self.spend_attested(payer, payee, piece, forged, now, false)
    }

    /// [`Ledger::spend`], for a voucher spent after the payer attested the delivery
    /// (`attested`: a voucher deferred while the verifier was down).
    pub(crate) fn spend_attested(
        &mut self,
        payer: IdentityId,
        payee: IdentityId,
        piece: u32,
        forged: bool,
        now: f64,
        attested: bool,
    ) -> Result<Spent, SpendError> {
        if forged {
            self.totals.refused_forged += 1;
            return Err(SpendError::Forged);
        }
        if self.accounts.get(payer as usize).is_none() {
            return Err(SpendError::Insufficient);
        }
        let now_s = secs(now);
        self.settle_payer(payer, now_s);
        let price = self.terms.piece_price_of(piece).unwrap_or(Amount::ZERO);
        let (Some(payer_key), Some(payee_key)) = (self.keys.key(payer), self.keys.key(payee))
        else {
            return Err(SpendError::Insufficient);
        };
        // The payer's record of this piece, if it paid for it (found once: read here,
        // written at the end).
        let slot = self.accounts[payer as usize].held_slot(piece);
        let earlier = slot.map(|i| self.accounts[payer as usize].held[i]);
        #[cfg(debug_assertions)]
        debug_assert!(
            earlier.is_some() || !self.ever_paid(payer, piece),
            "piece {piece} bought again after it was delivered"
        );
        // The voucher's fields, the keys lent from the table: the verifier's decision.
        let voucher = VoucherParts {
            piece,
            amount: price,
            payer: payer_key,
            payee: payee_key,
            expires: now_s + ilpt_protocol::charging::VOUCHER_VALIDITY_S,
        };
        let share = earlier.as_ref().and_then(|h| self.share(h));
        let standing = Standing {
            payee_attested: attested,
            ..Standing::default()
        };
        let decision = self
            .terms
            .decide_parts(voucher, share.as_ref(), standing, now_s, &self.windows)
            .map_err(SpendError::Rules)?;
        let since = u32::try_from(now_s).unwrap_or(u32::MAX);
        let outcome = match decision {
            SpendDecision::Charge {
                amount,
                creator,
                seeder,
                settled,
            } => {
                let account = &mut self.accounts[payer as usize];
                if account.balance < amount.0 {
                    self.totals.refused_balance += 1;
                    return Err(SpendError::Insufficient);
                }
                account.balance -= amount.0;
                account.charged += amount.0;
                account.pieces += 1;
                self.totals.charged += amount.0;
                self.accounts[0].earned += creator.0;
                let to = &mut self.accounts[payee as usize];
                if settled {
                    to.earned += seeder.0;
                } else {
                    to.pending += seeder.0;
                }
                self.accounts[payer as usize].held.push(Held {
                    piece,
                    holder: payee,
                    since,
                    claimant: NOBODY,
                    settled,
                    delivered: false,
                });
                #[cfg(debug_assertions)]
                {
                    if let Some(x) = self
                        .paid_word(payer, piece)
                        .and_then(|w| self.paid.get_mut(w))
                    {
                        *x |= word_mask(piece);
                    }
                }
                Spent::Charged
            }
            SpendDecision::Move {
                amount, settled, ..
            } => {
                // `Move` comes only for a piece already paid, so `earlier` is its record.
                if let (Some(i), Some(h)) = (slot, earlier) {
                    self.totals.moved += amount.0;
                    self.accounts[h.holder as usize].pending -= amount.0;
                    if settled {
                        self.accounts[payee as usize].earned += amount.0;
                    } else {
                        self.accounts[payee as usize].pending += amount.0;
                    }
                    self.accounts[payer as usize].held[i] = Held {
                        holder: payee,
                        since,
                        settled,
                        ..h
                    };
                }
                Spent::Moved
            }
            SpendDecision::Held { .. } => Spent::Held,
            SpendDecision::AlreadyPaid => Spent::AlreadyPaid,
        };
        Ok(outcome)
    }

    /// The payer attests that `payee` delivered `piece` and it passed its hash check.
    pub(crate) fn attest(&mut self, payer: IdentityId, payee: IdentityId, piece: u32, now: f64) {
        let now_s = secs(now);
        let Some(a) = self.accounts.get(payer as usize) else {
            return;
        };
        let Some(i) = a.held_slot(piece) else {
            // Not bought, or delivered and settled already.
            return;
        };
        let h = a.held[i];
        if h.settled {
            return;
        }
        let (Some(share), Some(payee_key)) = (self.share(&h), self.keys.key(payee)) else {
            return;
        };
        let standing = Standing {
            payee_attested: true,
            ..Standing::default()
        };
        match self.terms.attest(
            piece,
            payee_key,
            Some(&share),
            standing,
            now_s,
            &self.windows,
        ) {
            AttestDecision::Settle { amount } => {
                let to = &mut self.accounts[payee as usize];
                to.pending -= amount.0;
                to.earned += amount.0;
                self.accounts[payer as usize].held[i].settled = true;
            }
            AttestDecision::Take { amount, .. } => {
                self.totals.moved += amount.0;
                self.accounts[h.holder as usize].pending -= amount.0;
                self.accounts[payee as usize].earned += amount.0;
                let record = &mut self.accounts[payer as usize].held[i];
                record.holder = payee;
                record.settled = true;
            }
            AttestDecision::Claim => {
                let record = &mut self.accounts[payer as usize].held[i];
                if record.claimant == NOBODY {
                    record.claimant = payee;
                }
            }
            AttestDecision::Nothing => {}
        }
        self.settle_payer(payer, now_s);
    }

    /// `payer` received and verified `piece`: it will not buy it again, so once its
    /// share is settled its record need not be kept. (The verifier keeps every paid
    /// piece; here only those that can still be bought again or settled are kept, so
    /// the record is a few entries a payer, not one a piece: at 100,000 downloaders of
    /// 1,000 pieces that was 400 MB, half the simulator's memory, and its stores
    /// evicted what the next events needed.) The caller must not call this while a
    /// spend of `payer` for `piece` may still come, as a deferred voucher spent when
    /// the verifier returns can.
    pub(crate) fn delivered(&mut self, payer: IdentityId, piece: u32) {
        if let Some(a) = self.accounts.get_mut(payer as usize) {
            if let Some(i) = a.held_slot(piece) {
                a.held[i].delivered = true;
                if a.held[i].done() {
                    a.held.swap_remove(i);
                }
            }
        }
    }

    /// Settles what time decides of `payer`'s records at `now_s` ([`Terms::settle`]).
    fn settle_payer(&mut self, payer: IdentityId, now_s: u64) {
        let Some(a) = self.accounts.get(payer as usize) else {
            return;
        };
        if a.held.iter().all(|h| h.settled) {
            return;
        }
        let mut held = std::mem::take(&mut self.accounts[payer as usize].held);
        for h in held.iter_mut() {
            if !h.settled && self.settle_one(h, now_s) {
                h.settled = true;
            }
        }
        held.retain(|h| !h.done());
        self.accounts[payer as usize].held = held;
    }

    /// Carries out [`Terms::settle`] for one unsettled record; true if it is settled
    /// now (its holder then is the one it settled with).
    fn settle_one(&mut self, h: &mut Held, now_s: u64) -> bool {
        let Some(share) = self.share(h) else {
            return false;
        };
        let claimant = (h.claimant != NOBODY)
            .then(|| self.keys.key(h.claimant))
            .flatten();
        match self
            .terms
            .settle(h.piece, &share, claimant, false, now_s, &self.windows)
        {
            Some(SettleDecision::Move { amount, .. }) => {
                self.totals.moved += amount.0;
                self.accounts[h.holder as usize].pending -= amount.0;
                self.accounts[h.claimant as usize].earned += amount.0;
                h.holder = h.claimant;
                true
            }
            Some(SettleDecision::Forfeit { amount }) => {
                self.totals.forfeited += amount.0;
                self.accounts[h.holder as usize].pending -= amount.0;
                self.accounts[0].earned += amount.0;
                h.holder = 0;
                true
            }
            None => false,
        }
    }

    /// The run ends at `now`: settles what time decides of every record left.
    pub(crate) fn finish(&mut self, now: f64) {
        let now_s = secs(now);
        for payer in 0..self.accounts.len() as IdentityId {
            self.settle_payer(payer, now_s);
        }
    }

    /// Prefetches `id`'s held records (its address is in the account: call this once
    /// [`Ledger::warm_account`]'s prefetch of the account has arrived).
    pub(crate) fn warm_payees(&self, id: IdentityId) {
        if let Some(a) = self.accounts.get(id as usize) {
            // Every line of it: a list of a handful of entries often spans two.
            crate::prefetch::slice(&a.held);
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

    /// What identity `id` has earned, settled.
    pub(crate) fn earned(&self, id: IdentityId) -> i128 {
        self.accounts
            .get(id as usize)
            .map_or(0, |a| i128::from(a.earned))
    }

    /// The seeder shares identity `id` holds, not settled.
    pub(crate) fn pending(&self, id: IdentityId) -> i128 {
        self.accounts
            .get(id as usize)
            .map_or(0, |a| i128::from(a.pending))
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

    /// The rule's windows.
    pub(crate) fn windows(&self) -> &Windows {
        &self.windows
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

    const W: Windows = Windows {
        max_validity: 120,
        move_after: 100,
        forfeit_after: 1000,
    };

    fn ledger() -> Ledger {
        // 1000 over 3 pieces: 334, 333, 333; 80 % to the creator.
        Ledger::new(Amount(1000), 3, Bps::new(8000).unwrap(), W)
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
        assert_eq!(l.spend(payer, 0, 0, false, 0.0), Ok(Spent::Charged));
        assert_eq!(
            l.spend(payer, 0, 1, false, 0.0),
            Err(SpendError::Insufficient)
        );
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
    fn a_share_is_pending_until_attested_and_its_record_kept_until_then() {
        let mut l = ledger();
        let (payer, a, b) = funded_payer_and_two_payees(&mut l);
        assert_eq!(l.spend(payer, a, 0, false, 0.0), Ok(Spent::Charged));
        assert_eq!(l.spend(payer, a, 1, false, 0.0), Ok(Spent::Charged));
        assert_eq!((l.earned(a), l.pending(a)), (0, 134));
        // Piece 0 arrived and is attested; piece 1's transfer was cut short and is
        // bought again elsewhere: held until the window passes, then moved.
        l.attest(payer, a, 0, 1.0);
        l.delivered(payer, 0);
        assert_eq!((l.earned(a), l.pending(a)), (67, 67));
        assert!(!l.has_paid(payer, 0) && l.has_paid(payer, 1));
        assert_eq!(l.spend(payer, b, 1, false, 50.0), Ok(Spent::Held));
        assert_eq!(l.spend(payer, b, 1, false, 100.0), Ok(Spent::Moved));
        l.attest(payer, b, 1, 101.0);
        assert_eq!((l.earned(b), l.pending(b), l.pending(a)), (67, 0, 0));
        assert_eq!(
            l.accounts[payer as usize].held.len(),
            1,
            "settled, not delivered yet"
        );
        l.delivered(payer, 1);
        assert!(l.accounts[payer as usize].held.is_empty());
        // A piece the creator served waits for the payer's word like any other; once
        // attested it is settled, and never charged twice.
        assert_eq!(l.spend(payer, 0, 2, false, 102.0), Ok(Spent::Charged));
        assert_eq!(l.pending(0), 67);
        l.attest(payer, 0, 2, 103.0);
        assert_eq!(l.pending(0), 0);
        assert_eq!(l.spend(payer, a, 2, false, 500.0), Ok(Spent::AlreadyPaid));
    }

    #[test]
    fn a_claim_settles_once_movable_and_unattested_shares_go_to_the_creator() {
        let mut l = ledger();
        let (payer, a, b) = funded_payer_and_two_payees(&mut l);
        l.spend(payer, a, 0, false, 0.0).unwrap();
        l.spend(payer, a, 1, false, 0.0).unwrap();
        assert_eq!(l.spend(payer, b, 0, false, 1.0), Ok(Spent::Held));
        l.attest(payer, b, 0, 2.0);
        assert_eq!(l.earned(b), 0, "claimed, not movable yet");
        l.finish(100.0);
        assert_eq!((l.earned(b), l.pending(a)), (67, 67));
        l.finish(999.0);
        assert_eq!(l.pending(a), 67);
        let creator_before = l.earned(0);
        l.finish(1000.0);
        assert_eq!((l.pending(a), l.earned(0) - creator_before), (0, 67));
        let total: i128 = (0..l.identities() as u32)
            .map(|i| l.earned(i) + l.pending(i))
            .sum();
        assert_eq!(total, i128::from(l.totals().charged));
    }

    #[test]
    fn charges_split_and_moves_conserve_the_total() {
        let mut l = ledger();
        let (payer, a, b) = funded_payer_and_two_payees(&mut l);
        assert_eq!(l.spend(payer, a, 0, false, 0.0), Ok(Spent::Charged));
        assert_eq!(l.spend(payer, b, 0, false, 200.0), Ok(Spent::Moved));
        assert_eq!(l.spend(payer, b, 0, false, 201.0), Ok(Spent::AlreadyPaid));
        assert_eq!(l.spend(payer, 0, 1, false, 201.0), Ok(Spent::Charged));
        assert_eq!((l.pending(a), l.pending(b)), (0, 67));
        // The creator serving piece 1 earns its part and holds the seeder part pending.
        assert_eq!((l.earned(0), l.pending(0)), (267 + 266, 67));
        let total: i128 = (0..l.identities() as u32)
            .map(|i| l.earned(i) + l.pending(i))
            .sum();
        assert_eq!(total, i128::from(l.totals().charged));
        assert_eq!(l.spend(payer, a, 2, true, 201.0), Err(SpendError::Forged));
        assert!(l.has_paid(payer, 0) && !l.has_paid(payer, 2));
    }
}
