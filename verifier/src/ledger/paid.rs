//! The share of each paid piece ([`ilpt_protocol::charging::Share`]): which payee holds
//! its seeder share, since when, and whether it is settled; written behind the spends.
//!
//! A spend looks up `(torrent, payer, piece)` to charge a piece at most once and to
//! decide who earns its seeder share. Stored in `paid_pieces` at once, as each spend
//! commits, that table's index (ordered by payer) costs one 4 KiB WAL frame for every
//! distinct payer in a commit: a third of a commit's frames, and a third of the
//! verifier's throughput (BENCHMARKS.md). So new shares first go to a table in memory
//! (`temp.paid_recent`, in the writer's own transaction: a rollback or a savepoint
//! undoes them as any other change), and each commit moves one of [`PARTS`] slices of
//! it, by payer, into `paid_pieces`, so that a payer's leaf is written about once per
//! [`PARTS`] commits however many pieces it bought meanwhile.
//!
//! Nothing is lost in a crash. Every change of a share's holder (a charge, a move, a
//! forfeit) is appended to `share_log` in the same transaction, at the log's right edge
//! (one page a commit, whatever the payers). A share settled by an attestation of its
//! holder is not logged: the attestation itself is stored (`attestations`), and a
//! share is settled if its log entry says so or its holder's attestation covers it.
//! `meta.paid_pieces_through` is a `share_log` rowid up to which every change is in
//! `paid_pieces`; it moves in the commit that ends a round of the slices (to the last
//! rowid before the round began: every change older than the round was moved during
//! it), and the log is cut before it. On start, the changes after it are read back into
//! memory, in order, so the latest wins. Lookups and updates go to the memory table
//! when it holds the share, else to `paid_pieces`.
//!
//! Bounds: the memory table and the read-back hold at most two rounds of commits, each
//! of at most [`crate::writer::MAX_BATCH`] operations (a quarter of a million entries,
//! some 30 MB, at the very worst; a few thousand at 10,000 spends/s).

use ilpt_protocol::charging::Share;
use rusqlite::{params, Connection, OptionalExtension};

use super::{decode_key, exec, get_meta, set_meta, LedgerError, Result};
use ilpt_protocol::{InfoHash, PublicKey};

/// Moves slice `?1` of the memory table into `paid_pieces`.
pub(super) const MOVE_PART: &str = "
INSERT INTO main.paid_pieces (info_hash, payer, piece, payee, since, settled)
SELECT info_hash, payer, piece, payee, since, settled FROM temp.paid_recent WHERE part = ?1
ORDER BY info_hash, payer, piece
ON CONFLICT (info_hash, payer, piece) DO UPDATE
SET payee = excluded.payee, since = excluded.since, settled = excluded.settled";

/// Slices of the memory table; one is moved to `paid_pieces` at each commit.
pub const PARTS: i64 = 256;

/// The `meta` key of the `share_log` rowid through which `paid_pieces` is complete.
const THROUGH: &str = "paid_pieces_through";

const TEMP_SCHEMA: &str = "
CREATE TEMP TABLE IF NOT EXISTS paid_recent (
    part      INTEGER NOT NULL,
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    piece     INTEGER NOT NULL,
    payee     BLOB NOT NULL,
    since     INTEGER NOT NULL,
    settled   INTEGER NOT NULL,
    PRIMARY KEY (part, info_hash, payer, piece)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS temp.paid_recent_pending ON paid_recent (since) WHERE settled = 0;
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

/// The last `share_log` rowid (0 with none).
fn last_change(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM share_log")?
        .query_row([], |r| r.get(0))
}

/// Sets up the memory table on a connection opened by [`super::open`] and reads back
/// the changes `paid_pieces` does not hold yet.
pub fn prepare(conn: &Connection) -> Result<()> {
    conn.execute_batch(TEMP_SCHEMA)?;
    let through = match get_meta(conn, THROUGH)? {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| LedgerError::Conflict(format!("meta {THROUGH} is not a number: {v:?}")))?,
        None => {
            let last = last_change(conn)?;
            set_meta(conn, THROUGH, &last.to_string())?;
            last
        }
    };
    reload(conn, through)
}

/// Empties the memory table and reads back the changes after rowid `through`; a new
/// round of slices begins.
fn reload(conn: &Connection, through: i64) -> Result<()> {
    exec(conn, "DELETE FROM temp.paid_recent", [])?;
    exec(
        conn,
        "INSERT INTO temp.paid_round (one, next_part, begun_at) VALUES (0, 0, 0)
         ON CONFLICT (one) DO UPDATE SET next_part = 0, begun_at = 0",
        [],
    )?;
    let mut stmt = conn.prepare(
        "SELECT seq, info_hash, payer, piece, payee, since, settled FROM share_log
         WHERE seq > ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![through])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let (ih, payer, payee): (Vec<u8>, Vec<u8>, Vec<u8>) =
            (row.get(1)?, row.get(2)?, row.get(4)?);
        let bad = |what: &str| LedgerError::Conflict(format!("share change {seq}: bad {what}"));
        let ih = InfoHash(<[u8; 20]>::try_from(ih.as_slice()).map_err(|_| bad("torrent"))?);
        let payer = decode_key(&payer).map_err(|_| bad("payer"))?;
        let payee = decode_key(&payee).map_err(|_| bad("payee"))?;
        let piece: u32 = row.get(3)?;
        let since: i64 = row.get(5)?;
        let logged_settled: bool = row.get(6)?;
        let settled = logged_settled || super::shares::attested(conn, ih, &payer, &payee, piece)?;
        put(conn, ih, &payer, piece, &payee, since, settled)?;
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

/// A share as stored: holder bytes, since, settled.
type Row = (Vec<u8>, i64, bool);

fn decode_row(row: Row) -> Result<Share> {
    let (holder, since, settled) = row;
    Ok(Share {
        holder: decode_key(&holder)
            .map_err(|e| LedgerError::Conflict(format!("stored payee is bad: {e}")))?,
        since: u64::try_from(since).unwrap_or(0),
        settled,
    })
}

/// The share of `piece` bought by `payer`, if it was charged.
pub fn share_of(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
) -> Result<Option<Share>> {
    let payer_bytes = payer.to_bytes();
    let read =
        |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> { Ok((r.get(0)?, r.get(1)?, r.get(2)?)) };
    let recent = conn
        .prepare_cached(
            "SELECT payee, since, settled FROM temp.paid_recent
             WHERE part = ?1 AND info_hash = ?2 AND payer = ?3 AND piece = ?4",
        )?
        .query_row(
            params![part(payer), &info_hash.0[..], &payer_bytes[..], piece],
            read,
        )
        .optional()?;
    let row = match recent {
        Some(row) => Some(row),
        None => conn
            .prepare_cached(
                "SELECT payee, since, settled FROM main.paid_pieces
                 WHERE info_hash = ?1 AND payer = ?2 AND piece = ?3",
            )?
            .query_row(params![&info_hash.0[..], &payer_bytes[..], piece], read)
            .optional()?,
    };
    row.map(decode_row).transpose()
}

/// Puts a share in the memory table (as it now is).
fn put(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
    holder: &PublicKey,
    since: i64,
    settled: bool,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO temp.paid_recent (part, info_hash, payer, piece, payee, since, settled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (part, info_hash, payer, piece)
         DO UPDATE SET payee = excluded.payee, since = excluded.since, settled = excluded.settled",
        params![
            part(payer),
            &info_hash.0[..],
            &payer.to_bytes()[..],
            piece,
            &holder.to_bytes()[..],
            since,
            settled
        ],
    )?;
    Ok(())
}

/// Records that `share` is now the state of `piece` bought by `payer` (a charge, a
/// move or a forfeit): in memory and in the log.
pub fn record(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
    share: &Share,
) -> Result<()> {
    let since = super::to_i64(share.since, "time")?;
    put(
        conn,
        info_hash,
        payer,
        piece,
        &share.holder,
        since,
        share.settled,
    )?;
    exec(
        conn,
        "INSERT INTO share_log (info_hash, payer, piece, payee, since, settled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            &info_hash.0[..],
            &payer.to_bytes()[..],
            piece,
            &share.holder.to_bytes()[..],
            since,
            share.settled
        ],
    )?;
    Ok(())
}

/// Marks the share of `piece` settled with the holder it has (its holder's
/// attestation, stored by the caller, is what makes this durable): where it lives now,
/// the memory table or `paid_pieces`.
pub fn settle_in_place(
    conn: &Connection,
    info_hash: InfoHash,
    payer: &PublicKey,
    piece: u32,
) -> Result<()> {
    let payer_bytes = payer.to_bytes();
    let changed = exec(
        conn,
        "UPDATE temp.paid_recent SET settled = 1
         WHERE part = ?1 AND info_hash = ?2 AND payer = ?3 AND piece = ?4",
        params![part(payer), &info_hash.0[..], &payer_bytes[..], piece],
    )?;
    if changed == 0 {
        exec(
            conn,
            "UPDATE main.paid_pieces SET settled = 1
             WHERE info_hash = ?1 AND payer = ?2 AND piece = ?3",
            params![&info_hash.0[..], &payer_bytes[..], piece],
        )?;
    }
    Ok(())
}

/// A pending share found by [`pending_before`].
#[derive(Debug, Clone)]
pub struct Pending {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The payer.
    pub payer: PublicKey,
    /// The piece.
    pub piece: u32,
    /// Its share.
    pub share: Share,
}

/// Up to `limit` unsettled shares whose holder got them at or before `at`, oldest
/// first, from memory and from `paid_pieces` (a share in memory hides its older copy).
pub fn pending_before(conn: &Connection, at: u64, limit: usize) -> Result<Vec<Pending>> {
    let at_i = super::to_i64(at, "time")?;
    let limit_i = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut keys = std::collections::BTreeSet::new();
    for sql in [
        "SELECT info_hash, payer, piece FROM temp.paid_recent
         WHERE settled = 0 AND since <= ?1 ORDER BY since LIMIT ?2",
        "SELECT info_hash, payer, piece FROM main.paid_pieces
         WHERE settled = 0 AND since <= ?1 ORDER BY since LIMIT ?2",
    ] {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![at_i, limit_i])?;
        while let Some(r) = rows.next()? {
            let key: (Vec<u8>, Vec<u8>, u32) = (r.get(0)?, r.get(1)?, r.get(2)?);
            keys.insert(key);
        }
    }
    let mut out = Vec::new();
    for (ih, payer, piece) in keys {
        let (Ok(ih), Ok(payer)) = (<[u8; 20]>::try_from(ih.as_slice()), decode_key(&payer)) else {
            continue;
        };
        let info_hash = InfoHash(ih);
        // The current state: a newer copy in memory wins over the table's.
        if let Some(share) = share_of(conn, info_hash, &payer, piece)? {
            if !share.settled && share.since <= at {
                out.push(Pending {
                    info_hash,
                    payer,
                    piece,
                    share,
                });
            }
        }
    }
    out.sort_by_key(|p| p.share.since);
    out.truncate(limit);
    Ok(out)
}

/// Moves the next slice of the memory table into `paid_pieces`, in the open
/// transaction, just before it commits; at the end of a round, moves
/// `meta.paid_pieces_through` up and cuts the log there.
pub fn move_next_part(conn: &Connection) -> Result<()> {
    let (part, begun_at): (i64, i64) = conn
        .prepare_cached("SELECT next_part, begun_at FROM temp.paid_round")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    // Every change logged up to here is in the memory table or already moved; by the
    // round's end each slice will have been moved once since.
    let begun_at = if part == 0 {
        last_change(conn)?
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
        // The row at `begun_at` stays: rowids count on from the largest one left, and a
        // log emptied would number its next change 1, behind `paid_pieces_through`.
        exec(
            conn,
            "DELETE FROM share_log WHERE seq < ?1",
            params![begun_at],
        )?;
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
