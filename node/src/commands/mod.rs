//! One module per `ilpt` subcommand.

pub mod create;
pub mod inspect;
pub mod key;
pub mod tracker;
pub mod verifier;
pub mod verify;
