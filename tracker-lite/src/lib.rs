//! ILP Torrent tracker-lite: a rendezvous point only (libp2p rendezvous and HTTP
//! announce). Not implemented yet: this crate is filled by issue 4.
