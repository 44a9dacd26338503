//! Ledger tests against a real SQLite file: the money rules and their invariants.

use super::*;
use ed25519_dalek::SigningKey;
use ilpt_protocol::receipt::Receipt;
use ilpt_protocol::{Asset, Info, Layout, License, NewTorrent, Voucher};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

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

    fn voucher(&self, payer: &SigningKey, payee: &SigningKey, piece: u32, seq: u64) -> String {
        let amount = ilpt_protocol::split::piece_price(self.price, 4, piece).unwrap();
        Voucher {
            info_hash: self.info_hash,
            payer: pk(payer),
            payee: pk(payee),
            piece,
            amount,
            seq,
        }
        .sign(payer)
        .to_base64()
    }

    fn spend(&self, voucher: &str, receipts: &[String]) -> Result<SpendAnswer> {
        let voucher = VerifiedVoucher::check(voucher)?;
        spend_voucher(
            &self.conn,
            &self.seed,
            self.info_hash,
            &voucher,
            receipts,
            NOW,
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
        (a.credited, a.balances, a.voucher_charges, a.earned),
        (1000, 750, 250, 250)
    );
}

/// A license priced below its piece count leaves some pieces free (price 2 over 4
/// pieces: 1, 1, 0, 0). Spending one needs no balance and journals no debit; a paid
/// piece still needs the money.
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
    assert_eq!((a.debited, a.voucher_charges, a.earned), (0, 0, 0));
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
fn buying_a_paid_piece_elsewhere_moves_the_seeder_share_and_charges_nothing() {
    let f = fixture();
    let (payer, a, b) = (key(9), key(2), key(3));
    f.spend(&f.voucher(&payer, &a, 0, 0), &[f.pay(&f.pointer, 1000, 12)])
        .unwrap();
    let moved = f.spend(&f.voucher(&payer, &b, 0, 1), &[]).unwrap();
    assert_eq!(moved.body["outcome"], "moved");
    assert_eq!(moved.body["balance"], "750");
    let ea = earnings(&f.conn, &pk(&a)).unwrap();
    let eb = earnings(&f.conn, &pk(&b)).unwrap();
    assert_eq!(
        (ea["earned"].as_str(), eb["earned"].as_str()),
        (Some("0"), Some("50"))
    );
    let same = f.spend(&f.voucher(&payer, &b, 0, 2), &[]).unwrap();
    assert_eq!(same.body["outcome"], "already_paid");
    assert!(audit(&f.conn).unwrap().holds());
    // The creator serving keeps everything.
    f.spend(&f.voucher(&payer, &f.creator, 1, 3), &[]).unwrap();
    let ec = earnings(&f.conn, &pk(&f.creator)).unwrap();
    assert_eq!(ec["earned"], "450");
}

/// The paid pieces are written behind ([`paid`]): some reach `paid_pieces` in a full
/// round of slices, later ones live only in memory when the connection goes (a crash,
/// as far as they are concerned). A new connection reads those back from the vouchers,
/// so every piece is still charged once and a moved share moves from its latest payee.
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
fn paid_pieces_written_behind_are_all_there_after_a_restart() {
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
    // Then piece 0's share moves to b and piece 2 is bought, in memory only, and a
    // round is under way but not finished.
    let moved = f.spend(&f.voucher(&payer, &b, 0, 2), &[]).unwrap();
    assert_eq!(moved.body["outcome"], "moved");
    f.spend(&f.voucher(&payer, &a, 2, 3), &[]).unwrap();
    for _ in 0..paid::PARTS / 2 {
        paid::move_next_part(&f.conn).unwrap();
    }
    let path = f._dir.path().join("l.db");
    f.conn = open(&path).unwrap();
    for (piece, payee, seq, outcome) in [
        (0, &b, 4, "already_paid"),
        (1, &a, 5, "already_paid"),
        (2, &a, 6, "already_paid"),
        (0, &a, 7, "moved"),
        (3, &b, 8, "charged"),
    ] {
        let answer = f.spend(&f.voucher(&payer, payee, piece, seq), &[]).unwrap();
        assert_eq!(answer.body["outcome"], outcome, "piece {piece}, seq {seq}");
    }
    // Charged: pieces 0..4 once each (1000 in all, 250 each); the seeder share of
    // piece 0 (50) went a → b → a.
    let ea = earnings(&f.conn, &pk(&a)).unwrap();
    let eb = earnings(&f.conn, &pk(&b)).unwrap();
    assert_eq!(
        (ea["earned"].as_str(), eb["earned"].as_str()),
        (Some("150"), Some("50"))
    );
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
    for d in &due {
        record_payout(&f.conn, d, "proof", NOW).unwrap();
    }
    assert!(payouts_due(&f.conn).unwrap().is_empty());
    assert_eq!(audit(&f.conn).unwrap().paid_out, 250);
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
    f.set_pointer(&seeder, "$seeder.example/s");
    let due = payouts_due(&f.conn).unwrap();
    let mut over = due[0].clone();
    over.amount += 1;
    let err = record_payout(&f.conn, &over, "p", NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    let mut zero = due[0].clone();
    zero.amount = 0;
    assert!(record_payout(&f.conn, &zero, "p", NOW).is_err());
    let mut n = 0;
    let first = pay_out_all(&f.conn, NOW, |_| {
        n += 1;
        Ok(format!("proof-{n}"))
    })
    .unwrap();
    assert_eq!(first.iter().map(|(d, _)| d.amount).sum::<u64>(), 250);
    assert!(pay_out_all(&f.conn, NOW, |_| Ok("again".into()))
        .unwrap()
        .is_empty());
    // Recording an old entry again (a retried payout) is refused too.
    let err = record_payout(&f.conn, &first[0].0, "p", NOW).unwrap_err();
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!(a.paid_out, 250);
}

#[test]
fn a_share_paid_out_does_not_move_to_another_payee() {
    // One payment, its seeder share paid out, then vouchers naming other payees for the
    // same piece: they must not be credited the share again (each would be paid out).
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
    let proof = |_: &PayoutDue| Ok("p".to_owned());
    let first: u64 = pay_out_all(&f.conn, NOW, proof)
        .unwrap()
        .iter()
        .map(|(d, _)| d.amount)
        .sum();
    assert_eq!(first, 250);
    for (seq, payee) in [(1, &s2), (2, &s3)] {
        let answer = f.spend(&f.voucher(&payer, payee, 0, seq), &[]).unwrap();
        assert_eq!(answer.body["outcome"], "moved");
        assert_eq!(answer.body["moved"], "0", "{}", answer.body);
        assert!(pay_out_all(&f.conn, NOW, proof).unwrap().is_empty());
    }
    // An unpaid share still moves: piece 1 bought from s1, then served by s2.
    f.spend(&f.voucher(&payer, &s1, 1, 3), &[]).unwrap();
    let moved = f.spend(&f.voucher(&payer, &s2, 1, 4), &[]).unwrap();
    assert_eq!(moved.body["moved"], "50");
    let a = audit(&f.conn).unwrap();
    assert!(a.holds(), "{a:?}");
    assert_eq!((a.voucher_charges, a.paid_out), (500, 250));
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
    let due = payouts_due(&f.conn).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    // The creator earned its share (200) and served the piece (50), both on its own
    // license: all 250 go to the license's account pointer, which it signed when
    // opening that account. (What it earns serving other torrents goes to its party
    // pointer.)
    assert_eq!(due[0].pointer, "$wallet.example/alice");
    assert_eq!(due[0].amount, 250);
    assert_eq!(due[0].torrents, vec![f.info_hash]);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any sequence of payments and spends keeps Σ credited = Σ balances + Σ debited and
    /// Σ charges = Σ earnings, and the payer never pays more than the price.
    #[test]
    fn invariants_hold_for_any_sequence(ops in proptest::collection::vec((0u8..3, 0u32..4, 2u8..5, 1u64..400), 1..40)) {
        let f = fixture();
        let payer = key(9);
        for (i, (kind, piece, payee, amount)) in ops.into_iter().enumerate() {
            let i = u8::try_from(i).unwrap();
            match kind {
                0 => { let _ = credit_receipt(&f.conn, &f.seed, &license_balance_id(f.info_hash, &pk(&payer)), &f.pay(&f.pointer, amount, 100 + i), Some(&f.pointer), NOW); }
                1 => { let _ = f.spend(&f.voucher(&payer, &key(payee), piece, u64::from(i)), &[]); }
                _ => { let _ = f.spend(&f.voucher(&payer, &key(payee), piece, u64::from(i)), &[f.pay(&f.pointer, amount, 100 + i)]); }
            }
            // Each op ran alone here (no savepoints): still every invariant must hold.
            let a = audit(&f.conn).unwrap();
            prop_assert!(a.holds(), "{:?}", a);
            prop_assert!(a.voucher_charges <= 1000);
        }
    }
}
