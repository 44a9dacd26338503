//! The ILP Torrent verifier: checks Interledger STREAM receipts (RFC 0039), keeps
//! balances, spends vouchers by the charging rules of `ilpt-protocol`, attributes every
//! spend between the creator and the serving peer, and pays earnings out.
//!
//! It is a drop-in for clients of interledger/receipt-verifier
//! (`/balances/{id}:creditReceipt`, `/balances/{id}:spend`, `/receipts`, `/verify`),
//! plus ILP Torrent's revenue-share routes. Money lives in SQLite (WAL), written by one
//! thread with group commit and answered only once the WAL is synced ([`writer`]), so an
//! acknowledged operation survives `kill -9` and concurrent spends cannot race.

pub mod api;
pub mod collection;
pub mod ledger;
pub mod payout;
pub mod receivers;
pub mod server;
pub mod sigcheck;
pub mod spsp;
pub mod writer;

pub use server::{start, Running, VerifierConfig};

// HTTP clients with bounded reads belong to the I/O layer shared with the node.
pub use ilpt_ilp_io::http::{http_client, read_capped, CappedReadError};
