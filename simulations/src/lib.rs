//! The ILP Torrent swarm simulator: discrete-event, virtual time, driving the same
//! `ilpt-protocol` decisions as the node. Not implemented yet: this crate is filled by
//! issue 6.
