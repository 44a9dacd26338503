//! The ILP Torrent verifier: receipt verification, balances, voucher spends and the
//! revenue-share ledger. Not implemented yet: this crate is filled by issue 3.
