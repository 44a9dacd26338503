//! The ILP Torrent swarm simulator: discrete-event, in virtual time, deterministic for
//! a given seed, driving the same `ilpt-protocol` decisions as the node.
//!
//! - Piece choice is the protocol's picker (rarest first, endgame): each downloader has
//!   the per-downloader half, [`Requests`](ilpt_protocol::picker::Requests), with one
//!   block per piece (pieces are the unit of exchange), and all of them take rarity
//!   from one swarm-wide [`Availability`](ilpt_protocol::availability::Availability)
//!   (see the README, "Rarity is swarm-wide").
//! - Every spend is decided by the protocol's
//!   [`Terms::decide`](ilpt_protocol::charging::Terms::decide), so revenue totals are
//!   sums of real decisions, not a formula (see [`ledger`] for what is modelled).
//! - The network is flow-level: each peer's upload and download capacity is shared
//!   between its transfers ([`flows`]).
//!
//! Use: [`scenario::load`] a TOML file, [`simulate`] it, and [`output::write`] the
//! results (summary, CSV, SVG plots) to a folder.

pub mod behaviour;
pub mod config;
mod engine;
mod event;
mod flags;
mod flows;
pub mod huge_pages;
mod keys;
mod ledger;
pub mod output;
mod peer;
mod prefetch;
pub mod progress;
mod queue;
mod random;
pub mod report;
mod rows;
pub mod scenario;
pub mod stats;
pub mod theory;
mod tracker;

pub use config::Config;
pub use ledger::MoneyTotals;
pub use progress::{Progress, Silent};
pub use report::{Report, Summary};

/// Runs the scenario `config` to its end and reports what happened.
pub fn simulate(config: &Config, progress: &mut dyn Progress) -> Report {
    engine::Engine::new(config.clone()).run(progress)
}
