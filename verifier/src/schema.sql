-- The verifier's ledger. Amounts are INTEGER (i64) in asset units and never negative;
-- every money movement happens inside one transaction.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Receipt nonces this verifier's SPSP proxy issued, and for which
-- payment pointer: a receipt counts toward a license only if its nonce was issued for
-- that license's revenue-share pointer.
CREATE TABLE IF NOT EXISTS nonces (
    nonce      BLOB PRIMARY KEY,
    pointer    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
-- Expired nonces are pruned a few at a time as new ones are issued.
CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at);

-- The highest total credited per (nonce, stream id): credit is monotonic.
CREATE TABLE IF NOT EXISTS receipt_streams (
    nonce     BLOB NOT NULL,
    stream_id INTEGER NOT NULL,
    total     INTEGER NOT NULL CHECK (total >= 0),
    PRIMARY KEY (nonce, stream_id)
);

CREATE TABLE IF NOT EXISTS balances (
    id     TEXT PRIMARY KEY,
    amount INTEGER NOT NULL CHECK (amount >= 0)
);

-- Journal of every credit and every debit, for audits and the invariants.
CREATE TABLE IF NOT EXISTS credits (
    seq       INTEGER PRIMARY KEY,
    balance   TEXT NOT NULL,
    nonce     BLOB NOT NULL,
    stream_id INTEGER NOT NULL,
    amount    INTEGER NOT NULL CHECK (amount > 0),
    at        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS debits (
    seq     INTEGER PRIMARY KEY,
    balance TEXT NOT NULL,
    amount  INTEGER NOT NULL CHECK (amount > 0),
    kind    TEXT NOT NULL,
    at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS revshares (
    id             TEXT PRIMARY KEY,
    pointer        TEXT NOT NULL UNIQUE,
    payout_pointer TEXT NOT NULL,
    creator_share  INTEGER NOT NULL,
    asset_code     TEXT NOT NULL,
    asset_scale    INTEGER NOT NULL,
    creator_key    BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS licenses (
    info_hash     BLOB PRIMARY KEY,
    revshare      TEXT NOT NULL REFERENCES revshares(id),
    price         INTEGER NOT NULL,
    piece_count   INTEGER NOT NULL,
    creator_share INTEGER NOT NULL,
    creator_key   BLOB NOT NULL
);

-- Every voucher spent, unique by (payer, seq): a reused seq is refused, and a retried
-- request with the same voucher gets the stored answer. The key puts seq first: payers
-- number their vouchers from the clock (`ilpt` uses milliseconds << 20 plus a count),
-- so new entries of all payers land together at the index's right edge instead of
-- each payer's own leaf, and a commit writes a few index pages instead of one a payer.
CREATE TABLE IF NOT EXISTS vouchers (
    payer    BLOB NOT NULL,
    seq      INTEGER NOT NULL,
    voucher  BLOB NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (seq, payer)
);

-- Pieces a payer has paid for, and their seeder shares (ilpt_protocol::charging::Share):
-- which payee holds the share, since when, and whether it is settled. Written behind
-- the spends (verifier/src/ledger/paid.rs): the newest entries are in the writer's
-- memory and in share_log, and reach this table a slice of payers a commit;
-- meta.paid_pieces_through is the share_log seq up to which it is complete.
CREATE TABLE IF NOT EXISTS paid_pieces (
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    piece     INTEGER NOT NULL,
    payee     BLOB NOT NULL,
    since     INTEGER NOT NULL,
    settled   INTEGER NOT NULL,
    PRIMARY KEY (info_hash, payer, piece)
);
-- Pending shares by age, for the settlement sweep (forfeits).
CREATE INDEX IF NOT EXISTS paid_pieces_pending ON paid_pieces (since) WHERE settled = 0;

-- Every change of a share's holder, in order (charges, moves, forfeits): the durable
-- record of what paid_pieces does not hold yet. Cut behind paid_pieces_through.
CREATE TABLE IF NOT EXISTS share_log (
    seq       INTEGER PRIMARY KEY,
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    piece     INTEGER NOT NULL,
    payee     BLOB NOT NULL,
    since     INTEGER NOT NULL,
    settled   INTEGER NOT NULL
);

-- What each payer attested of each payee: every piece it says it received from that
-- payee and checked (a bitfield, the union of its cumulative attestations).
CREATE TABLE IF NOT EXISTS attestations (
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    payee     BLOB NOT NULL,
    pieces    BLOB NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (info_hash, payer, payee)
);

-- An attestation for a piece whose share another payee holds and may still deliver:
-- the sweep settles it once that share is movable (the first claim wins).
CREATE TABLE IF NOT EXISTS claims (
    info_hash  BLOB NOT NULL,
    payer      BLOB NOT NULL,
    piece      INTEGER NOT NULL,
    claimant   BLOB NOT NULL,
    movable_at INTEGER NOT NULL,
    PRIMARY KEY (info_hash, payer, piece)
);
CREATE INDEX IF NOT EXISTS claims_by_time ON claims (movable_at);

-- Payees a payer banned: they may spend none of its vouchers, and the shares they hold
-- unattested are movable at once.
CREATE TABLE IF NOT EXISTS revocations (
    info_hash BLOB NOT NULL,
    payer     BLOB NOT NULL,
    payee     BLOB NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (info_hash, payer, payee)
);

-- earned: the creator's shares and settled seeder shares; pending: seeder shares held
-- and not settled yet, which are never paid out.
CREATE TABLE IF NOT EXISTS earnings (
    party     BLOB NOT NULL,
    info_hash BLOB NOT NULL,
    earned    INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0),
    pending   INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),
    -- Delivered by payouts whose outcome is recorded.
    paid_out  INTEGER NOT NULL DEFAULT 0 CHECK (paid_out >= 0),
    -- Held by payouts being paid or whose outcome is unknown: not owed again until
    -- they are settled. Payouts take only what is earned and neither paid nor held.
    reserved  INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND paid_out + reserved <= earned),
    PRIMARY KEY (party, info_hash)
);

-- Where a serving peer wants its earnings paid (set with a request signed by its key).
CREATE TABLE IF NOT EXISTS payout_pointers (
    party   BLOB PRIMARY KEY,
    pointer TEXT NOT NULL
);

-- A payout is recorded `pending` (its amount reserved from the earnings it pays) before
-- any money moves, and settled after: `done`, `partial` (`delivered` < `amount`) or
-- `failed` (nothing delivered). A row still `pending` when the verifier starts was cut
-- short by a crash: it becomes `unknown`, keeps its reservation, and is never resent;
-- the operator settles it with a signed resolution. `note`: the receipt of what was
-- delivered, or why it failed.
CREATE TABLE IF NOT EXISTS payouts (
    id          INTEGER PRIMARY KEY,
    party       BLOB NOT NULL,
    pointer     TEXT NOT NULL,
    asset_code  TEXT NOT NULL,
    asset_scale INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    state       TEXT NOT NULL
                CHECK (state IN ('pending', 'unknown', 'done', 'partial', 'failed')),
    delivered   INTEGER NOT NULL DEFAULT 0 CHECK (delivered >= 0 AND delivered <= amount),
    created_at  INTEGER NOT NULL,
    settled_at  INTEGER,
    note        TEXT
);
CREATE INDEX IF NOT EXISTS payouts_open ON payouts (state) WHERE state IN ('pending', 'unknown');

-- The earnings rows a payout reserved, in the order it takes them; what it delivered
-- pays them in that order.
CREATE TABLE IF NOT EXISTS payout_takes (
    payout    INTEGER NOT NULL REFERENCES payouts (id),
    seq       INTEGER NOT NULL,
    info_hash BLOB NOT NULL,
    amount    INTEGER NOT NULL CHECK (amount > 0),
    PRIMARY KEY (payout, seq)
);
