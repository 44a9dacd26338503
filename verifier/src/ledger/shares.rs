//! Voucher spends, delivery attestations, revocations and the settlement sweep: the
//! charging rule of [`ilpt_protocol::charging`] carried out in the ledger.
//!
//! Every decision here is the protocol's ([`Terms::decide`], [`Terms::attest`],
//! [`Terms::settle`]); this module reads the state the decision needs (the share,
//! revocations, attestations) and records what it says: debits, the creator's
//! earnings, each payee's pending and settled (earned) seeder shares.

use ilpt_protocol::bitfield::Bitfield;
use ilpt_protocol::charging::{
    AttestDecision, SettleDecision, Share, SpendDecision, Standing, Terms, Windows,
};
use ilpt_protocol::delivery::{SignedAttestation, SignedRevocation};
use ilpt_protocol::{Amount, InfoHash, PublicKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use super::{
    accept_receipt, add_to_balance, balance_of, decode_key, exec, find_license, find_revshare,
    journal_debit, license_balance_id, paid, take_from_balance, to_i64, LedgerError, LicenseRow,
    Result, SpendAnswer, VerifiedVoucher, MAX_RECEIPTS_PER_SPEND,
};
use crate::ledger::ReceiptSeed;

/// Whether `payer` has attested that `payee` delivered `piece` of `info_hash`.
pub fn attested(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    payee: &PublicKey,
    piece: u32,
) -> Result<bool> {
    let bits = stored_attestation(conn, info_hash, payer, payee)?;
    Ok(bits.is_some_and(|b| wire_bit(&b, piece)))
}

/// The pieces `payer` last attested `payee` delivered (a wire bitfield), if any.
fn stored_attestation(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    payee: &PublicKey,
) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached(
            "SELECT pieces FROM attestations WHERE info_hash = ?1 AND payer = ?2 AND payee = ?3",
        )?
        .query_row(
            params![
                &info_hash.0[..],
                &payer.to_bytes()[..],
                &payee.to_bytes()[..]
            ],
            |r| r.get(0),
        )
        .optional()?)
}

/// Bit `piece` of a BitTorrent bitfield (bit 7 of byte 0 is piece 0).
fn wire_bit(bits: &[u8], piece: u32) -> bool {
    bits.get(piece as usize / 8)
        .is_some_and(|b| b & (0x80 >> (piece % 8)) != 0)
}

/// Set once any ledger of this process holds a revocation: until then a spend needs
/// no lookup of them (the common case costs nothing; a revocation turns the lookups on).
static ANY_REVOCATION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Notes that `conn`'s ledger holds revocations, if it does (at start).
pub(crate) fn note_revocations(conn: &Connection) -> Result<()> {
    let any: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM revocations)", [], |r| {
        r.get(0)
    })?;
    if any {
        ANY_REVOCATION.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// Whether `payer` revoked `payee` on `info_hash`.
fn revoked(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    payee: &PublicKey,
) -> Result<bool> {
    if !ANY_REVOCATION.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(false);
    }
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM revocations WHERE info_hash = ?1 AND payer = ?2 AND payee = ?3",
        )?
        .query_row(
            params![
                &info_hash.0[..],
                &payer.to_bytes()[..],
                &payee.to_bytes()[..]
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Adds `earned` and `pending` (either may be negative) to a party's row on a torrent.
/// A row can never go below zero (the schema's CHECKs), so taking a pending share from
/// a party that does not hold it fails the operation rather than the books.
fn add_earnings(
    conn: &Connection,
    party: &PublicKey,
    info_hash: InfoHash,
    earned: i128,
    pending: i128,
) -> Result<()> {
    if earned == 0 && pending == 0 {
        return Ok(());
    }
    let (e, p) = (amount_i64(earned)?, amount_i64(pending)?);
    let key = (&party.to_bytes()[..], &info_hash.0[..]);
    // An insert's row must pass the CHECKs before the conflict makes it an update, so
    // a negative change is an update of the row that must exist.
    let changed = if e >= 0 && p >= 0 {
        exec(
            conn,
            "INSERT INTO earnings (party, info_hash, earned, pending) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (party, info_hash)
             DO UPDATE SET earned = earned + excluded.earned, pending = pending + excluded.pending",
            params![key.0, key.1, e, p],
        )
    } else {
        exec(
            conn,
            "UPDATE earnings SET earned = earned + ?3, pending = pending + ?4
             WHERE party = ?1 AND info_hash = ?2",
            params![key.0, key.1, e, p],
        )
    };
    let not_held =
        || LedgerError::Conflict("moving a share from a party that does not hold it".into());
    match changed {
        Ok(1) => Ok(()),
        Ok(_) => Err(not_held()),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(not_held())
        }
        Err(e) => Err(e.into()),
    }
}

fn amount_i64(v: i128) -> Result<i64> {
    i64::try_from(v).map_err(|_| LedgerError::Conflict("earning exceeds 64 bits".into()))
}

/// Credits a charge: the creator's part earned, the payee's part pending or earned, in
/// one statement when both are owed to different parties (the usual case).
fn earn_charge(
    conn: &Connection,
    info_hash: InfoHash,
    creator: (&PublicKey, u64),
    payee: (&PublicKey, u64),
    settled: bool,
) -> Result<()> {
    let (seeder_earned, seeder_pending) = if settled { (payee.1, 0) } else { (0, payee.1) };
    if creator.1 == 0 || payee.1 == 0 || creator.0 == payee.0 {
        add_earnings(conn, creator.0, info_hash, i128::from(creator.1), 0)?;
        return add_earnings(
            conn,
            payee.0,
            info_hash,
            i128::from(seeder_earned),
            i128::from(seeder_pending),
        );
    }
    exec(
        conn,
        "INSERT INTO earnings (party, info_hash, earned, pending)
         VALUES (?1, ?3, ?4, 0), (?2, ?3, ?5, ?6)
         ON CONFLICT (party, info_hash)
         DO UPDATE SET earned = earned + excluded.earned, pending = pending + excluded.pending",
        params![
            &creator.0.to_bytes()[..],
            &payee.0.to_bytes()[..],
            &info_hash.0[..],
            to_i64(creator.1, "earning")?,
            to_i64(seeder_earned, "earning")?,
            to_i64(seeder_pending, "earning")?
        ],
    )?;
    Ok(())
}

/// Moves a share's worth from `from`'s pending to `to` (pending or earned).
fn move_share(
    conn: &Connection,
    info_hash: InfoHash,
    from: &PublicKey,
    to: &PublicKey,
    amount: Amount,
    settled: bool,
) -> Result<()> {
    let a = i128::from(amount.0);
    add_earnings(conn, from, info_hash, 0, -a)?;
    if settled {
        add_earnings(conn, to, info_hash, a, 0)
    } else {
        add_earnings(conn, to, info_hash, 0, a)
    }
}

/// `POST /licenses/{info_hash}/spend`: credits any `receipts` to the payer's balance on
/// this license, then spends the voucher by the charging rule at `now`.
///
/// Receipts are credited even when the spend then comes up short (402): the payment
/// was real. A replayed receipt credits nothing and is not an error here.
pub fn spend_voucher(
    conn: &Connection,
    seed: &ReceiptSeed,
    info_hash: InfoHash,
    voucher: &VerifiedVoucher,
    receipts: &[String],
    now: u64,
    windows: &Windows,
) -> Result<SpendAnswer> {
    let signed = &voucher.0;
    let v = &signed.voucher;
    if v.info_hash != info_hash {
        return Err(LedgerError::BadRequest(format!(
            "voucher is for torrent {}, not {info_hash}",
            v.info_hash
        )));
    }
    let license = license_of(conn, info_hash)?;
    let voucher_bytes = signed.to_bytes();
    let seq = i64::try_from(v.seq)
        .map_err(|_| LedgerError::BadRequest(format!("voucher seq {} is above 2^63 - 1", v.seq)))?;
    let used: Option<(Vec<u8>, String)> = conn
        .prepare_cached("SELECT voucher, response FROM vouchers WHERE payer = ?1 AND seq = ?2")?
        .query_row(params![&v.payer.to_bytes()[..], seq], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((stored, response)) = used {
        if stored == voucher_bytes {
            return serde_json::from_str(&response)
                .map_err(|e| LedgerError::Conflict(format!("stored answer is unreadable: {e}")));
        }
        return Err(LedgerError::Conflict(format!(
            "voucher seq {} of this payer was already used",
            v.seq
        )));
    }
    let balance_id = license_balance_id(info_hash, &v.payer);
    credit_receipts(conn, seed, &license, &balance_id, receipts, now)?;
    let share = paid::share_of(conn, info_hash, &v.payer, v.piece)?;
    let standing = Standing {
        holder_revoked: match &share {
            Some(s) => revoked(conn, info_hash, &v.payer, &s.holder)?,
            None => false,
        },
        payee_revoked: revoked(conn, info_hash, &v.payer, &v.payee)?,
        // Stored attestations hold only pieces already bought (see `attest`).
        payee_attested: false,
    };
    let decision = license
        .terms
        .decide(v, share.as_ref(), standing, now, windows)
        .map_err(|e| {
            if e.is_forbidden() {
                LedgerError::Forbidden(e.to_string())
            } else {
                LedgerError::BadRequest(e.to_string())
            }
        })?;
    let body = match decision {
        SpendDecision::Charge {
            amount,
            creator,
            seeder,
            settled,
        } => {
            let remaining = take_from_balance(conn, &balance_id, amount.0)?;
            if amount.0 > 0 {
                journal_debit(conn, &balance_id, amount.0, "voucher", now)?;
            }
            earn_charge(
                conn,
                info_hash,
                (&license.terms.creator, creator.0),
                (&v.payee, seeder.0),
                settled,
            )?;
            let share = Share {
                holder: v.payee,
                since: now,
                settled,
            };
            paid::record(conn, info_hash, &v.payer, v.piece, &share)?;
            json!({"outcome": "charged", "charged": amount.0.to_string(), "balance": remaining.to_string(),
                   "creator": creator.0.to_string(), "seeder": seeder.0.to_string(),
                   "seeder_settled": settled})
        }
        SpendDecision::Move {
            from,
            amount,
            settled,
        } => {
            move_share(conn, info_hash, &from, &v.payee, amount, settled)?;
            let share = Share {
                holder: v.payee,
                since: now,
                settled,
            };
            paid::record(conn, info_hash, &v.payer, v.piece, &share)?;
            let balance = balance_of(conn, &balance_id)?.unwrap_or(0);
            json!({"outcome": "moved", "charged": "0", "balance": balance.to_string(),
                   "moved": amount.0.to_string(), "from": from, "seeder_settled": settled})
        }
        SpendDecision::Held { holder, movable_at } => {
            let balance = balance_of(conn, &balance_id)?.unwrap_or(0);
            json!({"outcome": "held", "charged": "0", "balance": balance.to_string(),
                   "holder": holder, "movable_at": movable_at})
        }
        SpendDecision::AlreadyPaid => {
            let balance = balance_of(conn, &balance_id)?.unwrap_or(0);
            json!({"outcome": "already_paid", "charged": "0", "balance": balance.to_string()})
        }
    };
    let answer = SpendAnswer { status: 200, body };
    let stored =
        serde_json::to_string(&answer).map_err(|e| LedgerError::Conflict(e.to_string()))?;
    exec(
        conn,
        "INSERT INTO vouchers (payer, seq, voucher, response) VALUES (?1, ?2, ?3, ?4)",
        params![&v.payer.to_bytes()[..], seq, &voucher_bytes[..], stored],
    )?;
    Ok(answer)
}

/// The license registered for `info_hash` (404 if none).
fn license_of(conn: &Connection, info_hash: InfoHash) -> Result<LicenseRow> {
    find_license(conn, info_hash)?.ok_or_else(|| {
        LedgerError::NotFound(format!(
            "no license registered for {info_hash}; register it with PUT /licenses/{info_hash}"
        ))
    })
}

/// Credits receipts shown with a spend to the payer's balance on the license; each
/// must pay the license's own pointer.
fn credit_receipts(
    conn: &Connection,
    seed: &ReceiptSeed,
    license: &LicenseRow,
    balance_id: &str,
    receipts: &[String],
    now: u64,
) -> Result<()> {
    if receipts.len() > MAX_RECEIPTS_PER_SPEND {
        return Err(LedgerError::BadRequest(format!(
            "at most {MAX_RECEIPTS_PER_SPEND} receipts per spend"
        )));
    }
    if receipts.is_empty() {
        return Ok(());
    }
    let pointer = find_revshare(conn, &license.revshare)?
        .map(|a| a.pointer)
        .ok_or_else(|| LedgerError::Conflict("license has no revenue-share account".into()))?;
    for r in receipts {
        // An amount past 2^63 − 1 is a bad request here: 409 means a reused seq.
        let (increase, paid_to, receipt) =
            accept_receipt(conn, seed, r, now).map_err(|e| match e {
                LedgerError::Conflict(m) => LedgerError::BadRequest(m),
                e => e,
            })?;
        if paid_to != pointer {
            return Err(LedgerError::BadRequest(format!(
                "receipt is for a payment to {paid_to}, not to this license's pointer {pointer}"
            )));
        }
        if increase > 0 {
            add_to_balance(conn, balance_id, increase, &receipt, now)?;
        }
    }
    Ok(())
}

/// An attestation whose payer signature has been checked (in the request handler, off
/// the writer).
#[derive(Debug, Clone)]
pub struct VerifiedAttestation(SignedAttestation);

impl VerifiedAttestation {
    /// Decodes base64 and checks the payer's signature (400 malformed, 403 forged).
    pub fn check(text: &str) -> Result<VerifiedAttestation> {
        let signed = SignedAttestation::decode_base64_with(text, super::decode_key)
            .map_err(|e| LedgerError::BadRequest(e.to_string()))?;
        signed
            .verify()
            .map_err(|e| LedgerError::Forbidden(e.to_string()))?;
        Ok(VerifiedAttestation(signed))
    }
}

/// `POST /licenses/{info_hash}/attest`: records the payer's attestation of what a
/// payee delivered and carries out what it decides for each newly attested piece:
/// settles the payee's pending shares, takes movable shares from other holders, or
/// keeps a claim for the sweep. An attestation that adds nothing changes nothing.
pub fn attest(
    conn: &Connection,
    info_hash: InfoHash,
    attestation: &VerifiedAttestation,
    now: u64,
    windows: &Windows,
) -> Result<serde_json::Value> {
    let a = &attestation.0.attestation;
    if a.info_hash != info_hash {
        return Err(LedgerError::BadRequest(format!(
            "attestation is for torrent {}, not {info_hash}",
            a.info_hash
        )));
    }
    let license = license_of(conn, info_hash)?;
    let n = license.terms.piece_count;
    if a.pieces.len() != n {
        return Err(LedgerError::BadRequest(format!(
            "attestation covers {} pieces; the torrent has {n}",
            a.pieces.len()
        )));
    }
    let (payer, payee) = (&a.payer, &a.payee);
    let stored = stored_attestation(conn, info_hash, payer, payee)?;
    let before = match stored {
        Some(bytes) => Bitfield::from_wire(&bytes, n)
            .ok_or_else(|| LedgerError::Conflict("stored attestation is unreadable".into()))?,
        None => Bitfield::new(n),
    };
    let new: Vec<u32> = a.pieces.iter().filter(|&p| !before.get(p)).collect();
    let new_count = new.len();
    if new.is_empty() {
        return Ok(json!({"new": 0, "settled": "0", "claims": 0}));
    }
    // What is stored is what was attested of pieces already bought: a piece attested
    // before it is charged (an order no honest payer makes, since a piece is charged
    // before it is served) is taken when a later, cumulative, attestation names it
    // again. So a spend never needs to look the attestations up.
    let mut union = before;
    let payee_revoked = revoked(conn, info_hash, payer, payee)?;
    let (mut settled, mut claims) = (0u128, 0u32);
    for piece in new {
        let share = paid::share_of(conn, info_hash, payer, piece)?;
        if share.is_some() {
            union.set(piece);
        }
        let holder_revoked = match &share {
            Some(s) if s.holder != *payee => revoked(conn, info_hash, payer, &s.holder)?,
            _ => false,
        };
        let standing = Standing {
            holder_revoked,
            payee_revoked,
            payee_attested: true,
        };
        match license
            .terms
            .attest(piece, payee, share.as_ref(), standing, now, windows)
        {
            AttestDecision::Settle { amount } => {
                settled += u128::from(amount.0);
                paid::settle_in_place(conn, info_hash, payer, piece)?;
                drop_claim(conn, info_hash, payer, piece)?;
            }
            AttestDecision::Take { from, amount } => {
                move_share(conn, info_hash, &from, payee, amount, true)?;
                let share = Share {
                    holder: *payee,
                    since: now,
                    settled: true,
                };
                paid::record(conn, info_hash, payer, piece, &share)?;
                drop_claim(conn, info_hash, payer, piece)?;
            }
            AttestDecision::Claim => {
                let movable_at = share
                    .map(|s| s.since.saturating_add(windows.move_after))
                    .unwrap_or(now);
                exec(
                    conn,
                    "INSERT INTO claims (info_hash, payer, piece, claimant, movable_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                    params![
                        &info_hash.0[..],
                        &payer.to_bytes()[..],
                        piece,
                        &payee.to_bytes()[..],
                        to_i64(movable_at, "time")?
                    ],
                )?;
                claims += 1;
            }
            AttestDecision::Nothing => {}
        }
    }
    exec(
        conn,
        "INSERT INTO attestations (info_hash, payer, payee, pieces, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (info_hash, payer, payee) DO UPDATE SET pieces = excluded.pieces, at = excluded.at",
        params![
            &info_hash.0[..],
            &payer.to_bytes()[..],
            &payee.to_bytes()[..],
            union.to_wire(),
            to_i64(now, "time")?
        ],
    )?;
    // All settlements of one attestation are the one payee's: one row change.
    let settled_i = i128::try_from(settled).unwrap_or(i128::MAX);
    add_earnings(conn, payee, info_hash, settled_i, -settled_i)?;
    Ok(json!({"new": new_count, "settled": settled.to_string(), "claims": claims}))
}

fn drop_claim(conn: &Connection, info_hash: InfoHash, payer: &PublicKey, piece: u32) -> Result<()> {
    exec(
        conn,
        "DELETE FROM claims WHERE info_hash = ?1 AND payer = ?2 AND piece = ?3",
        params![&info_hash.0[..], &payer.to_bytes()[..], piece],
    )?;
    Ok(())
}

/// `POST /licenses/{info_hash}/revoke`: the payer banned a payee. Its further spends of
/// the payer's vouchers are refused, and the shares it holds unattested become movable
/// (claims on them are settled by the next sweep).
pub fn revoke(
    conn: &Connection,
    info_hash: InfoHash,
    revocation: &SignedRevocation,
    now: u64,
) -> Result<()> {
    let r = &revocation.revocation;
    if r.info_hash != info_hash {
        return Err(LedgerError::BadRequest(format!(
            "revocation is for torrent {}, not {info_hash}",
            r.info_hash
        )));
    }
    license_of(conn, info_hash)?;
    let now_i = to_i64(now, "time")?;
    // Before the row: a spend in the same transaction must look it up.
    ANY_REVOCATION.store(true, std::sync::atomic::Ordering::Relaxed);
    exec(
        conn,
        "INSERT INTO revocations (info_hash, payer, payee, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![
            &info_hash.0[..],
            &r.payer.to_bytes()[..],
            &r.payee.to_bytes()[..],
            now_i
        ],
    )?;
    // The payer's claims may be on shares the revoked payee holds: look at them now.
    exec(
        conn,
        "UPDATE claims SET movable_at = ?3 WHERE info_hash = ?1 AND payer = ?2 AND movable_at > ?3",
        params![&info_hash.0[..], &r.payer.to_bytes()[..], now_i],
    )?;
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    /// Claims settled by moving a share to its claimant.
    pub moved: u32,
    /// Shares forfeited to the creator.
    pub forfeited: u32,
    /// True if a limit was reached (run again soon).
    pub more: bool,
}

/// A stored claim: torrent, payer, piece, claimant (as bytes).
type ClaimRow = (Vec<u8>, Vec<u8>, u32, Vec<u8>);

/// Settles what time decides ([`Terms::settle`]) at `now`: claims whose share became
/// movable move to their claimant, and shares pending past `forfeit_after` with nobody
/// to move to go to the creator. At most `limit` of each per call.
pub fn sweep(conn: &Connection, now: u64, windows: &Windows, limit: usize) -> Result<Swept> {
    let mut out = Swept::default();
    let now_i = to_i64(now, "time")?;
    let claims: Vec<ClaimRow> = conn
        .prepare_cached(
            "SELECT info_hash, payer, piece, claimant FROM claims WHERE movable_at <= ?1
             ORDER BY movable_at LIMIT ?2",
        )?
        .query_map(
            params![now_i, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    out.more |= claims.len() >= limit;
    for (ih, payer, piece, claimant) in claims {
        let (Ok(ih), Ok(payer), Ok(claimant)) = (
            <[u8; 20]>::try_from(ih.as_slice()),
            decode_key(&payer),
            decode_key(&claimant),
        ) else {
            continue;
        };
        let info_hash = InfoHash(ih);
        let Some(license) = find_license(conn, info_hash)? else {
            drop_claim(conn, info_hash, &payer, piece)?;
            continue;
        };
        let share = paid::share_of(conn, info_hash, &payer, piece)?;
        let decision = match &share {
            Some(s) if !s.settled && s.holder != claimant => {
                let holder_revoked = revoked(conn, info_hash, &payer, &s.holder)?;
                license
                    .terms
                    .settle(piece, s, Some(&claimant), holder_revoked, now, windows)
            }
            // Settled meanwhile, or the claimant holds it: the claim is void.
            _ => {
                drop_claim(conn, info_hash, &payer, piece)?;
                continue;
            }
        };
        match (decision, share) {
            (Some(SettleDecision::Move { to, amount }), Some(s)) => {
                move_share(conn, info_hash, &s.holder, &to, amount, true)?;
                let share = Share {
                    holder: to,
                    since: now,
                    settled: true,
                };
                paid::record(conn, info_hash, &payer, piece, &share)?;
                drop_claim(conn, info_hash, &payer, piece)?;
                out.moved += 1;
            }
            (Some(SettleDecision::Forfeit { amount }), Some(s)) => {
                forfeit(
                    conn,
                    info_hash,
                    &license.terms,
                    &payer,
                    piece,
                    &s,
                    amount,
                    now,
                )?;
                drop_claim(conn, info_hash, &payer, piece)?;
                out.forfeited += 1;
            }
            // Not movable yet (its holder got it again since the claim was made).
            _ => {
                if let Some(s) = share {
                    exec(
                        conn,
                        "UPDATE claims SET movable_at = ?4 WHERE info_hash = ?1 AND payer = ?2 AND piece = ?3",
                        params![
                            &info_hash.0[..],
                            &payer.to_bytes()[..],
                            piece,
                            to_i64(s.since.saturating_add(windows.move_after).max(now + 1), "time")?
                        ],
                    )?;
                }
            }
        }
    }
    let due = paid::pending_before(conn, now.saturating_sub(windows.forfeit_after), limit)?;
    out.more |= due.len() >= limit;
    for p in due {
        let Some(license) = find_license(conn, p.info_hash)? else {
            continue;
        };
        if let Some(SettleDecision::Forfeit { amount }) = license
            .terms
            .settle(p.piece, &p.share, None, false, now, windows)
        {
            forfeit(
                conn,
                p.info_hash,
                &license.terms,
                &p.payer,
                p.piece,
                &p.share,
                amount,
                now,
            )?;
            out.forfeited += 1;
        }
    }
    Ok(out)
}

/// Gives a pending share to the creator, settled.
#[allow(clippy::too_many_arguments)]
fn forfeit(
    conn: &Connection,
    info_hash: InfoHash,
    terms: &Terms,
    payer: &PublicKey,
    piece: u32,
    share: &Share,
    amount: Amount,
    now: u64,
) -> Result<()> {
    move_share(conn, info_hash, &share.holder, &terms.creator, amount, true)?;
    let share = Share {
        holder: terms.creator,
        since: now,
        settled: true,
    };
    paid::record(conn, info_hash, payer, piece, &share)
}
