//! One peer connection for one torrent, as a state machine: messages in
//! ([`Session::handle`]), messages out ([`Session::poll_transmit`]) and work for the
//! driver ([`Session::poll_event`]): serve a block, store a block, answer metadata.
//!
//! The session decides what the wire protocol allows (handshake first, bitfield once,
//! requests only when unchoked, bounded queues); the driver does the I/O and holds the
//! payment gate: a [`Event::Serve`] is only a request to serve, and the driver answers
//! with [`Session::send_block`] or [`Session::reject`].

use std::collections::{HashSet, VecDeque};

use crate::bitfield::Bitfield;
use crate::charging::Terms;
use crate::info_hash::InfoHash;
use crate::keys::PublicKey;
use crate::picker::{PeerSlot, Picker, Received};
use crate::voucher::SignedVoucher;
use crate::wire::{BlockRef, Message, RejectReason};

/// Limits of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our requests in flight to this peer (the pipeline depth).
    pub max_outstanding: usize,
    /// The peer's requests waiting for us; more are rejected as overloaded.
    pub max_queued: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_outstanding: 64,
            max_queued: 256,
        }
    }
}

/// The payment rules of a licensed torrent, for one connection.
///
/// Requesting: before the first request for a piece, the session asks the driver for a
/// voucher ([`Event::VoucherNeeded`]) and holds the requests until it comes
/// ([`Session::send_voucher`]). Serving: a request for a piece is served only after the
/// peer's voucher for it was accepted by the verifier ([`Event::SpendVoucher`], then
/// [`Session::voucher_accepted`]); before, it is parked (voucher being checked) or
/// rejected as payment required. A refused payment chokes the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// The license terms (price, pieces, split, creator).
    pub terms: Terms,
    /// Our key: the payee of vouchers we accept, the payer of those we send.
    pub me: PublicKey,
    /// The peer's key: the payer of vouchers it sends, the payee of ours.
    pub peer: PublicKey,
}

/// Work for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// We are about to request blocks of this paid piece from the peer: sign a voucher
    /// and call [`Session::send_voucher`] (or [`Session::send_unpaid`]).
    VoucherNeeded(u32),
    /// The peer paid for a piece with this voucher (form, signature, payee and amount
    /// already checked): spend it at the verifier, then call
    /// [`Session::voucher_accepted`] or [`Session::voucher_refused`].
    SpendVoucher {
        /// The piece.
        piece: u32,
        /// The voucher (boxed: it is large and rare next to the other events).
        voucher: Box<SignedVoucher>,
    },
    /// The peer's hello: its metadata length (0 if it has none).
    Hello {
        /// Length of the peer's info dictionary.
        metadata_len: u32,
    },
    /// The peer asks for a block we have. Answer with `send_block` or `reject`.
    Serve(BlockRef),
    /// A block we asked for: store it; if `complete`, check the piece's hash.
    Block {
        /// Which block.
        block: BlockRef,
        /// Its bytes.
        data: Vec<u8>,
        /// The piece has all its blocks now.
        complete: bool,
        /// Other peers asked for the same block (endgame): send them a Cancel.
        cancel: Vec<PeerSlot>,
    },
    /// The peer refused a request (the picker has released it).
    Rejected {
        /// Which block.
        block: BlockRef,
        /// Why.
        reason: RejectReason,
    },
    /// The peer asks for metadata piece `n`.
    MetadataRequest(u32),
    /// A metadata piece arrived.
    MetadataPiece {
        /// Piece index.
        index: u32,
        /// Total metadata length.
        total: u32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The peer cannot send metadata piece `n`.
    MetadataReject(u32),
    /// The peer (a payer) attested the pieces it received from us (form, torrent,
    /// parties, piece count and signature already checked): hand it to the verifier
    /// with the next spends, and serve on ([`crate::delivery::Deliveries`]).
    Attestation(Box<crate::delivery::SignedAttestation>),
}

/// A protocol violation: the driver closes the connection and penalises the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A message before the hello.
    #[error("message before hello")]
    NoHello,
    /// The hello names another torrent.
    #[error("peer speaks about torrent {0}, not ours")]
    WrongTorrent(InfoHash),
    /// A bitfield of the wrong size, or a second one.
    #[error("bad bitfield")]
    BadBitfield,
    /// A piece index past the end.
    #[error("piece {0} does not exist")]
    NoSuchPiece(u32),
    /// A block whose length does not match what we asked for.
    #[error("block of the wrong length")]
    BadBlock,
    /// A voucher that is malformed, forged, or not for this piece, payee or price.
    #[error("bad voucher: {0}")]
    BadVoucher(String),
    /// An attestation that is malformed, forged, or not from this peer to us.
    #[error("bad attestation: {0}")]
    BadAttestation(String),
}

/// One peer connection for one torrent.
#[derive(Debug)]
pub struct Session {
    peer: PeerSlot,
    info_hash: InfoHash,
    piece_count: Option<u32>,
    config: SessionConfig,
    hello_received: bool,
    bitfield_received: bool,
    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    peer_has: Bitfield,
    outstanding: Vec<BlockRef>,
    to_serve: VecDeque<BlockRef>,
    outbox: VecDeque<Message>,
    events: VecDeque<Event>,
    added_to_picker: bool,
    /// Bitfield and haves that arrived before we knew the piece count (magnet joins).
    early_bitfield: Option<Vec<u8>>,
    early_haves: Vec<u32>,
    paid: Option<Paid>,
    /// Requesting: pieces we sent (or skipped) a voucher for, and requests held until then.
    vouchered: HashSet<u32>,
    voucher_asked: HashSet<u32>,
    /// Requests are topped up only when at least this many can go (see
    /// [`Session::set_pipeline`]).
    refill_room: usize,
    held: Vec<BlockRef>,
    /// Serving: pieces whose voucher the verifier accepted, or is checking; parked requests.
    accepted: HashSet<u32>,
    checking: HashSet<u32>,
    parked: Vec<BlockRef>,
    choked_for_payment: bool,
}

/// The most `Have`s kept while the metadata is still unknown.
const MAX_EARLY_HAVES: usize = 4096;

impl Session {
    /// A new session; queues our hello (and bitfield, if we know the torrent's pieces).
    pub fn new(
        peer: PeerSlot,
        info_hash: InfoHash,
        metadata_len: u32,
        have: Option<&Bitfield>,
        config: SessionConfig,
    ) -> Session {
        let mut s = Session {
            peer,
            info_hash,
            piece_count: have.map(Bitfield::len),
            config,
            hello_received: false,
            bitfield_received: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            peer_has: Bitfield::new(have.map_or(0, Bitfield::len)),
            outstanding: Vec::new(),
            to_serve: VecDeque::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            added_to_picker: false,
            early_bitfield: None,
            early_haves: Vec::new(),
            paid: None,
            vouchered: HashSet::new(),
            voucher_asked: HashSet::new(),
            refill_room: 1,
            held: Vec::new(),
            accepted: HashSet::new(),
            checking: HashSet::new(),
            parked: Vec::new(),
            choked_for_payment: false,
        };
        s.outbox.push_back(Message::Hello {
            info_hash,
            metadata_len,
        });
        if let Some(have) = have {
            s.outbox.push_back(Message::Bitfield(have.to_wire()));
        }
        s
    }

    /// Applies a license's payment rules to this connection.
    pub fn set_paid(&mut self, paid: Paid) {
        self.paid = Some(paid);
    }

    /// Changes our pipeline to this peer: at most `max_outstanding` requests in flight,
    /// topped up only once `refill_room` of them have come back (1 = at every one).
    ///
    /// A paid connection wants both. Each new piece waits for its voucher to be spent
    /// at the verifier before the peer serves it, and the requests already in flight are
    /// what keeps the link busy meanwhile. Topping up in steps sends the vouchers for
    /// several pieces together, which the serving peer spends in one call.
    pub fn set_pipeline(&mut self, max_outstanding: usize, refill_room: usize) {
        self.config.max_outstanding = max_outstanding;
        self.refill_room = refill_room.clamp(1, max_outstanding.max(1));
    }

    /// The peer slot this session was created with.
    pub fn peer(&self) -> PeerSlot {
        self.peer
    }

    /// Which pieces the peer has.
    pub fn peer_has(&self) -> &Bitfield {
        &self.peer_has
    }

    /// True if the peer has every piece.
    pub fn peer_is_seed(&self) -> bool {
        self.piece_count.is_some() && self.peer_has.is_full()
    }

    /// True while nothing passes on this connection and nothing is wanted: neither side
    /// interested, no request either way. A driver short of connections drops an idle one.
    pub fn is_idle(&self) -> bool {
        !self.am_interested
            && !self.peer_interested
            && self.outstanding.is_empty()
            && self.to_serve.is_empty()
            && self.parked.is_empty()
    }

    /// Our requests in flight.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// The torrent's metadata became known (a magnet download): start piece exchange.
    pub fn metadata_known(&mut self, have: &Bitfield, picker: &mut Picker) {
        if self.piece_count.is_some() {
            return;
        }
        self.piece_count = Some(have.len());
        self.peer_has = self
            .early_bitfield
            .take()
            .and_then(|bytes| Bitfield::from_wire(&bytes, have.len()))
            .unwrap_or_else(|| Bitfield::new(have.len()));
        for i in std::mem::take(&mut self.early_haves) {
            self.peer_has.set(i);
        }
        picker.add_peer(&self.peer_has);
        self.added_to_picker = true;
        self.outbox.push_back(Message::Bitfield(have.to_wire()));
        self.update_interest(picker);
        self.fill_requests(picker);
    }

    /// Handles one message from the peer.
    pub fn handle(
        &mut self,
        msg: Message,
        picker: Option<&mut Picker>,
    ) -> Result<(), SessionError> {
        if !self.hello_received {
            let Message::Hello {
                info_hash,
                metadata_len,
            } = msg
            else {
                return Err(SessionError::NoHello);
            };
            if info_hash != self.info_hash {
                return Err(SessionError::WrongTorrent(info_hash));
            }
            self.hello_received = true;
            self.events.push_back(Event::Hello { metadata_len });
            return Ok(());
        }
        match msg {
            Message::KeepAlive => {}
            Message::Hello { .. } => return Err(SessionError::NoHello),
            Message::Choke => {
                self.peer_choking = true;
                self.held.clear();
                // BEP 3: a choke discards all pending requests.
                if let Some(picker) = picker {
                    for b in self.outstanding.drain(..) {
                        picker.release(self.peer, &b);
                    }
                } else {
                    self.outstanding.clear();
                }
            }
            Message::Unchoke => {
                self.peer_choking = false;
                if let Some(picker) = picker {
                    self.fill_requests(picker);
                }
            }
            Message::Interested => {
                self.peer_interested = true;
                // A peer choked for not paying stays choked until it pays or its wait
                // is over (`retry_after_payment_choke`), however often it says this.
                if self.am_choking && !self.choked_for_payment {
                    self.am_choking = false;
                    self.outbox.push_back(Message::Unchoke);
                }
            }
            Message::NotInterested => self.peer_interested = false,
            Message::Have(i) if self.piece_count.is_none() => {
                if self.early_haves.len() < MAX_EARLY_HAVES {
                    self.early_haves.push(i);
                }
            }
            Message::Bitfield(bytes) if self.piece_count.is_none() => {
                if self.early_bitfield.is_some() || bytes.len() > crate::wire::MAX_BITFIELD_LEN {
                    return Err(SessionError::BadBitfield);
                }
                self.early_bitfield = Some(bytes);
            }
            Message::Have(i) => {
                let n = self.piece_count.ok_or(SessionError::BadBitfield)?;
                if i >= n {
                    return Err(SessionError::NoSuchPiece(i));
                }
                if self.peer_has.set(i) {
                    if let Some(picker) = picker {
                        picker.add_have(i);
                        self.update_interest(picker);
                        self.fill_requests(picker);
                    }
                }
            }
            Message::Bitfield(bytes) => {
                let n = self.piece_count.ok_or(SessionError::BadBitfield)?;
                if self.bitfield_received || self.peer_has.count() > 0 {
                    return Err(SessionError::BadBitfield);
                }
                self.peer_has = Bitfield::from_wire(&bytes, n).ok_or(SessionError::BadBitfield)?;
                self.bitfield_received = true;
                if let Some(picker) = picker {
                    // If metadata_known counted this peer already, it counted an empty
                    // set (peer_has was empty, as checked above): add the real one.
                    picker.add_peer(&self.peer_has);
                    self.added_to_picker = true;
                    self.update_interest(picker);
                    self.fill_requests(picker);
                }
            }
            Message::Request(block) => self.on_request(block, picker.as_deref())?,
            Message::Cancel(block) => {
                self.to_serve.retain(|b| *b != block);
                self.parked.retain(|b| *b != block);
            }
            Message::Block {
                piece,
                offset,
                data,
            } => {
                let Some(pos) = self
                    .outstanding
                    .iter()
                    .position(|b| b.piece == piece && b.offset == offset)
                else {
                    return Ok(()); // Cancelled or never asked: ignore (counted as waste).
                };
                let block = self.outstanding.swap_remove(pos);
                if block.length as usize != data.len() {
                    return Err(SessionError::BadBlock);
                }
                if let Some(picker) = picker {
                    if let Received::Accepted { complete, cancel } =
                        picker.block_received(self.peer, &block)
                    {
                        self.events.push_back(Event::Block {
                            block,
                            data,
                            complete,
                            cancel,
                        });
                    }
                    self.fill_requests(picker);
                }
            }
            Message::Reject { block, reason } => {
                if matches!(
                    reason,
                    RejectReason::PaymentRequired { .. } | RejectReason::Unavailable
                ) {
                    // The voucher did not pay: a new one goes with the next request.
                    self.vouchered.remove(&block.piece);
                }
                if let Some(pos) = self.outstanding.iter().position(|b| *b == block) {
                    self.outstanding.swap_remove(pos);
                    if let Some(picker) = picker {
                        picker.release(self.peer, &block);
                    }
                    self.events.push_back(Event::Rejected { block, reason });
                }
            }
            Message::MetadataRequest(i) => self.events.push_back(Event::MetadataRequest(i)),
            Message::MetadataPiece { index, total, data } => self
                .events
                .push_back(Event::MetadataPiece { index, total, data }),
            Message::MetadataReject(i) => self.events.push_back(Event::MetadataReject(i)),
            Message::Voucher { piece, voucher } => self.on_voucher(piece, &voucher)?,
            Message::Attestation(bytes) => self.on_attestation(&bytes)?,
        }
        Ok(())
    }

    fn on_attestation(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let (Some(paid), Some(n)) = (&self.paid, self.piece_count) else {
            return Ok(());
        };
        let bad = |why: String| SessionError::BadAttestation(why);
        let signed = crate::delivery::SignedAttestation::decode_with(bytes, |b| {
            known_key(b, &[paid.peer, paid.me])
        })
        .map_err(|e| bad(e.to_string()))?;
        let a = &signed.attestation;
        if a.info_hash != self.info_hash || a.pieces.len() != n {
            return Err(bad("not for this torrent".into()));
        }
        if a.payer != paid.peer || a.payee != paid.me {
            return Err(bad("not from this peer to us".into()));
        }
        signed.verify().map_err(|e| bad(e.to_string()))?;
        self.events.push_back(Event::Attestation(Box::new(signed)));
        Ok(())
    }

    /// Sends our attestation (signed bytes) of the pieces we received from the peer.
    pub fn send_attestation(&mut self, bytes: Vec<u8>) {
        self.outbox.push_back(Message::Attestation(bytes));
    }

    fn on_voucher(&mut self, piece: u32, bytes: &[u8]) -> Result<(), SessionError> {
        let Some(paid) = &self.paid else {
            return Ok(());
        };
        let bad = |why: &str| SessionError::BadVoucher(why.to_owned());
        // A piece already paid for, or whose voucher is being checked, gains nothing
        // from another: it is dropped before its signature is checked, so a peer
        // repeating one costs no verification.
        if self.accepted.contains(&piece) || self.checking.contains(&piece) {
            return Ok(());
        }
        // As many pieces may wait for the verifier as requests may wait for us: a
        // peer that pays that far ahead is flooding, not downloading.
        if self.checking.len() >= self.config.max_queued.max(1) {
            return Err(bad("too many vouchers waiting for the verifier at once"));
        }
        let signed = SignedVoucher::decode_with(bytes, |b| known_key(b, &[paid.peer, paid.me]))
            .map_err(|e| SessionError::BadVoucher(e.to_string()))?;
        let v = &signed.voucher;
        if v.piece != piece || v.info_hash != self.info_hash {
            return Err(bad("not for this piece of this torrent"));
        }
        if v.payee != paid.me || v.payer != paid.peer {
            return Err(bad("not from this peer to us"));
        }
        if Some(v.amount) != paid.terms.piece_price_of(piece) {
            return Err(bad("amount is not the piece's price"));
        }
        signed
            .verify()
            .map_err(|e| SessionError::BadVoucher(e.to_string()))?;
        if self.choked_for_payment && self.am_choking {
            // A new payment: let the peer ask again.
            self.choked_for_payment = false;
            self.am_choking = false;
            self.outbox.push_back(Message::Unchoke);
        }
        // New for this piece (repeats returned above): the driver spends it.
        self.checking.insert(piece);
        self.events.push_back(Event::SpendVoucher {
            piece,
            voucher: Box::new(signed),
        });
        Ok(())
    }

    /// The verifier accepted the peer's voucher for `piece`: serve its parked requests.
    pub fn voucher_accepted(&mut self, piece: u32) {
        // Only a voucher this session received and handed out can unlock a piece.
        if !self.checking.remove(&piece) {
            return;
        }
        self.accepted.insert(piece);
        let (ready, rest): (Vec<BlockRef>, Vec<BlockRef>) =
            self.parked.drain(..).partition(|b| b.piece == piece);
        self.parked = rest;
        for block in ready {
            self.to_serve.push_back(block);
            self.events.push_back(Event::Serve(block));
        }
    }

    /// The verifier refused the voucher (or could not be reached): reject the parked
    /// requests; a refused payment also chokes the peer until it pays again.
    pub fn voucher_refused(&mut self, piece: u32, reason: RejectReason) {
        self.checking.remove(&piece);
        let (refused, rest): (Vec<BlockRef>, Vec<BlockRef>) =
            self.parked.drain(..).partition(|b| b.piece == piece);
        self.parked = rest;
        for block in refused {
            self.outbox.push_back(Message::Reject { block, reason });
        }
        if matches!(reason, RejectReason::PaymentRequired { .. }) {
            self.choke_for_payment();
        }
    }

    fn choke_for_payment(&mut self) {
        if !self.am_choking {
            self.am_choking = true;
            self.choked_for_payment = true;
            self.outbox.push_back(Message::Choke);
        }
    }

    /// Lets a peer choked for not paying ask again (the driver calls this now and then).
    pub fn retry_after_payment_choke(&mut self) {
        if self.choked_for_payment && self.peer_interested {
            self.choked_for_payment = false;
            self.am_choking = false;
            self.outbox.push_back(Message::Unchoke);
        }
    }

    /// Sends our voucher for `piece`, then the requests held for it.
    pub fn send_voucher(&mut self, piece: u32, voucher: Vec<u8>) {
        self.voucher_asked.remove(&piece);
        self.vouchered.insert(piece);
        self.outbox.push_back(Message::Voucher { piece, voucher });
        self.release_held(piece);
    }

    /// Sends the requests held for `piece` without paying (a client that refuses to pay;
    /// honest peers will not serve them).
    pub fn send_unpaid(&mut self, piece: u32) {
        self.voucher_asked.remove(&piece);
        self.vouchered.insert(piece);
        self.release_held(piece);
    }

    fn release_held(&mut self, piece: u32) {
        let (ready, rest): (Vec<BlockRef>, Vec<BlockRef>) =
            self.held.drain(..).partition(|b| b.piece == piece);
        self.held = rest;
        for block in ready {
            self.outbox.push_back(Message::Request(block));
        }
    }

    fn on_request(&mut self, block: BlockRef, picker: Option<&Picker>) -> Result<(), SessionError> {
        let n = self
            .piece_count
            .ok_or(SessionError::NoSuchPiece(block.piece))?;
        if block.piece >= n {
            return Err(SessionError::NoSuchPiece(block.piece));
        }
        let reason = if self.am_choking {
            Some(RejectReason::Choked)
        } else if !picker.is_some_and(|p| p.have().get(block.piece)) {
            Some(RejectReason::NotHave)
        } else if self.to_serve.len() >= self.config.max_queued {
            Some(RejectReason::Overloaded)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.outbox.push_back(Message::Reject { block, reason });
            return Ok(());
        }
        if let Some(paid) = &self.paid {
            if !self.accepted.contains(&block.piece) {
                if self.checking.contains(&block.piece)
                    && self.parked.len() < self.config.max_queued
                {
                    self.parked.push(block);
                } else {
                    let amount = paid.terms.piece_price_of(block.piece).map_or(0, |a| a.0);
                    self.outbox.push_back(Message::Reject {
                        block,
                        reason: RejectReason::PaymentRequired { amount },
                    });
                    self.choke_for_payment();
                }
                return Ok(());
            }
        }
        self.to_serve.push_back(block);
        self.events.push_back(Event::Serve(block));
        Ok(())
    }

    /// Sends a served block, unless the peer cancelled it meanwhile.
    pub fn send_block(&mut self, block: BlockRef, data: Vec<u8>) {
        if let Some(pos) = self.to_serve.iter().position(|b| *b == block) {
            self.to_serve.remove(pos);
            self.outbox.push_back(Message::Block {
                piece: block.piece,
                offset: block.offset,
                data,
            });
        }
    }

    /// Refuses a request the driver will not serve (unpaid, verifier down, read error).
    pub fn reject(&mut self, block: BlockRef, reason: RejectReason) {
        if let Some(pos) = self.to_serve.iter().position(|b| *b == block) {
            self.to_serve.remove(pos);
            self.outbox.push_back(Message::Reject { block, reason });
        }
    }

    /// We completed a piece: tell the peer, and stop wanting what we no longer need.
    pub fn we_have(&mut self, piece: u32, picker: &mut Picker) {
        self.outbox.push_back(Message::Have(piece));
        self.update_interest(picker);
    }

    /// Cancels a request in flight (another peer delivered it in the endgame).
    pub fn cancel(&mut self, block: &BlockRef) {
        if let Some(pos) = self.outstanding.iter().position(|b| b == block) {
            self.outstanding.swap_remove(pos);
            self.outbox.push_back(Message::Cancel(*block));
        }
    }

    /// Queues a message the driver composed (metadata answers).
    pub fn send(&mut self, msg: Message) {
        self.outbox.push_back(msg);
    }

    /// Sends Interested / NotInterested when our interest changes.
    pub fn update_interest(&mut self, picker: &Picker) {
        let want = picker.wants_any(&self.peer_has);
        if want != self.am_interested {
            self.am_interested = want;
            self.outbox.push_back(if want {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
    }

    /// Tops up our requests to the pipeline depth, if the peer lets us ask.
    pub fn fill_requests(&mut self, picker: &mut Picker) {
        if self.peer_choking || !self.am_interested {
            return;
        }
        let room = self
            .config
            .max_outstanding
            .saturating_sub(self.outstanding.len());
        if room == 0 || room < self.refill_room {
            return;
        }
        for block in picker.pick(self.peer, &self.peer_has, room) {
            self.outstanding.push(block);
            if self.paid.is_some() && !self.vouchered.contains(&block.piece) {
                self.held.push(block);
                if self.voucher_asked.insert(block.piece) {
                    self.events.push_back(Event::VoucherNeeded(block.piece));
                }
                continue;
            }
            self.outbox.push_back(Message::Request(block));
        }
    }

    /// The connection closed: release our requests and the peer's availability.
    pub fn close(&mut self, picker: &mut Picker) {
        if self.added_to_picker {
            picker.remove_peer(self.peer, &self.peer_has);
        } else {
            for b in &self.outstanding {
                picker.release(self.peer, b);
            }
        }
        self.outstanding.clear();
        self.to_serve.clear();
        self.held.clear();
        self.parked.clear();
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.outbox.pop_front()
    }

    /// The next piece of work for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// The key `bytes` encode: one of `known` (the session's two parties, whose keys every
/// voucher and attestation on it carries) without decoding it again, or else decoded.
fn known_key(bytes: &[u8], known: &[PublicKey]) -> Result<PublicKey, crate::keys::KeyError> {
    known
        .iter()
        .find(|k| k.to_bytes() == bytes)
        .copied()
        .map_or_else(|| PublicKey::from_bytes(bytes), Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pieces::PieceLayout;

    const IH: InfoHash = InfoHash([1; 20]);

    fn pair() -> (Session, Picker, Session, Picker) {
        let layout = PieceLayout::new(32 * 1024, 4 * 32 * 1024).unwrap();
        let seed_have = Bitfield::full(4);
        let leech_have = Bitfield::new(4);
        let seeder = Session::new(1, IH, 100, Some(&seed_have), SessionConfig::default());
        let leecher = Session::new(2, IH, 100, Some(&leech_have), SessionConfig::default());
        (
            seeder,
            Picker::new(layout, 16 * 1024, seed_have, 1),
            leecher,
            Picker::new(layout, 16 * 1024, leech_have, 2),
        )
    }

    /// Delivers everything each side has queued, serving every Serve event with zeros,
    /// until both are quiet. Returns the events the leecher saw.
    fn pump(a: &mut Session, pa: &mut Picker, b: &mut Session, pb: &mut Picker) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let mut moved = false;
            while let Some(m) = a.poll_transmit() {
                b.handle(m, Some(pb)).unwrap();
                moved = true;
            }
            while let Some(m) = b.poll_transmit() {
                a.handle(m, Some(pa)).unwrap();
                moved = true;
            }
            moved |= serve_with_zeros(a);
            let events = take_leecher_events(b, pb);
            moved |= !events.is_empty();
            seen.extend(events);
            if !moved {
                return seen;
            }
        }
    }

    /// Serves every block the seeder cleared, with zeros; true if it served any.
    fn serve_with_zeros(seeder: &mut Session) -> bool {
        let mut served = false;
        while let Some(e) = seeder.poll_event() {
            if let Event::Serve(block) = e {
                seeder.send_block(block, vec![0; block.length as usize]);
                served = true;
            }
        }
        served
    }

    /// Takes the leecher's events, marking each completed piece verified and had.
    fn take_leecher_events(leecher: &mut Session, picker: &mut Picker) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(e) = leecher.poll_event() {
            if let Event::Block {
                block,
                complete: true,
                ..
            } = &e
            {
                picker.piece_verified(block.piece);
                leecher.we_have(block.piece, picker);
            }
            events.push(e);
        }
        events
    }

    #[test]
    fn leecher_gets_every_piece_from_a_seeder() {
        let (mut s, mut ps, mut l, mut pl) = pair();
        let events = pump(&mut s, &mut ps, &mut l, &mut pl);
        assert!(pl.is_complete());
        let blocks = events
            .iter()
            .filter(|e| matches!(e, Event::Block { .. }))
            .count();
        assert_eq!(blocks, 8);
    }

    #[test]
    fn a_stepped_pipeline_tops_up_only_once_enough_requests_came_back() {
        let (mut s, mut ps, mut l, mut pl) = pair();
        l.set_pipeline(4, 2);
        let (mut in_flight, mut most, mut run) = (0usize, 0usize, 0usize);
        let mut refills = Vec::new();
        loop {
            let mut moved = false;
            while let Some(m) = l.poll_transmit() {
                if matches!(m, Message::Request(_)) {
                    in_flight += 1;
                    run += 1;
                    most = most.max(in_flight);
                }
                s.handle(m, Some(&mut ps)).unwrap();
                moved = true;
            }
            if run > 0 {
                refills.push(run);
                run = 0;
            }
            // The seeder's messages arrive one at a time.
            if let Some(m) = s.poll_transmit() {
                if matches!(m, Message::Block { .. }) {
                    in_flight -= 1;
                }
                l.handle(m, Some(&mut pl)).unwrap();
                moved = true;
            }
            moved |= serve_with_zeros(&mut s);
            take_leecher_events(&mut l, &mut pl);
            if !moved {
                break;
            }
        }
        assert!(pl.is_complete());
        assert_eq!(most, 4, "never more than the depth in flight");
        // Eight blocks: four at once, then two each time two have come back.
        assert_eq!(refills, vec![4, 2, 2]);
    }

    #[test]
    fn messages_before_hello_and_foreign_torrents_are_violations() {
        let (_, _, mut l, mut pl) = pair();
        assert_eq!(
            l.handle(Message::Interested, Some(&mut pl)),
            Err(SessionError::NoHello)
        );
        let (_, _, mut l, mut pl) = pair();
        let other = InfoHash([9; 20]);
        assert_eq!(
            l.handle(
                Message::Hello {
                    info_hash: other,
                    metadata_len: 0
                },
                Some(&mut pl)
            ),
            Err(SessionError::WrongTorrent(other))
        );
    }

    #[test]
    fn requests_while_choked_or_for_missing_pieces_are_rejected() {
        let (mut s, mut ps, _, _) = pair();
        s.handle(
            Message::Hello {
                info_hash: IH,
                metadata_len: 0,
            },
            Some(&mut ps),
        )
        .unwrap();
        while s.poll_transmit().is_some() {}
        let block = BlockRef {
            piece: 0,
            offset: 0,
            length: 16384,
        };
        s.handle(Message::Request(block), Some(&mut ps)).unwrap();
        assert_eq!(
            s.poll_transmit(),
            Some(Message::Reject {
                block,
                reason: RejectReason::Choked
            })
        );
        assert_eq!(
            s.handle(
                Message::Request(BlockRef { piece: 9, ..block }),
                Some(&mut ps)
            ),
            Err(SessionError::NoSuchPiece(9))
        );
        assert_eq!(
            s.handle(Message::Bitfield(vec![0xff, 0xff]), Some(&mut ps)),
            Err(SessionError::BadBitfield)
        );
    }

    /// `payer`'s voucher to `payee` for `piece` of [`IH`] at 100, with `seq` = piece.
    fn voucher_bytes(
        payer: &ed25519_dalek::SigningKey,
        payee: &ed25519_dalek::SigningKey,
        piece: u32,
    ) -> Vec<u8> {
        crate::voucher::Voucher {
            info_hash: IH,
            payer: payer.verifying_key().into(),
            payee: payee.verifying_key().into(),
            piece,
            amount: crate::amount::Amount(100),
            seq: u64::from(piece),
            expires: 60,
        }
        .sign(payer)
        .to_bytes()
        .to_vec()
    }

    fn paid_pair(payer_pays: bool) -> (usize, usize) {
        use crate::amount::{Amount, Bps};
        use ed25519_dalek::SigningKey;
        let (mut s, mut ps, mut l, mut pl) = pair();
        let seeder_key = SigningKey::from_bytes(&[1; 32]);
        let leecher_key = SigningKey::from_bytes(&[2; 32]);
        let terms = Terms {
            price: Amount(400),
            piece_count: 4,
            creator_share: Bps::new(8000).unwrap(),
            creator: seeder_key.verifying_key().into(),
        };
        s.set_paid(Paid {
            terms: terms.clone(),
            me: seeder_key.verifying_key().into(),
            peer: leecher_key.verifying_key().into(),
        });
        l.set_paid(Paid {
            terms,
            me: leecher_key.verifying_key().into(),
            peer: seeder_key.verifying_key().into(),
        });
        let (mut blocks, mut refusals) = (0, 0);
        for _ in 0..50 {
            let mut moved = false;
            while let Some(m) = s.poll_transmit() {
                l.handle(m, Some(&mut pl)).unwrap();
                moved = true;
            }
            while let Some(m) = l.poll_transmit() {
                s.handle(m, Some(&mut ps)).unwrap();
                moved = true;
            }
            while let Some(e) = s.poll_event() {
                moved = true;
                match e {
                    Event::Serve(b) => s.send_block(b, vec![0; b.length as usize]),
                    // The verifier: accepts every well-formed voucher (balance is ample).
                    Event::SpendVoucher { piece, .. } => s.voucher_accepted(piece),
                    _ => {}
                }
            }
            while let Some(e) = l.poll_event() {
                moved = true;
                match e {
                    Event::VoucherNeeded(piece) if payer_pays => {
                        l.send_voucher(piece, voucher_bytes(&leecher_key, &seeder_key, piece));
                    }
                    Event::VoucherNeeded(piece) => l.send_unpaid(piece),
                    Event::Block {
                        block, complete, ..
                    } => {
                        blocks += 1;
                        if complete {
                            pl.piece_verified(block.piece);
                            l.we_have(block.piece, &mut pl);
                        }
                    }
                    Event::Rejected { .. } => refusals += 1,
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
        (blocks, refusals)
    }

    #[test]
    fn paying_leecher_gets_every_block_after_its_vouchers() {
        assert_eq!(paid_pair(true), (8, 0));
    }

    #[test]
    fn free_rider_gets_no_block_of_a_paid_torrent() {
        let (blocks, refusals) = paid_pair(false);
        assert_eq!(blocks, 0);
        assert!(refusals > 0);
    }

    /// A seeding session of an 8-piece torrent at 100 a piece, past its hello, queueing
    /// at most `max_queued` requests; and the leecher's voucher for a piece.
    fn paid_seeder(max_queued: usize) -> (Session, impl Fn(u32) -> Message) {
        use crate::amount::{Amount, Bps};
        use ed25519_dalek::SigningKey;
        let (seeder_key, leecher_key) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let have = Bitfield::full(8);
        let config = SessionConfig {
            max_outstanding: 4,
            max_queued,
        };
        let mut s = Session::new(1, IH, 100, Some(&have), config);
        s.set_paid(Paid {
            terms: Terms {
                price: Amount(800),
                piece_count: 8,
                creator_share: Bps::new(8000).unwrap(),
                creator: seeder_key.verifying_key().into(),
            },
            me: seeder_key.verifying_key().into(),
            peer: leecher_key.verifying_key().into(),
        });
        s.handle(
            Message::Hello {
                info_hash: IH,
                metadata_len: 0,
            },
            None,
        )
        .unwrap();
        let voucher = move |piece: u32| Message::Voucher {
            piece,
            voucher: voucher_bytes(&leecher_key, &seeder_key, piece),
        };
        (s, voucher)
    }

    #[test]
    fn a_payment_choke_holds_and_only_checked_vouchers_unlock_pieces() {
        let (mut s, voucher) = paid_seeder(16);
        let mut picker = Picker::new(
            PieceLayout::new(16 * 1024, 8 * 16 * 1024).unwrap(),
            16 * 1024,
            Bitfield::full(8),
            1,
        );
        let block = |piece: u32| BlockRef {
            piece,
            offset: 0,
            length: 16384,
        };
        s.handle(Message::Interested, Some(&mut picker)).unwrap();
        while s.poll_transmit().is_some() {}
        // Unpaid: rejected and choked; saying Interested again does not unchoke.
        s.handle(Message::Request(block(0)), Some(&mut picker))
            .unwrap();
        s.handle(Message::NotInterested, Some(&mut picker)).unwrap();
        s.handle(Message::Interested, Some(&mut picker)).unwrap();
        let sent: Vec<Message> = std::iter::from_fn(|| s.poll_transmit()).collect();
        assert!(sent.contains(&Message::Choke), "{sent:?}");
        assert!(!sent.contains(&Message::Unchoke), "{sent:?}");
        // A driver's acceptance for a piece no voucher came for unlocks nothing.
        s.voucher_accepted(1);
        s.retry_after_payment_choke();
        s.handle(Message::Request(block(1)), Some(&mut picker))
            .unwrap();
        // A voucher for piece 2, a request parked on it, then cancelled: not served.
        s.handle(voucher(2), Some(&mut picker)).unwrap();
        s.handle(Message::Request(block(2)), Some(&mut picker))
            .unwrap();
        s.handle(Message::Cancel(block(2)), Some(&mut picker))
            .unwrap();
        s.voucher_accepted(2);
        let served: Vec<Event> = std::iter::from_fn(|| s.poll_event())
            .filter(|e| matches!(e, Event::Serve(_)))
            .collect();
        assert_eq!(served, []);
        // Piece 2 is paid now: a new request for it is served.
        s.handle(Message::Request(block(2)), Some(&mut picker))
            .unwrap();
        assert_eq!(s.poll_event(), Some(Event::Serve(block(2))));
    }

    #[test]
    fn vouchers_waiting_for_the_verifier_are_bounded_and_repeats_are_dropped() {
        let (mut s, voucher) = paid_seeder(3);
        let mut spends = 0;
        for piece in [0, 1, 0, 2, 2] {
            s.handle(voucher(piece), None).unwrap();
        }
        while let Some(e) = s.poll_event() {
            spends += usize::from(matches!(e, Event::SpendVoucher { .. }));
        }
        assert_eq!(spends, 3, "one spend a piece, repeats dropped");
        assert_eq!(
            s.handle(voucher(3), None),
            Err(SessionError::BadVoucher(
                "too many vouchers waiting for the verifier at once".into()
            ))
        );
        // Once the verifier answers, there is room again.
        s.voucher_accepted(0);
        s.handle(voucher(3), None).unwrap();
        s.handle(voucher(0), None).unwrap();
        let spent: Vec<u32> = std::iter::from_fn(|| s.poll_event())
            .filter_map(|e| match e {
                Event::SpendVoucher { piece, .. } => Some(piece),
                _ => None,
            })
            .collect();
        assert_eq!(spent, [3]);
    }

    #[test]
    fn a_connection_is_idle_only_while_nobody_wants_anything() {
        let (mut s, mut ps, mut l, mut pl) = pair();
        let hello = Message::Hello {
            info_hash: IH,
            metadata_len: 0,
        };
        s.handle(hello.clone(), Some(&mut ps)).unwrap();
        assert!(s.is_idle(), "a seeder nobody asked");
        // The leecher learns the seeder has everything: it wants, so it is not idle.
        l.handle(hello, Some(&mut pl)).unwrap();
        l.handle(
            Message::Bitfield(Bitfield::full(4).to_wire()),
            Some(&mut pl),
        )
        .unwrap();
        assert!(!l.is_idle());
        // The seeder hears it is wanted: not idle either.
        s.handle(Message::Interested, Some(&mut ps)).unwrap();
        assert!(!s.is_idle());
        s.handle(Message::NotInterested, Some(&mut ps)).unwrap();
        assert!(s.is_idle());
    }

    #[test]
    fn cancelled_requests_are_not_served() {
        let (mut s, mut ps, _, _) = pair();
        s.handle(
            Message::Hello {
                info_hash: IH,
                metadata_len: 0,
            },
            Some(&mut ps),
        )
        .unwrap();
        s.handle(Message::Interested, Some(&mut ps)).unwrap();
        while s.poll_transmit().is_some() {}
        let block = BlockRef {
            piece: 1,
            offset: 0,
            length: 16384,
        };
        s.handle(Message::Request(block), Some(&mut ps)).unwrap();
        s.handle(Message::Cancel(block), Some(&mut ps)).unwrap();
        s.send_block(block, vec![0; 16384]);
        assert_eq!(s.poll_transmit(), None);
    }
}
