//! ILP Torrent's protocol core: formats and decisions, with no I/O.
//!
//! Everything a peer, the verifier and the simulator must agree on lives here, once:
//! the `.torrent` format with its signed license, magnet links, STREAM receipts
//! (Interledger RFC 0039), spend vouchers, and the arithmetic of prices and revenue
//! splits. Nothing here opens a socket or a file, reads a clock, or spawns a task; the
//! drivers (`ilpt-node`, `ilpt-verifier`, `ilpt-sim`) do the I/O.
//!
//! Every parser returns a typed error that names what was expected and what was found,
//! and never panics on any input.

pub mod account;
pub mod amount;
pub mod availability;
pub mod bencode;
pub mod bitfield;
pub mod charging;
pub mod delivery;
pub mod hashing;
pub mod info_hash;
pub mod keys;
pub mod license;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod picker;
pub mod pieces;
pub mod rng;
pub mod session;
pub mod split;
pub mod voucher;
pub mod wire;

pub use amount::{Amount, Asset, Bps};
/// STREAM receipts (RFC 0039) are an Interledger format: they live in
/// `ilpt-interledger`, and are re-exported here for the verifier and the node.
pub use ilpt_interledger::receipt;
pub use info_hash::InfoHash;
pub use keys::PublicKey;
pub use license::{License, LicenseSignature};
pub use magnet::Magnet;
pub use metainfo::{FileEntry, Info, Layout, Metainfo, MetainfoError, NewTorrent};
pub use receipt::Receipt;
pub use voucher::{SignedVoucher, Voucher};
