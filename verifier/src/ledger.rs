//! The money ledger: receipts credited, balances, voucher spends, revenue-share
//! earnings and payouts, in SQLite.
//!
//! Every function here runs inside a transaction (a savepoint of the writer's batch, see
//! [`crate::writer`]) and either completes or changes nothing. Amounts are `u64` in
//! Rust and `INTEGER` (i64) in SQLite; anything that would pass `i64::MAX` is refused,
//! as the reference verifier does. The charging decisions come from
//! [`ilpt_protocol::charging`]; this module only records them.

use std::fmt;

use ilpt_protocol::charging::Terms;
use ilpt_protocol::receipt::{receipt_secret, Receipt};
use ilpt_protocol::{Amount, Bps, InfoHash, PublicKey, SignedVoucher};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

/// The ledger's tables (idempotent: safe on every start).
pub const SCHEMA: &str = include_str!("schema.sql");

/// The receipt seed shared with receivers' SPSP set-up: never logged.
#[derive(Clone)]
pub struct ReceiptSeed(pub Vec<u8>);

impl fmt::Debug for ReceiptSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReceiptSeed(<redacted>)")
    }
}

impl ReceiptSeed {
    /// The receipt secret for one nonce.
    pub fn secret(&self, nonce: &[u8; 16]) -> [u8; 32] {
        receipt_secret(&self.0, nonce)
    }
}

/// Why an operation was refused. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// 400: malformed or unacceptable input.
    #[error("{0}")]
    BadRequest(String),
    /// 402: the balance does not cover the spend; nothing was debited.
    #[error("insufficient balance: {missing} more needed")]
    PaymentRequired {
        /// How much more the balance needs.
        missing: u64,
        /// The balance now.
        balance: u64,
    },
    /// 403: a signature does not verify.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such balance, license or account.
    #[error("{0}")]
    NotFound(String),
    /// 409: a conflict (reused voucher seq, an amount past 2^63 - 1).
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed but not acceptable (a license this verifier does not serve).
    #[error("{0}")]
    Unprocessable(String),
    /// 501: this verifier is not set up for the request (no payout account).
    #[error("{0}")]
    NotImplemented(String),
    /// 502: a service the request needs (the payout connector) failed.
    #[error("{0}")]
    Upstream(String),
    /// 503: the database failed.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// 503: the writer could not run or commit the operation; nothing was acknowledged.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
}

type Result<T> = std::result::Result<T, LedgerError>;

/// The most decoded keys kept by [`decode_key`].
const KEY_CACHE_LEN: usize = 4096;

/// Decodes a public key: one read back from the database, or a voucher's payer and
/// payee. Decoding (point decompression) costs more than the rest of a spend, and the
/// same keys recur (creators, busy peers, a payer buying piece after piece), so decoded
/// keys are memoised. It is a pure function of public bytes, so the cache can never
/// change an answer; it is cleared when full.
pub(crate) fn decode_key(
    bytes: &[u8],
) -> std::result::Result<PublicKey, ilpt_protocol::keys::KeyError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], PublicKey>>> = OnceLock::new();
    let Ok(arr) = <[u8; 32]>::try_from(bytes) else {
        return PublicKey::from_bytes(bytes);
    };
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(key) = cache.lock().ok().and_then(|c| c.get(&arr).copied()) {
        return Ok(key);
    }
    let key = PublicKey::from_bytes(&arr)?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= KEY_CACHE_LEN {
            c.clear();
        }
        c.insert(arr, key);
    }
    Ok(key)
}

/// Runs `op` in its own savepoint: kept if it succeeds (or comes up short: 402 changes
/// nothing), rolled back if it fails. The outer `Result` is a storage failure of the
/// savepoint itself; the inner one is the operation's answer.
pub fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T>,
) -> Result<Result<T>> {
    conn.execute_batch("SAVEPOINT one")?;
    let result = op(conn);
    if result.is_ok() || matches!(result, Err(LedgerError::PaymentRequired { .. })) {
        conn.execute_batch("RELEASE one")?;
    } else {
        conn.execute_batch("ROLLBACK TO one; RELEASE one")?;
    }
    Ok(result)
}

/// Runs one statement through the connection's prepared-statement cache.
pub(crate) fn exec(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v)
        .map_err(|_| LedgerError::Conflict(format!("{what} exceeds max 64 bit signed integer")))
}

fn from_i64(v: i64) -> u64 {
    // Every stored amount passed through `to_i64` and the schema's CHECK (>= 0).
    u64::try_from(v).unwrap_or(0)
}

/// Page size of a new database, in bytes.
pub const PAGE_SIZE: u32 = 4096;

/// Prepared statements a connection keeps: more than the ledger has (about 40), so a
/// busy mix of operations never evicts one and parses it again.
const STATEMENT_CACHE: usize = 64;

/// Applies the schema and WAL settings to a fresh connection.
pub fn open(path: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // The page size of a new database (an existing one keeps its own: a WAL database
    // cannot change it). Measured with the spend benchmark, in `pwrite` calls per spend:
    // 1 KiB pages 14.5 (a voucher row is a third of a page, so leaves split all the
    // time), 4 KiB 9–10, 16 KiB 5–6 but four times the bytes. 4 KiB, SQLite's default.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before it returns. The writer thread relaxes this on
    // its own connection and syncs the WAL itself before answering ([`crate::writer`]).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints (a writer batch run again after a failure, each voucher of a
    // `/spend-batch`) and multi-row statements keep the pages they change in a
    // statement journal. In a temporary file (the bundled default) that journal is
    // created, spilled past 64 KiB and deleted with every batch: block allocation and
    // inode eviction on the commit path. It only ever undoes an open transaction, so
    // memory is where it belongs.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Plans that never depend on bound values. Without this guarantee SQLite marks a
    // statement whose plan might (a `col = ?` term it weighed as a filter is enough) to
    // be compiled again whenever its bindings are cleared, and the statement cache
    // clears them each time a statement goes back: the writer parsed and planned its
    // slice-moving `INSERT … SELECT` anew at every commit, a tenth of its time at a
    // paced 10,000 spends/s. The ledger has no `sqlite_stat4` for values to matter.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // Every statement the writer uses stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    refuse_old_schema(&conn)?;
    conn.execute_batch(SCHEMA)?;
    // Checkpoints run on their own thread ([`checkpoint_loop`]), not inside the writer's
    // commits, where they would stall every request waiting in that batch.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    paid::prepare(&conn)?;
    shares::note_revocations(&conn)?;
    Ok(conn)
}

/// A database written before seeder shares waited for delivery attestations has
/// vouchers of the old format and shares with no state: it cannot be read as today's.
fn refuse_old_schema(conn: &Connection) -> Result<()> {
    let has = |table: &str, column: &str| -> Result<Option<bool>> {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(1))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((!names.is_empty()).then(|| names.iter().any(|n| n == column)))
    };
    if has("paid_pieces", "settled")? == Some(false)
        || has("earnings", "pending")? == Some(false)
        || has("earnings", "reserved")? == Some(false)
        || has("payouts", "state")? == Some(false)
    {
        return Err(LedgerError::Conflict(
            "this database was written by an older ilpt verifier (v1 vouchers, shares \
             without delivery attestations, or payouts recorded without being sent); start \
             the verifier with a new --db"
                .into(),
        ));
    }
    Ok(())
}

/// Copies committed WAL pages into the database every `interval`, or at once when the
/// writer asks through `requests` (every half MiB of new WAL, at most every 10 ms), on
/// its own connection and without blocking the writer (PASSIVE), until told to stop
/// through `requests`; then folds the whole WAL into the database.
///
/// Under sustained load a pass often stops short of the last commit (the writer goes on
/// appending), and SQLite syncs the database only after a pass that reaches it. So
/// each pass that copied pages short of it is followed by an `fdatasync` of the
/// database here, off the commit path: the pages reach the disk a little at a time, and
/// the writer's own checkpoint at the WAL's size limit ([`crate::writer::WAL_LIMIT`])
/// finds little left to copy or to sync.
pub fn checkpoint_loop(
    path: &std::path::Path,
    interval: std::time::Duration,
    requests: &crate::writer::CheckpointRequests,
) {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot open the database for checkpoints: {e}");
            return;
        }
    };
    // The database file, to sync what a pass copied (SQLite's own handle is not ours).
    let db_file = std::fs::File::open(path)
        .map_err(|e| tracing::warn!("cannot open the database file to sync checkpoints: {e}"))
        .ok();
    let mut synced = 0;
    while requests.wait(interval) {
        let number = requests.begin();
        let pass = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        // Frames now in the database and synced; 0 if that is not known (the writer
        // then copies them itself).
        let copied = match pass {
            // This pass copied frames but stopped short of the last commit, so SQLite
            // did not sync them. (`copied` counts from the WAL's start, which moves
            // when the WAL starts over.)
            Ok((frames, copied)) if copied != synced && copied < frames => {
                match db_file.as_ref().map(std::fs::File::sync_data) {
                    Some(Ok(())) => synced = copied,
                    Some(Err(e)) => {
                        tracing::warn!("syncing the database after a checkpoint failed: {e}")
                    }
                    None => {}
                }
                if synced == copied {
                    copied
                } else {
                    0
                }
            }
            Ok((_, copied)) => {
                synced = copied;
                copied
            }
            Err(e) => {
                tracing::warn!("checkpoint failed (will retry): {e}");
                0
            }
        };
        requests.finish(number, u64::try_from(copied).unwrap_or(0));
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

// ---------------------------------------------------------------- nonces and receipts

/// Expired nonces dropped with each nonce issued: more than one, so the table shrinks
/// back after a burst; few, so issuing stays quick.
const NONCES_PRUNED: i64 = 64;

/// A nonce is dropped only this long after it expired: a request stamped before the
/// expiry but run after it (it queued for the writer), or a clock stepped back, still
/// finds it and is answered as the expiry decides.
const NONCE_GRACE: u64 = 600;

/// Records that `nonce` was issued for `pointer`, valid until `now + ttl`, and drops a
/// few expired nonces with the totals credited under them: a receipt under an expired
/// nonce is refused whether or not its nonce is still stored, so nothing it could
/// credit is lost, and the tables stay as large as the nonces alive.
pub fn issue_nonce(
    conn: &Connection,
    nonce: &[u8; 16],
    pointer: &str,
    now: u64,
    ttl: u64,
) -> Result<()> {
    // The totals first, while their nonces still say which are expired.
    for table in ["receipt_streams", "nonces"] {
        exec(
            conn,
            &format!(
                "DELETE FROM {table} WHERE nonce IN
                   (SELECT nonce FROM nonces WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)"
            ),
            params![
                to_i64(now.saturating_sub(NONCE_GRACE), "time")?,
                NONCES_PRUNED
            ],
        )?;
    }
    exec(
        conn,
        "INSERT INTO nonces (nonce, pointer, expires_at) VALUES (?1, ?2, ?3)",
        params![
            &nonce[..],
            pointer,
            to_i64(now.saturating_add(ttl), "expiry")?
        ],
    )?;
    Ok(())
}

/// Checks a receipt and records its increase over the highest total seen for its
/// (nonce, stream). Returns the increase (0 for a replay), the pointer the nonce was
/// issued for, and the decoded receipt. Unknown or expired nonces are refused as "expired receipt", as the
/// reference verifier does.
pub fn accept_receipt(
    conn: &Connection,
    seed: &ReceiptSeed,
    receipt_b64: &str,
    now: u64,
) -> Result<(u64, String, Receipt)> {
    let receipt =
        Receipt::decode_base64(receipt_b64).map_err(|e| LedgerError::BadRequest(e.to_string()))?;
    receipt
        .verify(&seed.secret(&receipt.nonce))
        .map_err(|e| LedgerError::BadRequest(e.to_string()))?;
    let total = to_i64(receipt.total_received, "receipt amount")?;
    let nonce: Option<(String, i64)> = conn
        .prepare_cached("SELECT pointer, expires_at FROM nonces WHERE nonce = ?1")?
        .query_row(params![&receipt.nonce[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let pointer = match nonce {
        Some((pointer, expires)) if from_i64(expires) >= now => pointer,
        _ => return Err(LedgerError::BadRequest("expired receipt".into())),
    };
    let previous: i64 = conn
        .prepare_cached("SELECT total FROM receipt_streams WHERE nonce = ?1 AND stream_id = ?2")?
        .query_row(params![&receipt.nonce[..], receipt.stream_id], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if total <= previous {
        return Ok((0, pointer, receipt));
    }
    exec(
        conn,
        "INSERT INTO receipt_streams (nonce, stream_id, total) VALUES (?1, ?2, ?3)
         ON CONFLICT (nonce, stream_id) DO UPDATE SET total = excluded.total",
        params![&receipt.nonce[..], receipt.stream_id, total],
    )?;
    Ok((from_i64(total - previous), pointer, receipt))
}

/// The balance `id`, if it exists.
pub fn balance(conn: &Connection, id: &str) -> Result<Option<u64>> {
    balance_of(conn, id)
}

pub(crate) fn balance_of(conn: &Connection, id: &str) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached("SELECT amount FROM balances WHERE id = ?1")?
        .query_row(params![id], |r| r.get::<_, i64>(0))
        .optional()?
        .map(from_i64))
}

/// The most one credit may add to a balance: 2^53 − 1, the largest integer every JSON
/// reader holds exactly. One receipt from a receiver an attacker runs can claim any
/// total; this keeps what it can add far below what the sums of the books hold.
pub const MAX_CREDIT: u64 = (1 << 53) - 1;

pub(crate) fn add_to_balance(
    conn: &Connection,
    id: &str,
    amount: u64,
    receipt: &Receipt,
    now: u64,
) -> Result<u64> {
    if amount > MAX_CREDIT {
        return Err(LedgerError::BadRequest(format!(
            "a credit of {amount} is more than one receipt may add ({MAX_CREDIT})"
        )));
    }
    let current = balance_of(conn, id)?.unwrap_or(0);
    let new = current
        .checked_add(amount)
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
            LedgerError::Conflict("balance cannot exceed max 64 bit signed integer".into())
        })?;
    exec(
        conn,
        "INSERT INTO balances (id, amount) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET amount = excluded.amount",
        params![id, to_i64(new, "balance")?],
    )?;
    exec(
        conn,
        "INSERT INTO credits (balance, nonce, stream_id, amount, at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            id,
            &receipt.nonce[..],
            receipt.stream_id,
            to_i64(amount, "credit")?,
            to_i64(now, "time")?
        ],
    )?;
    Ok(new)
}

/// `POST /balances/{id}:creditReceipt`: credits the receipt's increase to balance `id`.
/// A receipt that adds nothing is refused as "expired receipt" (reference behaviour).
/// With `pointer`, the receipt's nonce must have been issued for that pointer; without
/// it (the reference routes) a license's balance is refused: those take only payments
/// to the license's own pointer.
pub fn credit_receipt(
    conn: &Connection,
    seed: &ReceiptSeed,
    id: &str,
    receipt_b64: &str,
    pointer: Option<&str>,
    now: u64,
) -> Result<u64> {
    if pointer.is_none() {
        refuse_license_balance(id)?;
    }
    // The reference routes answer an amount past 2^63 − 1 with 409, as the reference
    // verifier does; our own routes keep 409 for a reused voucher seq, so it is 400.
    let (increase, paid_to, receipt) = match accept_receipt(conn, seed, receipt_b64, now) {
        Err(LedgerError::Conflict(m)) if pointer.is_some() => {
            return Err(LedgerError::BadRequest(m))
        }
        answer => answer?,
    };
    if let Some(required) = pointer {
        if paid_to != required {
            return Err(LedgerError::BadRequest(format!(
                "receipt is for a payment to {paid_to}, not to this license's pointer {required}"
            )));
        }
    }
    if increase == 0 {
        return Err(LedgerError::BadRequest("expired receipt".into()));
    }
    add_to_balance(conn, id, increase, &receipt, now)
}

/// `POST /balances/{id}:spend`: debits `amount`; 404 if unknown, 402 if short. A
/// license's balance is refused (403): it is spent only by vouchers its payer signed.
pub fn spend_balance(conn: &Connection, id: &str, amount: u64, now: u64) -> Result<u64> {
    refuse_license_balance(id)?;
    if amount == 0 {
        return Err(LedgerError::BadRequest(
            "spend amount must be positive".into(),
        ));
    }
    to_i64(amount, "spend amount")?;
    let current = balance_of(conn, id)?
        .ok_or_else(|| LedgerError::NotFound("balance does not exist".into()))?;
    let remaining = current
        .checked_sub(amount)
        .ok_or_else(|| LedgerError::PaymentRequired {
            missing: amount - current,
            balance: current,
        })?;
    debit(conn, id, amount, remaining, "spend", now)?;
    Ok(remaining)
}

fn debit(
    conn: &Connection,
    id: &str,
    amount: u64,
    remaining: u64,
    kind: &str,
    now: u64,
) -> Result<()> {
    exec(
        conn,
        "UPDATE balances SET amount = ?2 WHERE id = ?1",
        params![id, to_i64(remaining, "balance")?],
    )?;
    journal_debit(conn, id, amount, kind, now)
}

/// Journals a debit of balance `id` (the balance itself is changed by the caller).
pub(crate) fn journal_debit(
    conn: &Connection,
    id: &str,
    amount: u64,
    kind: &str,
    now: u64,
) -> Result<()> {
    exec(
        conn,
        "INSERT INTO debits (balance, amount, kind, at) VALUES (?1, ?2, ?3, ?4)",
        params![id, to_i64(amount, "debit")?, kind, to_i64(now, "time")?],
    )?;
    Ok(())
}

/// Takes `amount` from balance `id` if it covers it, in one statement; the balance
/// left, or 402 with what is missing (nothing taken).
pub(crate) fn take_from_balance(conn: &Connection, id: &str, amount: u64) -> Result<u64> {
    if amount == 0 {
        // A piece the price rounds to nothing: there may be no balance row at all.
        return Ok(balance_of(conn, id)?.unwrap_or(0));
    }
    let left: Option<i64> = conn
        .prepare_cached(
            "UPDATE balances SET amount = amount - ?2 WHERE id = ?1 AND amount >= ?2 RETURNING amount",
        )?
        .query_row(params![id, to_i64(amount, "spend amount")?], |r| r.get(0))
        .optional()?;
    match left {
        Some(left) => Ok(from_i64(left)),
        None => {
            let balance = balance_of(conn, id)?.unwrap_or(0);
            Err(LedgerError::PaymentRequired {
                missing: amount.saturating_sub(balance),
                balance,
            })
        }
    }
}

// ---------------------------------------------------------------- revenue-share accounts

/// A revenue-share account: the pointer downloaders pay, and the creator's terms.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RevShare {
    /// Account id (16 random bytes, hex).
    pub id: String,
    /// The pointer to put in licenses (this verifier's SPSP endpoint for the account).
    pub pointer: String,
    /// Where the creator's earnings are paid out.
    pub payout_pointer: String,
    /// Creator share in basis points.
    pub creator_share_bps: u16,
    /// Asset code.
    pub asset_code: String,
    /// Asset scale.
    pub asset_scale: u8,
    /// The creator's ed25519 key, hex.
    pub creator_key: PublicKey,
}

/// Stores a new revenue-share account.
pub fn create_revshare(conn: &Connection, account: &RevShare, now: u64) -> Result<()> {
    exec(
        conn,
        "INSERT INTO revshares (id, pointer, payout_pointer, creator_share, asset_code, asset_scale, creator_key, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            account.id,
            account.pointer,
            account.payout_pointer,
            account.creator_share_bps,
            account.asset_code,
            account.asset_scale,
            &account.creator_key.to_bytes()[..],
            to_i64(now, "time")?
        ],
    )?;
    Ok(())
}

/// id, pointer, payout pointer, share, asset code, asset scale, creator key bytes.
type RevShareRow = (String, String, String, u16, String, u8, Vec<u8>);

fn revshare_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevShareRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

/// Looks up an account by id or by its pointer.
pub fn find_revshare(conn: &Connection, id_or_pointer: &str) -> Result<Option<RevShare>> {
    let row = conn.prepare_cached("SELECT id, pointer, payout_pointer, creator_share, asset_code, asset_scale, creator_key
             FROM revshares WHERE id = ?1 OR pointer = ?1")?.query_row(
            params![id_or_pointer],
            revshare_from_row,
        )
        .optional()?;
    row.map(
        |(id, pointer, payout_pointer, creator_share_bps, asset_code, asset_scale, key)| {
            let creator_key = decode_key(&key)
                .map_err(|e| LedgerError::Conflict(format!("stored creator key is bad: {e}")))?;
            Ok(RevShare {
                id,
                pointer,
                payout_pointer,
                creator_share_bps,
                asset_code,
                asset_scale,
                creator_key,
            })
        },
    )
    .transpose()
}

/// Totals of an account: what its licenses charged, and the split.
pub fn revshare_totals(conn: &Connection, id: &str) -> Result<Value> {
    let account = find_revshare(conn, id)?
        .ok_or_else(|| LedgerError::NotFound(format!("no revenue-share account {id}")))?;
    let licenses: Vec<Vec<u8>> = conn
        .prepare("SELECT info_hash FROM licenses WHERE revshare = ?1")?
        .query_map(params![account.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let creator = account.creator_key.to_bytes();
    // Sums in u128: each term fits an i64, so no sum of them can overflow.
    let (mut creator_earned, mut seeders_earned) = (0u128, 0u128);
    for ih in &licenses {
        let rows: Vec<(Vec<u8>, i64)> = conn
            .prepare("SELECT party, earned FROM earnings WHERE info_hash = ?1")?
            .query_map(params![ih], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (party, earned) in rows {
            if party == creator {
                creator_earned += u128::from(from_i64(earned));
            } else {
                seeders_earned += u128::from(from_i64(earned));
            }
        }
    }
    Ok(json!({
        "id": account.id,
        "pointer": account.pointer,
        "payout_pointer": account.payout_pointer,
        "creator_share_bps": account.creator_share_bps,
        "asset_code": account.asset_code,
        "asset_scale": account.asset_scale,
        "creator_key": account.creator_key,
        "licenses": licenses.iter().map(|l| data_encoding::HEXLOWER.encode(l)).collect::<Vec<_>>(),
        "total_charged": (creator_earned + seeders_earned).to_string(),
        "creator_earned": creator_earned.to_string(),
        "seeders_earned": seeders_earned.to_string(),
    }))
}

// ---------------------------------------------------------------- licenses

/// Registers a torrent's license from its info dictionary bytes (self-authenticating:
/// the bytes must hash to `info_hash`, carry a validly signed license, and pay one of
/// this verifier's revenue-share pointers with the account's terms).
pub fn register_license(
    conn: &Connection,
    info_hash: InfoHash,
    info_bytes: &[u8],
) -> Result<Value> {
    store_license(conn, &parse_license(info_hash, info_bytes)?)
}

/// A torrent's license as read from its info dictionary and checked.
#[derive(Debug, Clone)]
pub struct ParsedLicense {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Its signed license.
    pub license: ilpt_protocol::License,
    /// Its number of pieces.
    pub piece_count: u32,
}

/// The first half of [`register_license`], which needs no database: the bytes hash to
/// `info_hash`, make a valid info dictionary (whose price covers a unit a piece) and
/// carry a license its creator key signed. The HTTP handler runs it off the writer
/// thread, so that parsing megabytes of piece hashes never holds up a commit.
pub fn parse_license(info_hash: InfoHash, info_bytes: &[u8]) -> Result<ParsedLicense> {
    let m = ilpt_protocol::Metainfo::from_info_bytes(info_bytes, info_hash, Vec::new())
        .map_err(|e| LedgerError::BadRequest(e.to_string()))?;
    let piece_count = m.info.piece_count();
    let license = m.info.license.ok_or_else(|| {
        LedgerError::Unprocessable("the torrent is free: it has no license".into())
    })?;
    if license.signature_status() != ilpt_protocol::LicenseSignature::Valid {
        return Err(LedgerError::Forbidden(
            "the license is not validly signed by its creator key".into(),
        ));
    }
    Ok(ParsedLicense {
        info_hash,
        license,
        piece_count,
    })
}

/// The second half of [`register_license`]: the license must pay one of this
/// verifier's revenue-share pointers with that account's terms; then it is stored
/// (once: registering it again changes nothing).
pub fn store_license(conn: &Connection, parsed: &ParsedLicense) -> Result<Value> {
    let (info_hash, license) = (parsed.info_hash, &parsed.license);
    let account = find_revshare(conn, &license.pointer)?.ok_or_else(|| {
        LedgerError::Unprocessable(format!(
            "the license pays {}, which is not a revenue-share pointer of this verifier",
            license.pointer
        ))
    })?;
    if account.creator_key != license.creator
        || account.creator_share_bps != license.creator_share.get()
        || account.asset_code != license.asset.code()
        || account.asset_scale != license.asset.scale()
    {
        return Err(LedgerError::Unprocessable(
            "the license's creator key, share or asset differ from its revenue-share account"
                .into(),
        ));
    }
    exec(
        conn,
        "INSERT INTO licenses (info_hash, revshare, price, piece_count, creator_share, creator_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (info_hash) DO NOTHING",
        params![
            &info_hash.0[..],
            account.id,
            to_i64(license.price.0, "price")?,
            parsed.piece_count,
            license.creator_share.get(),
            &license.creator.to_bytes()[..]
        ],
    )?;
    Ok(json!({
        "info_hash": info_hash.to_hex(),
        "revshare": account.id,
        "pointer": license.pointer,
        "price": license.price.0.to_string(),
        "piece_count": parsed.piece_count,
    }))
}

pub(crate) struct LicenseRow {
    pub(crate) revshare: String,
    pub(crate) terms: Terms,
}

pub(crate) fn find_license(conn: &Connection, info_hash: InfoHash) -> Result<Option<LicenseRow>> {
    let row: Option<(String, i64, u32, u16, Vec<u8>)> = conn.prepare_cached("SELECT revshare, price, piece_count, creator_share, creator_key FROM licenses WHERE info_hash = ?1")?.query_row(
            params![&info_hash.0[..]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    row.map(|(revshare, price, piece_count, share, key)| {
        let bad = |e: String| LedgerError::Conflict(format!("stored license is bad: {e}"));
        Ok(LicenseRow {
            revshare,
            terms: Terms {
                price: Amount(from_i64(price)),
                piece_count,
                creator_share: Bps::new(u64::from(share)).map_err(|e| bad(e.to_string()))?,
                creator: decode_key(&key).map_err(|e| bad(e.to_string()))?,
            },
        })
    })
    .transpose()
}

/// The revenue-share pointer of a registered license.
pub fn license_pointer(conn: &Connection, info_hash: InfoHash) -> Result<String> {
    let license = find_license(conn, info_hash)?
        .ok_or_else(|| LedgerError::NotFound(format!("no license registered for {info_hash}")))?;
    find_revshare(conn, &license.revshare)?
        .map(|a| a.pointer)
        .ok_or_else(|| LedgerError::Conflict("license has no revenue-share account".into()))
}

/// The balance id of a payer on a license.
pub fn license_balance_id(info_hash: InfoHash, payer: &PublicKey) -> String {
    format!("{}-{}", info_hash.to_hex(), payer.to_hex())
}

/// True if `id` has the form of [`license_balance_id`]: 40 hex digits, `-`, 64 hex digits.
/// License balances share the `balances` table with the reference routes' balances,
/// and these routes refuse every id of this form, so the two never meet.
pub fn is_license_balance_id(id: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    id.split_once('-')
        .is_some_and(|(ih, payer)| hex(ih, 40) && hex(payer, 64))
}

/// 403 for a license's balance on a route that is not the license's own.
fn refuse_license_balance(id: &str) -> Result<()> {
    if is_license_balance_id(id) {
        return Err(LedgerError::Forbidden(format!(
            "balance {id} is a payer's balance on a license: it is credited with \
             POST /licenses/{{info_hash}}/credit and spent only by the payer's signed vouchers"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------- voucher spends

/// The answer to a voucher spend: an HTTP status and a JSON body. Stored with the
/// voucher, so that a retried request gets the same answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpendAnswer {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// A voucher whose payer signature has been checked. Only [`VerifiedVoucher::check`]
/// makes one, so the ledger cannot spend an unchecked voucher; the check runs in the
/// request handlers, in parallel, not in the single writer thread.
#[derive(Debug, Clone)]
pub struct VerifiedVoucher(pub(crate) SignedVoucher);

impl VerifiedVoucher {
    /// Decodes a base64 voucher and checks its signature (400 malformed, 403 forged).
    pub fn check(voucher_b64: &str) -> Result<VerifiedVoucher> {
        let signed = decode_voucher(voucher_b64)?;
        signed
            .verify()
            .map_err(|e| LedgerError::Forbidden(e.to_string()))?;
        Ok(VerifiedVoucher(signed))
    }

    /// Decodes base64 vouchers and checks their signatures together
    /// ([`ilpt_protocol::voucher::verify_all`]): one answer per voucher, in order, the
    /// same as [`VerifiedVoucher::check`] would give each.
    pub fn check_all(vouchers_b64: &[String]) -> Vec<Result<VerifiedVoucher>> {
        let decoded: Vec<Result<SignedVoucher>> =
            vouchers_b64.iter().map(|t| decode_voucher(t)).collect();
        let good: Vec<SignedVoucher> = decoded
            .iter()
            .filter_map(|d| d.as_ref().ok().cloned())
            .collect();
        let mut verdicts = ilpt_protocol::voucher::verify_all(&good)
            .into_iter()
            .zip(good);
        decoded
            .into_iter()
            .map(|d| {
                d.and_then(|_| match verdicts.next() {
                    Some((verdict, v)) => VerifiedVoucher::checked(verdict.map(|()| v)),
                    None => Err(LedgerError::Unavailable("voucher was not checked".into())),
                })
            })
            .collect()
    }

    /// Wraps a voucher whose signature [`crate::sigcheck`] has checked, or turns its
    /// refusal into a 403.
    pub fn checked(
        answer: std::result::Result<SignedVoucher, ilpt_protocol::voucher::VoucherError>,
    ) -> Result<VerifiedVoucher> {
        answer
            .map(VerifiedVoucher)
            .map_err(|e| LedgerError::Forbidden(e.to_string()))
    }
}

/// Decodes a base64 voucher without checking its signature (400 when malformed).
pub fn decode_voucher(voucher_b64: &str) -> Result<SignedVoucher> {
    SignedVoucher::decode_base64_with(voucher_b64, decode_key)
        .map_err(|e| LedgerError::BadRequest(e.to_string()))
}

/// `GET /licenses/{info_hash}/payers/{payer}`: the payer's balance on the license and
/// what its vouchers have been charged so far (so a restarted download pays only the rest).
pub fn payer_state(conn: &Connection, info_hash: InfoHash, payer: &PublicKey) -> Result<Value> {
    let license = find_license(conn, info_hash)?
        .ok_or_else(|| LedgerError::NotFound(format!("no license registered for {info_hash}")))?;
    let id = license_balance_id(info_hash, payer);
    let balance = balance_of(conn, &id)?.unwrap_or(0);
    let charged: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM debits WHERE balance = ?1 AND kind = 'voucher'",
        )?
        .query_row(params![id], |r| r.get(0))?;
    Ok(json!({
        "balance": balance.to_string(),
        "charged": from_i64(charged).to_string(),
        "price": license.terms.price.0.to_string(),
    }))
}

/// The most receipts one spend request may carry.
pub const MAX_RECEIPTS_PER_SPEND: usize = 16;

// ---------------------------------------------------------------- earnings and payouts

/// `GET /earnings/{party}`: per torrent, what the party earned (settled), holds pending
/// (seeder shares awaiting the payer's attestation), was paid out (delivered by a
/// payout), and is held by payouts in flight or whose outcome is unknown.
pub fn earnings(conn: &Connection, party: &PublicKey) -> Result<Value> {
    let rows: Vec<(Vec<u8>, i64, i64, i64, i64)> = conn
        .prepare(
            "SELECT info_hash, earned, pending, paid_out, reserved FROM earnings
             WHERE party = ?1 ORDER BY info_hash",
        )?
        .query_map(params![&party.to_bytes()[..]], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let unknown = payouts::unknown_by_torrent(conn, party)?;
    // Sums in u128: each term fits an i64, so no sum of them can overflow.
    let mut totals = [0u128; 5];
    let torrents: Vec<Value> = rows
        .iter()
        .map(|(ih, e, q, p, r)| {
            let ih_hex = data_encoding::HEXLOWER.encode(ih);
            let unknown = unknown.get(ih.as_slice()).copied().unwrap_or(0);
            let in_flight = from_i64(*r).saturating_sub(unknown);
            for (t, v) in totals.iter_mut().zip([*e, *q, *p]) {
                *t += u128::from(from_i64(v));
            }
            totals[3] += u128::from(in_flight);
            totals[4] += u128::from(unknown);
            json!({"info_hash": ih_hex, "earned": e.to_string(), "pending": q.to_string(),
                   "paid_out": p.to_string(), "in_flight": in_flight.to_string(),
                   "unknown": unknown.to_string()})
        })
        .collect();
    let [earned, pending, paid, in_flight, unknown] = totals.map(|t| t.to_string());
    Ok(
        json!({"party": party, "earned": earned, "pending": pending, "paid_out": paid,
              "in_flight": in_flight, "unknown": unknown, "torrents": torrents}),
    )
}

/// Sets where a serving peer's earnings are paid; `signature` is the party's ed25519
/// signature over `"ilpt-payout-pointer-v1\0" ‖ party ‖ pointer`.
pub fn set_payout_pointer(
    conn: &Connection,
    party: &PublicKey,
    pointer: &str,
    signature: &[u8; 64],
) -> Result<()> {
    ilpt_protocol::license::validate_pointer(pointer).map_err(LedgerError::BadRequest)?;
    let message = payout_pointer_message(party, pointer);
    if !party.verify(&message, signature) {
        return Err(LedgerError::Forbidden(
            "signature does not verify against the party's key".into(),
        ));
    }
    exec(
        conn,
        "INSERT INTO payout_pointers (party, pointer) VALUES (?1, ?2)
         ON CONFLICT (party) DO UPDATE SET pointer = excluded.pointer",
        params![&party.to_bytes()[..], pointer],
    )?;
    Ok(())
}

pub use ilpt_protocol::account::payout_pointer_message;

/// A payout owed: a party, where to pay it, in which asset, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutDue {
    /// The party's key.
    pub party: PublicKey,
    /// The pointer to pay.
    pub pointer: String,
    /// The asset of the earnings (their licenses' asset).
    pub asset: ilpt_protocol::Asset,
    /// Earned and neither paid out nor held by a payout, over `torrents`.
    pub amount: u64,
    /// The torrents whose earnings this pays, with what each holds, in order.
    pub torrents: Vec<(InfoHash, u64)>,
}

/// Everything owed, one entry for each party, pointer and asset it is paid in. What a
/// creator earns from its own license goes to the payout pointer of the license's
/// revenue-share account (the one the creator signed when opening it); what a party
/// earns by serving goes to the pointer it set with its own signature, and waits until
/// it sets one. Earnings in different assets are never added together.
pub fn payouts_due(conn: &Connection) -> Result<Vec<PayoutDue>> {
    type Key = (Vec<u8>, String, String, u8);
    let mut groups: std::collections::BTreeMap<Key, (u128, Vec<(InfoHash, u64)>)> =
        std::collections::BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT e.party, e.info_hash, e.earned - e.paid_out - e.reserved,
                CASE WHEN l.creator_key = e.party THEN r.payout_pointer ELSE p.pointer END,
                r.asset_code, r.asset_scale
         FROM earnings e
         JOIN licenses l ON l.info_hash = e.info_hash
         JOIN revshares r ON r.id = l.revshare
         LEFT JOIN payout_pointers p ON p.party = e.party
         WHERE e.earned > e.paid_out + e.reserved
         ORDER BY e.party, e.info_hash",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (party, info_hash, owed, pointer, code, scale): (
            Vec<u8>,
            Vec<u8>,
            i64,
            Option<String>,
            String,
            i64,
        ) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        );
        let (Some(pointer), Ok(ih), Ok(scale)) = (
            pointer,
            <[u8; 20]>::try_from(info_hash.as_slice()),
            u8::try_from(scale),
        ) else {
            continue;
        };
        let owed = from_i64(owed);
        let group = groups.entry((party, pointer, code, scale)).or_default();
        group.0 += u128::from(owed);
        group.1.push((InfoHash(ih), owed));
    }
    let mut due = Vec::new();
    for ((party, pointer, code, scale), (amount, torrents)) in groups {
        // A payout is one STREAM payment of at most 2^63 - 1: beyond it (never in
        // practice) the rest waits for the next run.
        let (Ok(key), Ok(asset)) = (decode_key(&party), ilpt_protocol::Asset::new(&code, scale))
        else {
            continue;
        };
        let cap = u64::try_from(i64::MAX).unwrap_or(u64::MAX);
        let amount = u64::try_from(amount).unwrap_or(u64::MAX).min(cap);
        if amount > 0 {
            due.push(PayoutDue {
                party: key,
                pointer,
                asset,
                amount,
                torrents,
            });
        }
    }
    Ok(due)
}

pub mod payouts;

// ---------------------------------------------------------------- audit

/// The ledger's conservation laws, computed from the journals and the current state.
/// Sums are exact whatever the rows hold (each term fits an i64; the sums are u128).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Audit {
    /// Credits journalled (receipts credited to a balance).
    pub credits: u64,
    /// Σ credits journalled.
    pub credited: u128,
    /// Σ current balances.
    pub balances: u128,
    /// Σ debits journalled (plain spends and voucher charges).
    pub debited: u128,
    /// Σ voucher charges.
    pub voucher_charges: u128,
    /// Σ earned (creators' shares and settled seeder shares) of all parties.
    pub earned: u128,
    /// Σ seeder shares pending (held, not settled).
    pub pending: u128,
    /// Σ delivered by payouts.
    pub paid_out: u128,
    /// Σ of what the earnings rows record as paid out (equals `paid_out`).
    pub earnings_paid_out: u128,
    /// Σ of payouts being sent or whose outcome is unknown.
    pub held: u128,
    /// Σ of what the earnings rows record as held by payouts (equals `held`).
    pub earnings_reserved: u128,
    /// Σ of what those payouts took from earnings (equals `held`).
    pub held_takes: u128,
    /// Payouts whose outcome a crash left unknown, waiting for the operator.
    pub unknown_payouts: u64,
    /// Σ of them.
    pub unknown: u128,
    /// Σ over earnings rows of what was paid out or held beyond what was earned
    /// (always 0).
    pub overpaid: u128,
}

impl Audit {
    /// Σ credited = Σ balances + Σ debited, Σ voucher charges = Σ earned + Σ pending,
    /// and payouts (delivered, and held by those not settled) match the earnings they
    /// paid and hold, none beyond what was earned.
    pub fn holds(&self) -> bool {
        self.credited == self.balances + self.debited
            && self.voucher_charges == self.earned + self.pending
            && self.paid_out == self.earnings_paid_out
            && self.held == self.earnings_reserved
            && self.held == self.held_takes
            && self.unknown <= self.held
            && self.overpaid == 0
            && self.paid_out + self.held <= self.earned
    }
}

/// Sums the journals and state, row by row in u128: SQLite's `SUM()` is a 64-bit
/// integer and fails past 2^63 − 1, which a few large credits can reach.
pub fn audit(conn: &Connection) -> Result<Audit> {
    let sum = |sql: &str| -> Result<u128> {
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let mut total = 0u128;
        while let Some(r) = rows.next()? {
            total += u128::from(from_i64(r.get::<_, i64>(0)?));
        }
        Ok(total)
    };
    let credits: i64 = conn.query_row("SELECT COUNT(*) FROM credits", [], |r| r.get(0))?;
    Ok(Audit {
        credits: from_i64(credits),
        credited: sum("SELECT amount FROM credits")?,
        balances: sum("SELECT amount FROM balances")?,
        debited: sum("SELECT amount FROM debits")?,
        voucher_charges: sum("SELECT amount FROM debits WHERE kind = 'voucher'")?,
        earned: sum("SELECT earned FROM earnings")?,
        pending: sum("SELECT pending FROM earnings")?,
        paid_out: sum("SELECT delivered FROM payouts")?,
        earnings_paid_out: sum("SELECT paid_out FROM earnings")?,
        held: sum("SELECT amount FROM payouts WHERE state IN ('pending', 'unknown')")?,
        earnings_reserved: sum("SELECT reserved FROM earnings")?,
        held_takes: sum(
            "SELECT t.amount FROM payout_takes t JOIN payouts p ON p.id = t.payout
             WHERE p.state IN ('pending', 'unknown')",
        )?,
        unknown_payouts: from_i64(conn.query_row(
            "SELECT COUNT(*) FROM payouts WHERE state = 'unknown'",
            [],
            |r| r.get(0),
        )?),
        unknown: sum("SELECT amount FROM payouts WHERE state = 'unknown'")?,
        overpaid: sum(
            "SELECT paid_out + reserved - earned FROM earnings WHERE paid_out + reserved > earned",
        )?,
    })
}

/// Reads a `meta` value.
pub fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()?)
}

/// Writes a `meta` value.
pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    exec(
        conn,
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub mod paid;
pub mod shares;

pub use shares::{attest, revoke, spend_voucher, sweep, Swept, VerifiedAttestation};

#[cfg(test)]
mod tests;
