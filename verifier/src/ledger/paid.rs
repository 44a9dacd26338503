//! Which payee holds each paid piece's seeder share, written behind the spends.
//!
//! A spend looks up `(torrent, payer, piece)` to charge a piece at most once, and
//! records the payee. Stored in `paid_pieces` at once, as each spend commits, that
//! table's index (ordered by payer) costs one 4 KiB WAL frame for every distinct payer
//! in a commit: a third of a commit's frames, and a third of the verifier's
//! throughput (BENCHMARKS.md, session 10). So new entries first go to a table in memory
//! (`temp.paid_recent`, in the writer's own transaction: a rollback or a savepoint
//! undoes them as any other change), and each commit moves one of [`PARTS`] slices of
//! it, by payer, into `paid_pieces`, so that a payer's leaf is written about once per
//! [`PARTS`] commits however many pieces it bought meanwhile.
//!
//! Nothing is lost in a crash: every entry is also in the `vouchers` row of the spend
//! that made it (payer, piece and payee are in the voucher), committed in the same
//! transaction. `meta.paid_pieces_through` is a `vouchers` rowid up to which every
//! entry is in `paid_pieces`; it moves in the commit that ends a round of the slices
//! (to the last rowid before the round began: every entry older than the round was
//! moved during it). On start, the entries of the vouchers after it are read back into
//! memory, in rowid order, so the latest payee of a piece wins. That is at most a round
//! of commits' worth of vouchers. Lookups ask the memory table first: it holds the newer
//! payee when a piece's share moved.
//!
//! Bounds: the memory table and the read-back hold at most two rounds of commits, each
//! of at most [`crate::writer::MAX_BATCH`] operations (a quarter of a million entries,
//! some 30 MB, at the very worst; a few thousand at 10,000 spends/s).

use rusqlite::{params, Connection, OptionalExtension};

use super::{decode_key, exec, get_meta, set_meta, LedgerError, Result};
use ilpt_protocol::{InfoHash, PublicKey, SignedVoucher};

/// Moves slice `?1` of the memory table into `paid_pieces`.
pub(super) const MOVE_PART: &str = "
INSERT INTO main.paid_pieces (info_hash, payer, piece, payee)
SELECT info_hash, payer, piece, payee FROM temp.paid_recent WHERE part = ?1
ORDER BY info_hash, payer, piece
ON CONFLICT (info_hash, payer, piece) DO UPDATE SET payee = excluded.payee";

/// Slices of the memory table; one is moved to `paid_pieces` at each commit.
pub const PARTS: i64 = 256;

/// The `meta` key of the `vouchers` rowid through which `paid_pieces` is complete.
const THROUGH: &str = "paid_pieces_through";

const TEMP_SCHEMA: &str = "
CREATE TEMP TABLE IF NOT EXISTS paid_recent (
    part      INTEGER NOT NULL,
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    piece     INTEGER NOT NULL,
    payee     BLOB NOT NULL,
    PRIMARY KEY (part, info_hash, payer, piece)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS paid_round (
    one       INTEGER PRIMARY KEY CHECK (one = 0),
    next_part INTEGER NOT NULL,
    begun_at  INTEGER NOT NULL
);
";

/// The slice of a payer's entries.
fn part(payer: &PublicKey) -> i64 {
    i64::from(payer.to_bytes()[0]) % PARTS
}

/// The last `vouchers` rowid (0 with none).
fn last_voucher(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(rowid), 0) FROM vouchers")?
        .query_row([], |r| r.get(0))
}

/// Sets up the memory table on a connection opened by [`super::open`] and reads back
/// the entries `paid_pieces` does not hold yet.
///
/// A database written before entries were written behind has them all in
/// `paid_pieces`: it starts with every voucher so far counted as moved.
pub fn prepare(conn: &Connection) -> Result<()> {
    conn.execute_batch(TEMP_SCHEMA)?;
    let through = match get_meta(conn, THROUGH)? {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| LedgerError::Conflict(format!("meta {THROUGH} is not a number: {v:?}")))?,
        None => {
            let last = last_voucher(conn)?;
            set_meta(conn, THROUGH, &last.to_string())?;
            last
        }
    };
    reload(conn, through)
}

/// Empties the memory table and reads back the entries of the vouchers after rowid
/// `through`; a new round of slices begins.
fn reload(conn: &Connection, through: i64) -> Result<()> {
    exec(conn, "DELETE FROM temp.paid_recent", [])?;
    exec(
        conn,
        "INSERT INTO temp.paid_round (one, next_part, begun_at) VALUES (0, 0, 0)
         ON CONFLICT (one) DO UPDATE SET next_part = 0, begun_at = 0",
        [],
    )?;
    let mut stmt =
        conn.prepare("SELECT rowid, voucher FROM vouchers WHERE rowid > ?1 ORDER BY rowid")?;
    let mut rows = stmt.query(params![through])?;
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let bytes: Vec<u8> = row.get(1)?;
        let signed = SignedVoucher::decode_with(&bytes, decode_key).map_err(|e| {
            LedgerError::Conflict(format!("stored voucher {rowid} is unreadable: {e}"))
        })?;
        let v = &signed.voucher;
        record(conn, v.info_hash, &v.payer, v.piece, &v.payee)?;
    }
    Ok(())
}

/// After a failed commit (the transaction rolled back, and whether the memory table's
/// part of it did too is not certain): reads the memory table back from the database.
pub fn reload_after_failure(conn: &Connection) {
    let reloaded = get_meta(conn, THROUGH).and_then(|v| {
        let through = v.and_then(|v| v.parse().ok()).unwrap_or(0);
        reload(conn, through)
    });
    if let Err(e) = reloaded {
        tracing::error!("cannot read the recent paid pieces back: {e}");
    }
}

/// The payee that holds the seeder share of `piece`, if `payer` paid for it.
pub fn payee_of(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
) -> Result<Option<Vec<u8>>> {
    let payer_bytes = payer.to_bytes();
    let recent = conn
        .prepare_cached(
            "SELECT payee FROM temp.paid_recent
             WHERE part = ?1 AND info_hash = ?2 AND payer = ?3 AND piece = ?4",
        )?
        .query_row(
            params![part(payer), &info_hash.0[..], &payer_bytes[..], piece],
            |r| r.get(0),
        )
        .optional()?;
    if recent.is_some() {
        return Ok(recent);
    }
    Ok(conn
        .prepare_cached(
            "SELECT payee FROM main.paid_pieces WHERE info_hash = ?1 AND payer = ?2 AND piece = ?3",
        )?
        .query_row(params![&info_hash.0[..], &payer_bytes[..], piece], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Records that `payee` holds the seeder share of `piece` bought by `payer`.
pub fn record(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
    payee: &PublicKey,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO temp.paid_recent (part, info_hash, payer, piece, payee)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (part, info_hash, payer, piece) DO UPDATE SET payee = excluded.payee",
        params![
            part(payer),
            &info_hash.0[..],
            &payer.to_bytes()[..],
            piece,
            &payee.to_bytes()[..]
        ],
    )?;
    Ok(())
}

/// Moves the next slice of the memory table into `paid_pieces`, in the open
/// transaction, just before it commits; at the end of a round, moves
/// `meta.paid_pieces_through` up.
pub fn move_next_part(conn: &Connection) -> Result<()> {
    let (part, begun_at): (i64, i64) = conn
        .prepare_cached("SELECT next_part, begun_at FROM temp.paid_round")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // Every entry of a voucher up to here is in the memory table or already moved; by
    // the round's end each slice will have been moved once since.
    let begun_at = if part == 0 {
        last_voucher(conn)?
    } else {
        begun_at
    };
    exec(conn, MOVE_PART, params![part])?;
    exec(
        conn,
        "DELETE FROM temp.paid_recent WHERE part = ?1",
        params![part],
    )?;
    let next = (part + 1) % PARTS;
    if next == 0 {
        set_meta(conn, THROUGH, &begun_at.to_string())?;
    }
    exec(
        conn,
        "UPDATE temp.paid_round SET next_part = ?1, begun_at = ?2",
        params![next, begun_at],
    )?;
    Ok(())
}

/// Entries in the memory table (for tests and the log).
pub fn recent_len(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM temp.paid_recent")?
        .query_row([], |r| r.get(0))?)
}
