//! Payouts in two phases, so that money is never paid twice nor lost.
//!
//! 1. [`begin`], in one transaction with the reading of what is due: a `pending` row per
//!    payout, its amount *reserved* from the earnings it pays (`earnings.reserved`), so
//!    no other run owes them again.
//! 2. The money is sent outside the ledger's writer (`crate::payout`), which may take
//!    seconds and must never be repeated by a retried batch.
//! 3. [`finish`] records what the STREAM sender reports as delivered: the delivered part
//!    becomes paid out, the rest goes back to being owed and is paid by a later payout.
//!
//! A crash between 1 and 3 leaves a `pending` row whose outcome nobody knows: some,
//! all or none of it may have arrived. [`mark_unknown`] turns such rows `unknown` when
//! the verifier starts, and they keep their reservation. They are never sent again on
//! their own: resending would pay twice whatever had arrived, and releasing them
//! without sending would owe again what had arrived. The operator looks at the
//! receiving wallet and settles each with [`resolve`], signed by the operator's key.

use std::collections::HashMap;

use ilpt_protocol::account::payout_resolution_message;
use ilpt_protocol::{Asset, PublicKey};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::{decode_key, exec, from_i64, payouts_due, to_i64, LedgerError, Result};

/// The longest note kept with a payout (a receipt, or why it failed).
pub const MAX_NOTE: usize = 512;

/// Where a payout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Recorded and being sent by this process.
    Pending,
    /// Was being sent when the verifier stopped: what arrived is not known.
    Unknown,
    /// All of it arrived.
    Done,
    /// Part of it arrived (`delivered`); the rest is owed again.
    Partial,
    /// Nothing arrived; all of it is owed again.
    Failed,
}

impl State {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Unknown => "unknown",
            State::Done => "done",
            State::Partial => "partial",
            State::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<State> {
        [
            State::Pending,
            State::Unknown,
            State::Done,
            State::Partial,
            State::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// The state of a settled payout of `amount` that delivered `delivered`.
    fn settled(amount: u64, delivered: u64) -> State {
        if delivered == amount {
            State::Done
        } else if delivered > 0 {
            State::Partial
        } else {
            State::Failed
        }
    }
}

/// One payout row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Its id, for `resolve`.
    pub id: u64,
    /// Who is paid.
    pub party: PublicKey,
    /// Where.
    pub pointer: String,
    /// In which asset (the earnings' licenses' asset).
    pub asset: Asset,
    /// How much was to be paid.
    pub amount: u64,
    /// Where it stands.
    pub state: State,
    /// What arrived (0 until settled).
    pub delivered: u64,
    /// When it was recorded (Unix seconds).
    pub created_at: u64,
    /// When it was settled.
    pub settled_at: Option<u64>,
    /// The receipt of what arrived, or why it failed.
    pub note: Option<String>,
}

impl Payout {
    /// The JSON the verifier answers with (amounts as decimal strings).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "party": self.party,
            "pointer": self.pointer,
            "asset_code": self.asset.code(),
            "asset_scale": self.asset.scale(),
            "amount": self.amount.to_string(),
            "state": self.state.as_str(),
            "delivered": self.delivered.to_string(),
            "created_at": self.created_at,
            "settled_at": self.settled_at,
            "note": self.note,
        })
    }
}

const COLUMNS: &str =
    "id, party, pointer, asset_code, asset_scale, amount, state, delivered, created_at, \
     settled_at, note";

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Payout> {
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unreadable payout {what}").into(),
        )
    };
    let party: Vec<u8> = row.get(1)?;
    let code: String = row.get(3)?;
    let scale: i64 = row.get(4)?;
    let state: String = row.get(6)?;
    let settled_at: Option<i64> = row.get(9)?;
    Ok(Payout {
        id: from_i64(row.get(0)?),
        party: decode_key(&party).map_err(|_| bad(1, "party"))?,
        pointer: row.get(2)?,
        asset: u8::try_from(scale)
            .ok()
            .and_then(|s| Asset::new(&code, s).ok())
            .ok_or_else(|| bad(3, "asset"))?,
        amount: from_i64(row.get(5)?),
        state: State::parse(&state).ok_or_else(|| bad(6, "state"))?,
        delivered: from_i64(row.get(7)?),
        created_at: from_i64(row.get(8)?),
        settled_at: settled_at.map(from_i64),
        note: row.get(10)?,
    })
}

/// The payout `id`.
pub fn get(conn: &Connection, id: u64) -> Result<Payout> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM payouts WHERE id = ?1"))?
        .query_row(params![to_i64(id, "payout id")?], read)
        .optional()?
        .ok_or_else(|| LedgerError::NotFound(format!("no payout {id}")))
}

/// Payouts, newest first: all of them, or only those not settled (`pending` and
/// `unknown`); at most `limit`.
pub fn list(conn: &Connection, open_only: bool, limit: u32) -> Result<Vec<Payout>> {
    let filter = if open_only {
        "WHERE state IN ('pending', 'unknown')"
    } else {
        ""
    };
    let rows = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM payouts {filter} ORDER BY id DESC LIMIT ?1"
        ))?
        .query_map(params![limit], read)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Phase 1: records a `pending` payout for everything due of at least `minimum`, and
/// reserves its amount from the earnings it pays. Run in one transaction with nothing
/// else, two runs at once pay each earning once: the second finds it reserved.
pub fn begin(conn: &Connection, minimum: u64, now: u64) -> Result<Vec<Payout>> {
    let mut started = Vec::new();
    for due in payouts_due(conn)? {
        if due.amount < minimum.max(1) {
            continue;
        }
        let party = due.party.to_bytes();
        exec(
            conn,
            "INSERT INTO payouts (party, pointer, asset_code, asset_scale, amount, state,
                                  created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
            params![
                &party[..],
                due.pointer,
                due.asset.code(),
                due.asset.scale(),
                to_i64(due.amount, "payout")?,
                to_i64(now, "time")?
            ],
        )?;
        let id = conn.last_insert_rowid();
        let mut left = due.amount;
        for (seq, (ih, owed)) in due.torrents.iter().enumerate() {
            let take = (*owed).min(left);
            if take == 0 {
                break;
            }
            exec(
                conn,
                "INSERT INTO payout_takes (payout, seq, info_hash, amount) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id,
                    to_i64(seq as u64, "seq")?,
                    &ih.0[..],
                    to_i64(take, "payout")?
                ],
            )?;
            // The schema's CHECK (paid_out + reserved <= earned) refuses a reservation
            // of more than is owed, whatever computed it.
            exec(
                conn,
                "UPDATE earnings SET reserved = reserved + ?3 WHERE party = ?1 AND info_hash = ?2",
                params![&party[..], &ih.0[..], to_i64(take, "payout")?],
            )?;
            left -= take;
        }
        started.push(get(conn, from_i64(id))?);
    }
    Ok(started)
}

/// Phase 3: records what payout `id` delivered (at most its amount). The delivered part
/// is paid out, taken from its earnings in the order it reserved them; the rest is
/// owed again. Only a `pending` payout can finish, so an outcome is recorded once.
pub fn finish(
    conn: &Connection,
    id: u64,
    delivered: u64,
    note: Option<&str>,
    now: u64,
) -> Result<Payout> {
    settle(conn, id, State::Pending, delivered, note, now)
}

/// Settles an `unknown` payout with what the operator found delivered, if `signature`
/// is `operator`'s over [`payout_resolution_message`]. Refused for a payout that is not
/// unknown: a resolution applies once.
pub fn resolve(
    conn: &Connection,
    id: u64,
    delivered: u64,
    operator: Option<&PublicKey>,
    signature: &[u8; 64],
    now: u64,
) -> Result<Payout> {
    let Some(operator) = operator else {
        return Err(LedgerError::Forbidden(
            "this verifier has no operator key (--operator-key), so nobody can resolve payouts"
                .into(),
        ));
    };
    let p = get(conn, id)?;
    let message = payout_resolution_message(id, &p.party, p.amount, delivered);
    if !operator.verify(&message, signature) {
        return Err(LedgerError::Forbidden(
            "the resolution is not signed by this verifier's operator key".into(),
        ));
    }
    settle(
        conn,
        id,
        State::Unknown,
        delivered,
        Some("resolved by the operator"),
        now,
    )
}

fn settle(
    conn: &Connection,
    id: u64,
    from: State,
    delivered: u64,
    note: Option<&str>,
    now: u64,
) -> Result<Payout> {
    let p = get(conn, id)?;
    if p.state != from {
        return Err(LedgerError::Conflict(format!(
            "payout {id} is {}, not {}",
            p.state.as_str(),
            from.as_str()
        )));
    }
    if delivered > p.amount {
        return Err(LedgerError::BadRequest(format!(
            "payout {id} was of {}; {delivered} cannot have been delivered",
            p.amount
        )));
    }
    let takes: Vec<(Vec<u8>, i64)> = conn
        .prepare_cached(
            "SELECT info_hash, amount FROM payout_takes WHERE payout = ?1 ORDER BY seq",
        )?
        .query_map(params![to_i64(id, "payout id")?], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let party = p.party.to_bytes();
    let mut left = delivered;
    for (ih, take) in takes {
        let take = from_i64(take);
        let paid = take.min(left);
        left -= paid;
        exec(
            conn,
            "UPDATE earnings SET reserved = reserved - ?3, paid_out = paid_out + ?4
             WHERE party = ?1 AND info_hash = ?2",
            params![
                &party[..],
                &ih[..],
                to_i64(take, "payout")?,
                to_i64(paid, "payout")?
            ],
        )?;
    }
    let state = State::settled(p.amount, delivered);
    let note = note.map(|n| n.chars().take(MAX_NOTE).collect::<String>());
    exec(
        conn,
        "UPDATE payouts SET state = ?2, delivered = ?3, settled_at = ?4, note = ?5 WHERE id = ?1",
        params![
            to_i64(id, "payout id")?,
            state.as_str(),
            to_i64(delivered, "payout")?,
            to_i64(now, "time")?,
            note
        ],
    )?;
    get(conn, id)
}

/// A `pending` payout whose sending ended without knowing what arrived (a Prepare got no
/// answer): it becomes `unknown` at once, with `note`, and keeps its reservation.
pub fn give_up(conn: &Connection, id: u64, note: &str) -> Result<Payout> {
    let note: String = note.chars().take(MAX_NOTE).collect();
    let changed = exec(
        conn,
        "UPDATE payouts SET state = 'unknown', note = ?2 WHERE id = ?1 AND state = 'pending'",
        params![to_i64(id, "payout id")?, note],
    )?;
    if changed == 0 {
        return Err(LedgerError::Conflict(format!("payout {id} is not pending")));
    }
    get(conn, id)
}

/// At start: every payout still `pending` was being sent when the verifier stopped;
/// it becomes `unknown`. Returns how many.
pub fn mark_unknown(conn: &Connection) -> Result<usize> {
    Ok(exec(
        conn,
        "UPDATE payouts SET state = 'unknown' WHERE state = 'pending'",
        [],
    )?)
}

/// What `party`'s unknown payouts hold, by torrent (info-hash bytes).
pub fn unknown_by_torrent(conn: &Connection, party: &PublicKey) -> Result<HashMap<Vec<u8>, u64>> {
    let mut held = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT t.info_hash, t.amount FROM payout_takes t JOIN payouts p ON p.id = t.payout
         WHERE p.party = ?1 AND p.state = 'unknown'",
    )?;
    let mut rows = stmt.query(params![&party.to_bytes()[..]])?;
    while let Some(r) = rows.next()? {
        let (ih, amount): (Vec<u8>, i64) = (r.get(0)?, r.get(1)?);
        let sum: &mut u64 = held.entry(ih).or_default();
        *sum = sum.saturating_add(from_i64(amount));
    }
    Ok(held)
}
