//! Ledger tests against a real SQLite file: the money rules and their invariants.

use super::*;
use ed25519_dalek::SigningKey;
use ilpt_protocol::bitfield::Bitfield;
use ilpt_protocol::charging::Windows;
use ilpt_protocol::delivery::{Attestation, Revocation};
use ilpt_protocol::receipt::Receipt;
use ilpt_protocol::{Asset, Info, Layout, License, NewTorrent, Voucher};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

/// Short windows, so that tests can step past them.
const W: Windows = Windows {
    max_validity: 120,
    move_after: 100,
    forfeit_after: 1000,
};

struct Fixture {
    _dir: tempfile::TempDir,
    conn: Connection,
    seed: ReceiptSeed,
    creator: SigningKey,
    pointer: String,
    info_hash: InfoHash,
    price: Amount,
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pk(k: &SigningKey) -> PublicKey {
    k.verifying_key().into()
}

/// A payout run in which every payout delivers all it was to: phase 1, then phase 3
/// for each. Returns the amounts paid.
fn pay_out_in_full(conn: &Connection) -> Vec<u64> {
    payouts::begin(conn, 1, NOW)
        .unwrap()
        .into_iter()
        .map(|p| {
            let done = payouts::finish(conn, p.id, p.amount, Some("receipt"), NOW).unwrap();
            assert_eq!(done.state, payouts::State::Done);
            done.delivered
        })
        .collect()
}

/// A ledger with one revenue-share account and one registered 4-piece license priced 1000.
fn fixture() -> Fixture {
    fixture_priced(Amount(1000))
}

/// [`fixture`] with the license priced `price`.
fn fixture_priced(price: Amount) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let conn = open(&dir.path().join("l.db")).unwrap();
    let seed = ReceiptSeed(b"ilpt-public-test-seed-0123456789".to_vec());
    let creator = key(1);
    let pointer = "http://127.0.0.1:7000/spsp/acct".to_string();
    let account = RevShare {
        id: "acct".into(),
        pointer: pointer.clone(),
        payout_pointer: "$wallet.example/alice".into(),
        creator_share_bps: 8000,
        asset_code: "USD".into(),
        asset_scale: 2,
        creator_key: pk(&creator),
    };
    create_revshare(&conn, &account, NOW).unwrap();
    let license = License::new(
        pointer.clone(),
        "http://127.0.0.1:7000".into(),
        price,
        Asset::new("USD", 2).unwrap(),
        Bps::new(8000).unwrap(),
        pk(&creator),
    )
    .unwrap()
    .sign(&creator);
    let t = NewTorrent {
        info: Info {
            name: "f".into(),
            piece_length: 16384,
            pieces: vec![[0; 20]; 4],
            layout: Layout::SingleFile { length: 4 * 16384 },
            private: false,
            license: Some(license),
        },
        trackers: vec![],
        comment: None,
        created_by: None,
        creation_date: None,
    }
    .encode()
    .unwrap();
    let info_hash = t.metainfo.info_hash;
    register_license(&conn, info_hash, t.metainfo.info_bytes()).unwrap();
    Fixture {
        _dir: dir,
        conn,
        seed,
        creator,
        pointer,
        info_hash,
        price,
    }
}

impl Fixture {
    /// `party` has its serving earnings paid to `pointer` (a request it signed).
    fn set_pointer(&self, party: &SigningKey, pointer: &str) {
        let sig = ilpt_protocol::account::sign_payout_pointer(party, pointer);
        set_payout_pointer(&self.conn, &pk(party), pointer, &sig).unwrap();
    }

    /// A genuine receipt for `total` on a fresh nonce issued for `pointer`.
    fn pay(&self, pointer: &str, total: u64, nonce_byte: u8) -> String {
        let nonce = [nonce_byte; 16];
        issue_nonce(&self.conn, &nonce, pointer, NOW, 300).unwrap();
        Receipt::create(&self.seed.secret(&nonce), nonce, 1, total).to_base64()
    }

    /// `payer`'s voucher to `payee`, valid for 60 s from [`NOW`].
    fn voucher(&self, payer: &SigningKey, payee: &SigningKey, piece: u32, seq: u64) -> String {
        self.voucher_until(payer, payee, piece, seq, NOW + 60)
    }

    fn voucher_until(
        &self,
        payer: &SigningKey,
        payee: &SigningKey,
        piece: u32,
        seq: u64,
        expires: u64,
    ) -> String {
        let amount = ilpt_protocol::split::piece_price(self.price, 4, piece).unwrap();
        Voucher {
            info_hash: self.info_hash,
            payer: pk(payer),
            payee: pk(payee),
            piece,
            amount,
            seq,
            expires,
        }
        .sign(payer)
        .to_base64()
    }

    fn spend(&self, voucher: &str, receipts: &[String]) -> Result<SpendAnswer> {
        self.spend_at(voucher, receipts, NOW)
    }

    fn spend_at(&self, voucher: &str, receipts: &[String], now: u64) -> Result<SpendAnswer> {
        let voucher = VerifiedVoucher::check(voucher)?;
        spend_voucher(
            &self.conn,
            &self.seed,
            self.info_hash,
            &voucher,
            receipts,
            now,
            &W,
        )
    }

    /// A voucher of `payer` to `payee` for `piece`, signed at `now` and spent then.
    fn spend_now(
        &self,
        payer: &SigningKey,
        payee: &SigningKey,
        piece: u32,
        seq: u64,
        now: u64,
    ) -> String {
        let v = self.voucher_until(payer, payee, piece, seq, now + 60);
        let answer = self.spend_at(&v, &[], now).unwrap();
        answer.body["outcome"].as_str().unwrap().to_owned()
    }

    /// `payer` attests that `payee` delivered `pieces` (of the 4).
    fn attest(&self, payer: &SigningKey, payee: &SigningKey, pieces: &[u32], now: u64) -> Value {
        let mut set = Bitfield::new(4);
        for p in pieces {
            set.set(*p);
        }
        let signed = Attestation {
            info_hash: self.info_hash,
            payer: pk(payer),
            payee: pk(payee),
            pieces: set,
        }
        .sign(payer);
        let checked = VerifiedAttestation::check(&signed.to_base64()).unwrap();
        attest(&self.conn, self.info_hash, &checked, now, &W).unwrap()
    }

    fn revoke(&self, payer: &SigningKey, payee: &SigningKey, now: u64) {
        let r = Revocation {
            info_hash: self.info_hash,
            payer: pk(payer),
            payee: pk(payee),
        }
        .sign(payer);
        revoke(&self.conn, self.info_hash, &r, now).unwrap();
    }

    /// (earned, pending) of `party`.
    fn earnings_of(&self, party: &SigningKey) -> (String, String) {
        let e = earnings(&self.conn, &pk(party)).unwrap();
        (
            e["earned"].as_str().unwrap().to_owned(),
            e["pending"].as_str().unwrap().to_owned(),
        )
    }
}

#[test]
fn replayed_receipt_credits_nothing() {
    let f = fixture();
    let r = f.pay(&f.pointer, 500, 1);
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "b", &r, None, NOW).unwrap(),
        500
    );
    let err = credit_receipt(&f.conn, &f.seed, "b", &r, None, NOW).unwrap_err();
    assert_eq!(err.to_string(), "expired receipt");
    // The same receipt shown for another balance adds nothing either.
    assert!(credit_receipt(&f.conn, &f.seed, "other", &r, None, NOW).is_err());
    assert!(audit(&f.conn).unwrap().holds());
    assert_eq!(audit(&f.conn).unwrap().credited, 500);
}

#[test]
fn higher_total_on_the_same_stream_credits_the_difference() {
    let f = fixture();
    let nonce = [7u8; 16];
    issue_nonce(&f.conn, &nonce, &f.pointer, NOW, 300).unwrap();
    let secret = f.seed.secret(&nonce);
    let r1 = Receipt::create(&secret, nonce, 1, 10).to_base64();
    let r2 = Receipt::create(&secret, nonce, 1, 15).to_base64();
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "b", &r1, None, NOW).unwrap(),
        10
    );
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "b", &r2, None, NOW).unwrap(),
        15
    );
    assert!(credit_receipt(&f.conn, &f.seed, "b", &r1, None, NOW).is_err());
}

#[test]
fn forged_unissued_and_expired_receipts_are_refused() {
    let f = fixture();
    // Signed with another seed: the HMAC does not match.
    let nonce = [2u8; 16];
    issue_nonce(&f.conn, &nonce, &f.pointer, NOW, 300).unwrap();
    let forged =
        Receipt::create(&receipt_secret(b"another seed", &nonce), nonce, 1, 100).to_base64();
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "b", &forged, None, NOW)
            .unwrap_err()
            .to_string(),
        "invalid hmac"
    );
    // Correct HMAC but the nonce was never issued here.
    let unissued = Receipt::create(&f.seed.secret(&[3; 16]), [3; 16], 1, 100).to_base64();
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "b", &unissued, None, NOW)
            .unwrap_err()
            .to_string(),
        "expired receipt"
    );
    // Issued, but past its TTL.
    let r = f.pay(&f.pointer, 100, 4);
    assert!(credit_receipt(&f.conn, &f.seed, "b", &r, None, NOW + 301).is_err());
    assert!(credit_receipt(&f.conn, &f.seed, "b", "not base64!", None, NOW).is_err());
    assert_eq!(audit(&f.conn).unwrap().credited, 0);
}

#[test]
fn receipt_paid_to_another_pointer_does_not_count_for_the_license() {
    let f = fixture();
    let elsewhere = f.pay("$my-own-wallet.example/me", 1000, 5);
    let payer = key(9);
    let err = f
        .spend(&f.voucher(&payer, &key(2), 0, 0), &[elsewhere])
        .unwrap_err();
    assert!(
        err.to_string().contains("not to this license's pointer"),
        "{err}"
    );
    assert_eq!(audit(&f.conn).unwrap().credited, 0);
}

#[test]
fn voucher_spend_charges_once_and_retries_get_the_same_answer() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    let r = f.pay(&f.pointer, 1000, 6);
    let v = f.voucher(&payer, &seeder, 0, 0);
    let first = f.spend(&v, std::slice::from_ref(&r)).unwrap();
    assert_eq!(first.body["outcome"], "charged");
    assert_eq!(first.body["charged"], "250");
    assert_eq!(first.body["creator"], "200");
    assert_eq!(first.body["seeder"], "50");
    assert_eq!(first.body["seeder_settled"], false);
    assert_eq!(first.body["balance"], "750");
    // A retried request (same voucher, same receipt) answers the same, debits once.
    assert_eq!(f.spend(&v, &[r]).unwrap(), first);
    // Another voucher with the same seq is refused.
    let other = f.voucher(&payer, &seeder, 1, 0);
    assert!(matches!(
        f.spend(&other, &[]),
        Err(LedgerError::Conflict(_))
    ));
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!(
        (
            a.credited,
            a.balances,
            a.voucher_charges,
            a.earned,
            a.pending
        ),
        (1000, 750, 250, 200, 50)
    );
}

#[test]
fn a_piece_priced_at_zero_is_charged_nothing_without_a_balance() {
    // Registration now refuses a price under a unit a piece; a license stored by an
    // earlier version may still have one.
    let mut f = fixture_priced(Amount(4));
    f.conn.execute("UPDATE licenses SET price = 2", []).unwrap();
    f.price = Amount(2);
    let (payer, seeder) = (key(9), key(2));
    let free = f.spend(&f.voucher(&payer, &seeder, 3, 0), &[]).unwrap();
    assert_eq!(free.body["outcome"], "charged");
    assert_eq!(free.body["charged"], "0");
    assert_eq!(free.body["balance"], "0");
    let err = f.spend(&f.voucher(&payer, &seeder, 0, 1), &[]).unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::PaymentRequired {
                missing: 1,
                balance: 0
            }
        ),
        "{err:?}"
    );
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!(
        (a.debited, a.voucher_charges, a.earned, a.pending),
        (0, 0, 0, 0)
    );
}

#[test]
fn short_balance_is_402_with_the_missing_amount_and_keeps_the_receipt() {
    let f = fixture();
    let payer = key(9);
    let r = f.pay(&f.pointer, 100, 8);
    let err = f
        .spend(&f.voucher(&payer, &key(2), 0, 0), &[r])
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::PaymentRequired {
                missing: 150,
                balance: 100
            }
        ),
        "{err:?}"
    );
    // (The writer keeps a 402's savepoint, so the credit stays; here we call directly.)
    let r2 = f.pay(&f.pointer, 150, 10);
    let ok = f.spend(&f.voucher(&payer, &key(2), 0, 0), &[r2]).unwrap();
    assert_eq!(ok.body["balance"], "0");
}

#[test]
fn seeder_cannot_spend_a_payers_balance_without_its_voucher() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 11)],
    )
    .unwrap();
    // The seeder signs a voucher naming the payer as payer: the signature is not the payer's.
    let amount = ilpt_protocol::split::piece_price(Amount(1000), 4, 1).unwrap();
    let forged = Voucher {
        info_hash: f.info_hash,
        payer: pk(&payer),
        payee: pk(&seeder),
        piece: 1,
        amount,
        seq: 1,
        expires: NOW + 60,
    }
    .sign(&seeder)
    .to_base64();
    assert!(matches!(
        f.spend(&forged, &[]),
        Err(LedgerError::Forbidden(_))
    ));
    assert!(matches!(
        f.spend("garbage", &[]),
        Err(LedgerError::BadRequest(_))
    ));
    let wrong_amount = Voucher {
        info_hash: f.info_hash,
        payer: pk(&payer),
        payee: pk(&seeder),
        piece: 1,
        amount: Amount(1),
        seq: 2,
        expires: NOW + 60,
    }
    .sign(&payer)
    .to_base64();
    assert!(matches!(
        f.spend(&wrong_amount, &[]),
        Err(LedgerError::BadRequest(_))
    ));
    assert_eq!(audit(&f.conn).unwrap().voucher_charges, 250);
}

#[test]
fn a_voucher_past_its_deadline_or_too_far_ahead_is_refused_and_a_huge_seq_is_400() {
    let f = fixture();
    let payer = key(9);
    let r = f.pay(&f.pointer, 1000, 40);
    let v = f.voucher(&payer, &key(2), 0, 0);
    let err = f
        .spend_at(&v, std::slice::from_ref(&r), NOW + 61)
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::BadRequest(ref m) if m.contains("expired")),
        "{err:?}"
    );
    let far = f.voucher_until(&payer, &key(2), 0, 1, NOW + 10_000);
    let err = f.spend(&far, &[]).unwrap_err();
    assert!(
        matches!(err, LedgerError::BadRequest(ref m) if m.contains("ahead")),
        "{err:?}"
    );
    let huge = f.voucher(&payer, &key(2), 0, u64::MAX);
    let err = f.spend(&huge, &[]).unwrap_err();
    assert!(matches!(err, LedgerError::BadRequest(_)), "{err:?}");
    assert_eq!(audit(&f.conn).unwrap().voucher_charges, 0);
}

#[test]
fn a_seeder_share_is_earned_only_once_the_payer_attests_delivery() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.set_pointer(&seeder, "$seeder.example/s");
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 41)],
    )
    .unwrap();
    assert_eq!(f.earnings_of(&seeder), ("0".into(), "50".into()));
    // Nothing pending is paid out: only the creator's part is due.
    let due: u64 = payouts_due(&f.conn).unwrap().iter().map(|d| d.amount).sum();
    assert_eq!(due, 200);
    // An attestation by anyone but the payer is no attestation.
    let forged = Attestation {
        info_hash: f.info_hash,
        payer: pk(&payer),
        payee: pk(&seeder),
        pieces: Bitfield::full(4),
    }
    .sign(&seeder);
    assert!(VerifiedAttestation::check(&forged.to_base64()).is_err());
    let answer = f.attest(&payer, &seeder, &[0, 1], NOW + 1);
    assert_eq!(answer["settled"], "50");
    assert_eq!(f.earnings_of(&seeder), ("50".into(), "0".into()));
    // The same attestation again changes nothing for piece 0. Piece 1 was attested
    // before it was bought (no honest payer does that: a piece is charged before it is
    // served), which counted for nothing; the next cumulative attestation, which names
    // it again, settles it once it is charged.
    assert_eq!(f.attest(&payer, &seeder, &[0], NOW + 2)["new"], 0);
    let charged = f.spend(&f.voucher(&payer, &seeder, 1, 1), &[]).unwrap();
    assert_eq!(charged.body["seeder_settled"], false);
    assert_eq!(f.earnings_of(&seeder), ("50".into(), "50".into()));
    assert_eq!(f.attest(&payer, &seeder, &[0, 1], NOW + 3)["settled"], "50");
    assert_eq!(f.earnings_of(&seeder), ("100".into(), "0".into()));
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.earned, a.pending), (500, 0));
}

/// H2 of the adversarial probe: a payer that bought a piece from an honest seeder names
/// a second key of its own for the same piece, to take the seeder share back.
#[test]
fn a_payer_cannot_take_a_share_back_through_a_second_key() {
    let f = fixture();
    let (payer, honest, own) = (key(9), key(2), key(7));
    f.spend(
        &f.voucher(&payer, &honest, 0, 0),
        &[f.pay(&f.pointer, 1000, 42)],
    )
    .unwrap();
    f.spend(&f.voucher(&payer, &honest, 1, 1), &[]).unwrap();
    // Before the honest seeder had its chance to be attested, nothing moves.
    assert_eq!(f.spend_now(&payer, &own, 0, 2, NOW + 5), "held");
    assert_eq!(f.earnings_of(&own), ("0".into(), "0".into()));
    assert_eq!(f.earnings_of(&honest), ("0".into(), "100".into()));
    // Once attested (the honest seeder hands the payer's attestation over), it never moves.
    f.attest(&payer, &honest, &[0], NOW + 6);
    assert_eq!(f.spend_now(&payer, &own, 0, 3, NOW + 500), "already_paid");
    assert_eq!(f.earnings_of(&honest), ("50".into(), "50".into()));
    // A payer that withholds the attestation of piece 1 can redirect it only after the
    // window (bounded by what the honest seeder leaves unattested: `ACK_WINDOW`).
    assert_eq!(f.spend_now(&payer, &own, 1, 4, NOW + 50), "held");
    assert_eq!(f.spend_now(&payer, &own, 1, 5, NOW + 100), "moved");
    assert_eq!(f.earnings_of(&own), ("0".into(), "50".into()));
    assert!(audit(&f.conn).unwrap().holds());
}

/// H1 of the adversarial probe: a payee takes vouchers for every piece and spends them
/// first (or late), delivers nothing good; the honest seeder delivers.
#[test]
fn a_payee_that_delivers_nothing_earns_nothing() {
    let f = fixture();
    let (payer, thief, honest) = (key(9), key(5), key(2));
    f.pay(&f.pointer, 1000, 43);
    let r = f.pay(&f.pointer, 1000, 44);
    f.spend(&f.voucher(&payer, &thief, 0, 0), &[r]).unwrap();
    f.spend(&f.voucher(&payer, &thief, 1, 1), &[]).unwrap();
    assert_eq!(f.earnings_of(&thief), ("0".into(), "100".into()));
    // The honest seeder is paid for the pieces (held: the thief got them first), serves
    // them, and the payer attests its delivery: claims, not yet settled.
    for (piece, seq) in [(0, 2), (1, 3)] {
        assert_eq!(f.spend_now(&payer, &honest, piece, seq, NOW + 1), "held");
    }
    assert_eq!(f.attest(&payer, &honest, &[0, 1], NOW + 2)["claims"], 2);
    assert_eq!(sweep(&f.conn, NOW + 3, &W, 64).unwrap().moved, 0);
    // The payer bans the thief: its shares move to the honest claimant at the next sweep,
    // and it can spend nothing more of the payer's.
    f.revoke(&payer, &thief, NOW + 4);
    assert_eq!(sweep(&f.conn, NOW + 5, &W, 64).unwrap().moved, 2);
    assert_eq!(f.earnings_of(&thief), ("0".into(), "0".into()));
    assert_eq!(f.earnings_of(&honest), ("100".into(), "0".into()));
    let late = f.voucher_until(&payer, &thief, 2, 4, NOW + 60);
    assert!(matches!(
        f.spend_at(&late, &[], NOW + 6),
        Err(LedgerError::Forbidden(_))
    ));
    // A late spend by the thief of a voucher for a piece settled elsewhere gains nothing.
    assert!(matches!(
        f.spend_at(&f.voucher(&payer, &thief, 0, 5), &[], NOW + 7),
        Err(LedgerError::Forbidden(_))
    ));
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
}

#[test]
fn without_a_ban_a_claim_settles_once_the_share_is_movable() {
    let f = fixture();
    let (payer, thief, honest) = (key(9), key(5), key(2));
    f.spend(
        &f.voucher(&payer, &thief, 0, 0),
        &[f.pay(&f.pointer, 1000, 45)],
    )
    .unwrap();
    assert_eq!(f.spend_now(&payer, &honest, 0, 1, NOW + 1), "held");
    f.attest(&payer, &honest, &[0], NOW + 2);
    assert_eq!(sweep(&f.conn, NOW + 99, &W, 64).unwrap().moved, 0);
    assert_eq!(sweep(&f.conn, NOW + 100, &W, 64).unwrap().moved, 1);
    assert_eq!(f.earnings_of(&honest), ("50".into(), "0".into()));
    assert_eq!(f.earnings_of(&thief), ("0".into(), "0".into()));
    // An attestation that arrives after the share is movable takes it at once.
    f.spend(&f.voucher(&payer, &thief, 1, 2), &[]).unwrap();
    let taken = f.attest(&payer, &honest, &[0, 1], NOW + 200);
    assert_eq!(taken["claims"], 0);
    assert_eq!(f.earnings_of(&honest), ("100".into(), "0".into()));
    assert!(audit(&f.conn).unwrap().holds());
}

#[test]
fn a_share_never_attested_goes_to_the_creator() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 46)],
    )
    .unwrap();
    assert_eq!(sweep(&f.conn, NOW + 999, &W, 64).unwrap().forfeited, 0);
    assert_eq!(sweep(&f.conn, NOW + 1000, &W, 64).unwrap().forfeited, 1);
    assert_eq!(f.earnings_of(&seeder), ("0".into(), "0".into()));
    assert_eq!(f.earnings_of(&f.creator), ("250".into(), "0".into()));
    // Settled with the creator: a late attestation or another payee changes nothing.
    f.attest(&payer, &seeder, &[0], NOW + 1001);
    assert_eq!(
        f.spend_now(&payer, &key(3), 0, 1, NOW + 1002),
        "already_paid"
    );
    assert_eq!(f.earnings_of(&seeder), ("0".into(), "0".into()));
    assert!(audit(&f.conn).unwrap().holds());
}

/// The shares are written behind ([`paid`]): some reach `paid_pieces` in a full round
/// of slices, later ones live only in memory when the connection goes (a crash, as far
/// as they are concerned). A new connection reads those back from the log and the
/// stored attestations, so every piece is still charged once, a moved share stays with
/// its latest holder and a settled one stays settled.
#[test]
fn statements_are_planned_once() {
    // The statement cache clears a statement's bindings as it takes it back; without
    // the planner's stability guarantee that made SQLite compile the slice-moving
    // statement again at every commit.
    let f = fixture();
    let payer = key(9);
    f.spend(
        &f.voucher(&payer, &key(2), 0, 0),
        &[f.pay(&f.pointer, 1000, 12)],
    )
    .unwrap();
    for n in 0..2 * paid::PARTS {
        paid::move_next_part(&f.conn).unwrap();
        let piece = 1 + (n % 3) as u32;
        f.spend(&f.voucher(&payer, &key(2), piece, 1 + n as u64), &[])
            .unwrap();
    }
    let stmt = f.conn.prepare_cached(paid::MOVE_PART).unwrap();
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    assert!(stmt.get_status(rusqlite::StatementStatus::Run) > 0);
}

#[test]
fn shares_written_behind_are_all_there_after_a_restart() {
    let mut f = fixture();
    let (payer, a, b) = (key(9), key(2), key(3));
    f.spend(&f.voucher(&payer, &a, 0, 0), &[f.pay(&f.pointer, 1000, 12)])
        .unwrap();
    f.spend(&f.voucher(&payer, &a, 1, 1), &[]).unwrap();
    assert_eq!(paid::recent_len(&f.conn).unwrap(), 2);
    // A whole round, as the writer's commits make it: both entries reach the table.
    for _ in 0..paid::PARTS {
        paid::move_next_part(&f.conn).unwrap();
    }
    assert_eq!(paid::recent_len(&f.conn).unwrap(), 0);
    let stored: i64 = f
        .conn
        .query_row("SELECT COUNT(*) FROM paid_pieces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 2);
    // Then piece 0's share moves to b (a did not deliver in time), piece 2 is bought and
    // attested, piece 1 is attested in the table, all in memory or in place, and a
    // round is under way but not finished.
    assert_eq!(f.spend_now(&payer, &b, 0, 2, NOW + 100), "moved");
    f.spend(&f.voucher(&payer, &a, 2, 3), &[]).unwrap();
    f.attest(&payer, &a, &[1, 2], NOW + 101);
    for _ in 0..paid::PARTS / 2 {
        paid::move_next_part(&f.conn).unwrap();
    }
    let path = f._dir.path().join("l.db");
    f.conn = open(&path).unwrap();
    for (piece, payee, seq, at, outcome) in [
        (0, &b, 4, NOW + 101, "already_paid"),
        (1, &b, 5, NOW + 5000, "already_paid"),
        (2, &b, 6, NOW + 5000, "already_paid"),
        (0, &a, 7, NOW + 199, "held"),
        (0, &a, 8, NOW + 200, "moved"),
        (3, &b, 9, NOW + 200, "charged"),
    ] {
        assert_eq!(
            f.spend_now(&payer, payee, piece, seq, at),
            outcome,
            "piece {piece}, seq {seq}"
        );
    }
    // Charged: pieces 0..4 once each (1000 in all, 250 each); a holds piece 0 again
    // (pending) and settled 1 and 2; b holds piece 3.
    assert_eq!(f.earnings_of(&a), ("100".into(), "50".into()));
    assert_eq!(f.earnings_of(&b), ("0".into(), "50".into()));
    let audit = audit(&f.conn).unwrap();
    assert!(audit.holds());
    assert_eq!(audit.voucher_charges, 1000);
}

#[test]
fn payouts_pay_what_is_earned_once() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 13)],
    )
    .unwrap();
    f.attest(&payer, &seeder, &[0], NOW);
    let pointer = "$seeder.example/s";
    let sig = ed25519_dalek::Signer::sign(&seeder, &payout_pointer_message(&pk(&seeder), pointer))
        .to_bytes();
    assert!(set_payout_pointer(&f.conn, &pk(&seeder), pointer, &[0; 64]).is_err());
    set_payout_pointer(&f.conn, &pk(&seeder), pointer, &sig).unwrap();
    let due = payouts_due(&f.conn).unwrap();
    let total: u64 = due.iter().map(|d| d.amount).sum();
    assert_eq!(total, 250);
    assert!(due
        .iter()
        .any(|d| d.pointer == "$wallet.example/alice" && d.amount == 200));
    assert_eq!(pay_out_in_full(&f.conn).iter().sum::<u64>(), 250);
    assert!(payouts_due(&f.conn).unwrap().is_empty());
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.paid_out, a.held), (250, 0));
}

#[test]
fn reference_routes_cannot_credit_or_spend_a_license_balance() {
    let f = fixture();
    let payer = key(9);
    f.spend(
        &f.voucher(&payer, &key(2), 0, 0),
        &[f.pay(&f.pointer, 1000, 20)],
    )
    .unwrap();
    let id = license_balance_id(f.info_hash, &pk(&payer));
    assert!(is_license_balance_id(&id));
    let receipt = f.pay("$somewhere.example/x", 500, 21);
    let err = credit_receipt(&f.conn, &f.seed, &id, &receipt, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Forbidden(_)), "{err:?}");
    let err = spend_balance(&f.conn, &id, 750, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Forbidden(_)), "{err:?}");
    // The payer's balance is untouched, and an ordinary id takes the same receipt.
    assert_eq!(balance(&f.conn, &id).unwrap(), Some(750));
    assert_eq!(
        credit_receipt(&f.conn, &f.seed, "alice", &receipt, None, NOW).unwrap(),
        500
    );
    assert!(!is_license_balance_id("alice"));
    assert!(audit(&f.conn).unwrap().holds());
}

#[test]
fn a_second_payout_run_pays_nothing_and_no_payout_exceeds_its_earnings() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 22)],
    )
    .unwrap();
    f.attest(&payer, &seeder, &[0], NOW);
    f.set_pointer(&seeder, "$seeder.example/s");
    let first = payouts::begin(&f.conn, 1, NOW).unwrap();
    assert_eq!(first.iter().map(|p| p.amount).sum::<u64>(), 250);
    assert!(first.iter().all(|p| p.state == payouts::State::Pending));
    // While they are being sent, a second run finds nothing due: the first reserved it.
    assert!(payouts::begin(&f.conn, 1, NOW).unwrap().is_empty());
    assert!(payouts_due(&f.conn).unwrap().is_empty());
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.paid_out, a.held), (0, 250));
    // No payout records more than its amount, nor an outcome twice.
    let p = &first[0];
    let err = payouts::finish(&f.conn, p.id, p.amount + 1, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::BadRequest(_)), "{err:?}");
    payouts::finish(&f.conn, p.id, p.amount, None, NOW).unwrap();
    let err = payouts::finish(&f.conn, p.id, p.amount, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    let err = payouts::finish(&f.conn, 999, 1, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::NotFound(_)), "{err:?}");
    for p in &first[1..] {
        payouts::finish(&f.conn, p.id, p.amount, None, NOW).unwrap();
    }
    assert!(payouts::begin(&f.conn, 1, NOW).unwrap().is_empty());
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.paid_out, a.held), (250, 0));
}

#[test]
fn what_a_payout_did_not_deliver_is_owed_again_and_nothing_more() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 25)],
    )
    .unwrap();
    f.attest(&payer, &seeder, &[0], NOW);
    f.set_pointer(&seeder, "$seeder.example/s");
    let started = payouts::begin(&f.conn, 1, NOW).unwrap();
    let creator = started.iter().find(|p| p.amount == 200).unwrap();
    let seeder_p = started.iter().find(|p| p.amount == 50).unwrap();
    // The creator's payout arrives in part, the seeder's not at all.
    let c = payouts::finish(&f.conn, creator.id, 120, Some("receiver went away"), NOW).unwrap();
    assert_eq!((c.state, c.delivered), (payouts::State::Partial, 120));
    let s = payouts::finish(&f.conn, seeder_p.id, 0, Some("F02"), NOW).unwrap();
    assert_eq!((s.state, s.delivered), (payouts::State::Failed, 0));
    let mut due: Vec<u64> = payouts_due(&f.conn)
        .unwrap()
        .iter()
        .map(|d| d.amount)
        .collect();
    due.sort_unstable();
    assert_eq!(due, vec![50, 80]);
    let e = earnings(&f.conn, &pk(&f.creator)).unwrap();
    assert_eq!(
        (e["earned"].as_str(), e["paid_out"].as_str()),
        (Some("200"), Some("120"))
    );
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.paid_out, a.held), (120, 0));
    // The next run pays exactly the rest.
    assert_eq!(pay_out_in_full(&f.conn).iter().sum::<u64>(), 130);
    assert_eq!(audit(&f.conn).unwrap().paid_out, 250);
}

#[test]
fn a_payout_cut_short_by_a_crash_is_never_resent_and_only_the_operator_settles_it() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    let operator = key(42);
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 26)],
    )
    .unwrap();
    f.attest(&payer, &seeder, &[0], NOW);
    f.set_pointer(&seeder, "$seeder.example/s");
    let started = payouts::begin(&f.conn, 1, NOW).unwrap();
    assert_eq!(started.len(), 2);
    // The verifier dies here; at the next start both are unknown.
    assert_eq!(payouts::mark_unknown(&f.conn).unwrap(), 2);
    assert!(payouts::begin(&f.conn, 1, NOW).unwrap().is_empty());
    let open = payouts::list(&f.conn, true, 10).unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.iter().all(|p| p.state == payouts::State::Unknown));
    let e = earnings(&f.conn, &pk(&seeder)).unwrap();
    assert_eq!(
        (
            e["unknown"].as_str(),
            e["paid_out"].as_str(),
            e["in_flight"].as_str()
        ),
        (Some("50"), Some("0"), Some("0"))
    );
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.unknown_payouts, a.unknown, a.held), (2, 250, 250));
    // An unknown payout is not finished by a sender, and is resolved only with the
    // operator's signature of exactly this payout and amount.
    let p = open.iter().find(|p| p.amount == 50).unwrap();
    let err = payouts::finish(&f.conn, p.id, 50, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    let sign = |k: &SigningKey, delivered: u64| {
        let m =
            ilpt_protocol::account::payout_resolution_message(p.id, &p.party, p.amount, delivered);
        ed25519_dalek::Signer::sign(k, &m).to_bytes()
    };
    let op = pk(&operator);
    let err = payouts::resolve(&f.conn, p.id, 50, None, &sign(&operator, 50), NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Forbidden(_)), "{err:?}");
    let err = payouts::resolve(&f.conn, p.id, 50, Some(&op), &sign(&seeder, 50), NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Forbidden(_)), "{err:?}");
    // Signed for another amount: not this resolution.
    let err =
        payouts::resolve(&f.conn, p.id, 50, Some(&op), &sign(&operator, 20), NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Forbidden(_)), "{err:?}");
    let r = payouts::resolve(&f.conn, p.id, 20, Some(&op), &sign(&operator, 20), NOW).unwrap();
    assert_eq!((r.state, r.delivered), (payouts::State::Partial, 20));
    let err =
        payouts::resolve(&f.conn, p.id, 20, Some(&op), &sign(&operator, 20), NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    // The unresolved 200 stays held; the seeder's 30 not delivered is owed again.
    let due: Vec<u64> = payouts_due(&f.conn)
        .unwrap()
        .iter()
        .map(|d| d.amount)
        .collect();
    assert_eq!(due, vec![30]);
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.paid_out, a.held, a.unknown_payouts), (20, 200, 1));
}

#[test]
fn a_payout_whose_answers_were_lost_becomes_unknown_at_once() {
    let f = fixture();
    let payer = key(9);
    f.spend(
        &f.voucher(&payer, &f.creator, 0, 0),
        &[f.pay(&f.pointer, 1000, 27)],
    )
    .unwrap();
    let p = payouts::begin(&f.conn, 1, NOW).unwrap().remove(0);
    let u = payouts::give_up(&f.conn, p.id, "T00 after 40 of 250 arrived").unwrap();
    assert_eq!(u.state, payouts::State::Unknown);
    assert!(payouts::give_up(&f.conn, p.id, "again").is_err());
    assert!(payouts::begin(&f.conn, 1, NOW).unwrap().is_empty());
    assert!(audit(&f.conn).unwrap().holds());
}

#[test]
fn a_payout_run_leaves_what_is_owed_below_the_minimum() {
    let f = fixture();
    let (payer, seeder) = (key(9), key(2));
    f.spend(
        &f.voucher(&payer, &seeder, 0, 0),
        &[f.pay(&f.pointer, 1000, 28)],
    )
    .unwrap();
    f.attest(&payer, &seeder, &[0], NOW);
    f.set_pointer(&seeder, "$seeder.example/s");
    let started = payouts::begin(&f.conn, 100, NOW).unwrap();
    assert_eq!(
        started.iter().map(|p| p.amount).collect::<Vec<_>>(),
        vec![200]
    );
    let due: Vec<u64> = payouts_due(&f.conn)
        .unwrap()
        .iter()
        .map(|d| d.amount)
        .collect();
    assert_eq!(due, vec![50]);
}

#[test]
fn a_share_paid_out_never_moves_and_a_pending_one_is_never_paid_out() {
    let f = fixture();
    let (payer, s1, s2, s3) = (key(9), key(2), key(3), key(4));
    f.set_pointer(&s1, "$s1.example/p");
    f.set_pointer(&s2, "$s2.example/p");
    f.set_pointer(&s3, "$s3.example/p");
    f.spend(
        &f.voucher(&payer, &s1, 0, 0),
        &[f.pay(&f.pointer, 1000, 24)],
    )
    .unwrap();
    f.attest(&payer, &s1, &[0], NOW);
    assert_eq!(pay_out_in_full(&f.conn).iter().sum::<u64>(), 250);
    for (seq, payee) in [(1, &s2), (2, &s3)] {
        assert_eq!(
            f.spend_now(&payer, payee, 0, seq, NOW + 500),
            "already_paid"
        );
        assert!(pay_out_in_full(&f.conn).is_empty());
    }
    // A pending share moves once movable, and is paid out only once attested.
    f.spend(&f.voucher(&payer, &s1, 1, 3), &[]).unwrap();
    assert_eq!(f.spend_now(&payer, &s2, 1, 4, NOW + 100), "moved");
    assert_eq!(pay_out_in_full(&f.conn).iter().sum::<u64>(), 200);
    f.attest(&payer, &s2, &[1], NOW + 101);
    assert_eq!(pay_out_in_full(&f.conn).iter().sum::<u64>(), 50);
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.voucher_charges, a.paid_out), (500, 500));
}

#[test]
fn a_creators_earnings_go_to_the_pointer_of_the_licenses_own_account() {
    let f = fixture();
    // The same creator key opens a second account paying elsewhere, and sets a party
    // pointer: neither redirects what the first license earns it.
    let other = RevShare {
        id: "other".into(),
        pointer: "http://127.0.0.1:7000/spsp/other".into(),
        payout_pointer: "$wallet.example/elsewhere".into(),
        creator_share_bps: 5000,
        asset_code: "USD".into(),
        asset_scale: 2,
        creator_key: pk(&f.creator),
    };
    create_revshare(&f.conn, &other, NOW).unwrap();
    f.set_pointer(&f.creator, "$creator.example/served");
    let payer = key(9);
    f.spend(
        &f.voucher(&payer, &f.creator, 0, 0),
        &[f.pay(&f.pointer, 1000, 23)],
    )
    .unwrap();
    // Serving its own file, the creator waits for the payer's word like any peer.
    assert_eq!(payouts_due(&f.conn).unwrap()[0].amount, 200);
    f.attest(&payer, &f.creator, &[0], NOW + 1);
    let due = payouts_due(&f.conn).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    // The creator earned its share (200) and served the piece (50), both on its own
    // license: all 250 go to the license's account pointer, which it signed when
    // opening that account. (What it earns serving other torrents goes to its party
    // pointer.)
    assert_eq!(due[0].pointer, "$wallet.example/alice");
    assert_eq!(due[0].amount, 250);
    assert_eq!(due[0].torrents, vec![(f.info_hash, 250)]);
    assert_eq!(due[0].asset, Asset::new("USD", 2).unwrap());
}

#[test]
fn expired_nonces_are_pruned_as_new_ones_are_issued() {
    let f = fixture();
    let count = |t: &str| -> i64 {
        f.conn
            .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    let receipt = f.pay("$wallet.example/x", 10, 30);
    credit_receipt(&f.conn, &f.seed, "alice", &receipt, None, NOW).unwrap();
    assert_eq!((count("nonces"), count("receipt_streams")), (1, 1));
    // 301 s later the nonce has expired, but it is kept for the grace period.
    let later = NOW + 301;
    issue_nonce(&f.conn, &[31; 16], "$wallet.example/x", later, 300).unwrap();
    assert_eq!((count("nonces"), count("receipt_streams")), (2, 1));
    let err = credit_receipt(&f.conn, &f.seed, "alice", &receipt, None, later).unwrap_err();
    assert_eq!(err.to_string(), "expired receipt");
    // After it, issuing another drops it and its totals.
    let later = NOW + 300 + NONCE_GRACE + 1;
    issue_nonce(&f.conn, &[32; 16], "$wallet.example/x", later, 300).unwrap();
    assert_eq!((count("nonces"), count("receipt_streams")), (2, 0));
    // Its receipt is refused as expired, as before pruning, and credits nothing.
    let err = credit_receipt(&f.conn, &f.seed, "alice", &receipt, None, later).unwrap_err();
    assert_eq!(err.to_string(), "expired receipt");
    assert_eq!(balance(&f.conn, "alice").unwrap(), Some(10));
}

#[test]
fn license_registration_checks_hash_signature_and_account() {
    let f = fixture();
    let err = register_license(&f.conn, InfoHash([0; 20]), b"d4:name1:ae").unwrap_err();
    assert!(err.to_string().contains("not the expected"), "{err}");
}

/// M1 of the adversarial probe: two huge credits to plain balances made SQLite's
/// `SUM()` overflow, and every later audit failed.
#[test]
fn huge_credits_are_bounded_and_the_audit_sums_exactly() {
    let f = fixture();
    let huge = f.pay("$attacker.example/x", 1 << 62, 50);
    let err = credit_receipt(&f.conn, &f.seed, "a", &huge, None, NOW).unwrap_err();
    assert!(matches!(err, LedgerError::BadRequest(_)), "{err:?}");
    let most = f.pay("$attacker.example/x", MAX_CREDIT, 51);
    credit_receipt(&f.conn, &f.seed, "a", &most, None, NOW).unwrap();
    // Rows past what any one credit may add (as an older verifier may have stored):
    // the audit still sums them, exactly.
    for (id, n) in [("b", 52u8), ("c", 53)] {
        f.conn
            .execute(
                "INSERT INTO balances (id, amount) VALUES (?1, ?2)",
                params![id, i64::MAX],
            )
            .unwrap();
        f.conn
            .execute(
                "INSERT INTO credits (balance, nonce, stream_id, amount, at) VALUES (?1, ?2, 1, ?3, 0)",
                params![id, vec![n; 16], i64::MAX],
            )
            .unwrap();
    }
    let a = audit(&f.conn).unwrap();
    assert_eq!(
        a.credited,
        u128::from(MAX_CREDIT) + 2 * u128::from(i64::MAX as u64)
    );
    assert!(a.holds(), "{a:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any sequence of payments, spends, attestations, bans, sweeps, payout runs and
    /// their outcomes (delivered in full, in part or not at all; cut short by a crash;
    /// resolved by the operator) keeps Σ credited = Σ balances + Σ debited,
    /// Σ charges = Σ earned + Σ pending, and every unit earned is paid out, held by a
    /// payout not settled, or owed: never two of these, never none. The payer never
    /// pays more than the price.
    #[test]
    fn invariants_hold_for_any_sequence(ops in proptest::collection::vec((0u8..11, 0u32..4, 2u8..5, 1u64..400), 1..40)) {
        let f = fixture();
        let payer = key(9);
        let operator = key(42);
        for payee in 2..5 {
            f.set_pointer(&key(payee), &format!("$p{payee}.example/p"));
        }
        let mut now = NOW;
        for (i, (kind, piece, payee, amount)) in ops.into_iter().enumerate() {
            let i = u8::try_from(i).unwrap();
            let v = f.voucher_until(&payer, &key(payee), piece, u64::from(i), now + 60);
            match kind {
                0 => { let _ = credit_receipt(&f.conn, &f.seed, &license_balance_id(f.info_hash, &pk(&payer)), &f.pay(&f.pointer, amount, 100 + i), Some(&f.pointer), now); }
                1 => { let _ = f.spend_at(&v, &[], now); }
                2 => { let _ = f.spend_at(&v, &[f.pay(&f.pointer, amount, 100 + i)], now); }
                3 => { f.attest(&payer, &key(payee), &[piece, (piece + 1) % 4], now); }
                4 => { f.revoke(&payer, &key(payee), now); }
                5 => { now += amount * 3; sweep(&f.conn, now, &W, 64).unwrap(); }
                6 => { payouts::begin(&f.conn, amount % 60, now).unwrap(); }
                7 | 8 => {
                    // A payout in flight ends: in full, in part, or with nothing.
                    let open = payouts::list(&f.conn, true, 100).unwrap();
                    if let Some(p) = open.iter().find(|p| p.state == payouts::State::Pending) {
                        let delivered = [p.amount, p.amount * (amount % 100) / 100, 0][usize::from(kind - 7) + usize::from(piece % 2 == 1)];
                        if kind == 8 && piece == 3 {
                            payouts::give_up(&f.conn, p.id, "lost").unwrap();
                        } else {
                            payouts::finish(&f.conn, p.id, delivered, None, now).unwrap();
                        }
                    }
                }
                9 => { payouts::mark_unknown(&f.conn).unwrap(); }
                _ => {
                    let open = payouts::list(&f.conn, true, 100).unwrap();
                    if let Some(p) = open.iter().find(|p| p.state == payouts::State::Unknown) {
                        let delivered = p.amount * (amount % 101) / 100;
                        let m = ilpt_protocol::account::payout_resolution_message(p.id, &p.party, p.amount, delivered);
                        let sig = ed25519_dalek::Signer::sign(&operator, &m).to_bytes();
                        payouts::resolve(&f.conn, p.id, delivered, Some(&pk(&operator)), &sig, now).unwrap();
                    }
                }
            }
            // Each op ran alone here (no savepoints): still every invariant must hold.
            let a = audit(&f.conn).unwrap();
            prop_assert!(a.holds(), "{:?}", a);
            prop_assert!(a.voucher_charges <= 1000);
            let owed: u128 = payouts_due(&f.conn).unwrap().iter().map(|d| u128::from(d.amount)).sum();
            prop_assert_eq!(a.earned, a.paid_out + a.held + owed, "{:?}", a);
        }
    }
}
