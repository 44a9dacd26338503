//! One module per `ilpt` subcommand.

pub mod create;
pub mod demo;
pub mod earnings;
pub mod get;
pub mod inspect;
pub mod key;
pub mod pay;
pub mod payouts;
pub mod revshare;
pub mod seed;
pub mod serve;
pub mod simulate;
pub mod support;
pub mod swarm_args;
pub mod tracker;
pub mod verifier;
pub mod verify;
pub mod wallet;
