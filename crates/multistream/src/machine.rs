//! The sans-IO negotiators: feed them received bytes, send what they output.
//!
//! Neither machine does I/O or keeps time. Bytes that follow the final message stay
//! in the caller's input buffer: they belong to the negotiated protocol.

use bytes::BytesMut;
use rhizome_core::ProtocolId;

use crate::error::{NegotiationError, ProtocolError};
use crate::message::{Message, encode_protocol_list};

/// The most protocols a listener lets one dialer propose (bounds the work a remote
/// can cause on one stream).
pub const MAX_PROPOSALS: usize = 64;

/// What the dialer wants after each step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Send the output (if any) and feed more input.
    NeedInput,
    /// Negotiation finished: this protocol was accepted.
    Done(ProtocolId),
}

/// The dialer (initiator) side: proposes protocols in order until one is echoed.
#[derive(Debug)]
pub struct Dialer {
    protocols: Vec<ProtocolId>,
    next: usize,
    header_seen: bool,
    done: Option<ProtocolId>,
    out: Vec<u8>,
}

impl Dialer {
    /// A dialer that proposes `protocols` in order. The header and the first proposal
    /// are queued at once (send them in one write). An empty list fails on the first
    /// [`Dialer::handle`] call.
    pub fn new(protocols: Vec<ProtocolId>) -> Self {
        let mut d = Self { protocols, next: 0, header_seen: false, done: None, out: Vec::with_capacity(64) };
        Message::Header.encode(&mut d.out);
        d.propose_next();
        d
    }

    fn propose_next(&mut self) -> bool {
        match self.protocols.get(self.next) {
            Some(p) => {
                Message::Protocol(p.as_str().to_owned()).encode(&mut self.out);
                self.next += 1;
                true
            }
            None => false,
        }
    }

    /// The protocol currently proposed (the one a lazy dialer assumes).
    pub fn current(&self) -> Option<&ProtocolId> {
        self.next.checked_sub(1).and_then(|i| self.protocols.get(i))
    }

    /// Bytes to send now; empties the queue.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// How many protocols are left to propose after the current one.
    pub fn remaining(&self) -> usize {
        self.protocols.len().saturating_sub(self.next)
    }

    /// Whether output is queued.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Processes as many whole messages from `input` as possible. On
    /// [`Progress::Done`], the bytes left in `input` belong to the chosen protocol.
    pub fn handle(&mut self, input: &mut BytesMut) -> Result<Progress, NegotiationError> {
        if let Some(p) = &self.done {
            return Ok(Progress::Done(p.clone()));
        }
        if self.current().is_none() {
            return Err(NegotiationError::Failed);
        }
        while let Some(msg) = Message::decode(input)? {
            if !self.header_seen {
                if msg != Message::Header {
                    return Err(ProtocolError::UnexpectedMessage.into());
                }
                self.header_seen = true;
                continue;
            }
            match msg {
                Message::Protocol(p) if self.current().is_some_and(|c| c.as_str() == p) => {
                    let chosen = self.current().cloned().ok_or(NegotiationError::Failed)?;
                    self.done = Some(chosen.clone());
                    return Ok(Progress::Done(chosen));
                }
                Message::NotAvailable => {
                    if !self.propose_next() {
                        return Err(NegotiationError::Failed);
                    }
                }
                _ => return Err(ProtocolError::UnexpectedMessage.into()),
            }
        }
        Ok(Progress::NeedInput)
    }
}

/// The set of protocols a listener supports.
pub trait ProtocolSet {
    /// The supported protocol equal to `name`, if any.
    fn find(&self, name: &str) -> Option<ProtocolId>;
    /// All supported protocols (the answer to `ls`).
    fn list(&self) -> Vec<ProtocolId>;
}

impl ProtocolSet for [ProtocolId] {
    fn find(&self, name: &str) -> Option<ProtocolId> {
        self.iter().find(|p| p.as_str() == name).cloned()
    }
    fn list(&self) -> Vec<ProtocolId> {
        self.to_vec()
    }
}

impl ProtocolSet for Vec<ProtocolId> {
    fn find(&self, name: &str) -> Option<ProtocolId> {
        self.as_slice().find(name)
    }
    fn list(&self) -> Vec<ProtocolId> {
        self.clone()
    }
}

/// The listener (responder) side: answers proposals with an echo or `na`, and `ls`
/// with the protocol list.
#[derive(Debug)]
pub struct Listener {
    header_seen: bool,
    proposals: usize,
    done: Option<ProtocolId>,
    out: Vec<u8>,
}

impl Default for Listener {
    fn default() -> Self {
        Self::new()
    }
}

impl Listener {
    /// A listener. Its header is queued when the dialer's header arrives, so that
    /// header and first answer leave in one write when the dialer batched its own.
    pub fn new() -> Self {
        Self { header_seen: false, proposals: 0, done: None, out: Vec::with_capacity(64) }
    }

    /// Bytes to send now; empties the queue.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Processes whole messages from `input`. On [`Progress::Done`], queued output
    /// (the echo) must still be sent, and the bytes left in `input` belong to the
    /// chosen protocol.
    pub fn handle(&mut self, input: &mut BytesMut, supported: &(impl ProtocolSet + ?Sized)) -> Result<Progress, NegotiationError> {
        if let Some(p) = &self.done {
            return Ok(Progress::Done(p.clone()));
        }
        while let Some(msg) = Message::decode(input)? {
            if !self.header_seen {
                if msg != Message::Header {
                    return Err(ProtocolError::UnexpectedMessage.into());
                }
                self.header_seen = true;
                Message::Header.encode(&mut self.out);
                continue;
            }
            match msg {
                Message::Protocol(name) => {
                    self.proposals += 1;
                    if let Some(p) = supported.find(&name) {
                        Message::Protocol(name).encode(&mut self.out);
                        self.done = Some(p.clone());
                        return Ok(Progress::Done(p));
                    }
                    if self.proposals >= MAX_PROPOSALS {
                        return Err(ProtocolError::TooManyProposals.into());
                    }
                    Message::NotAvailable.encode(&mut self.out);
                }
                Message::ListProtocols => {
                    self.proposals += 1;
                    if self.proposals >= MAX_PROPOSALS {
                        return Err(ProtocolError::TooManyProposals.into());
                    }
                    let list = supported.list();
                    encode_protocol_list(list.iter().map(|p| p.as_str()), &mut self.out);
                }
                Message::Header | Message::NotAvailable => {
                    return Err(ProtocolError::UnexpectedMessage.into());
                }
            }
        }
        Ok(Progress::NeedInput)
    }
}

#[cfg(test)]
mod tests;
