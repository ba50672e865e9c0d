//! dht-rpc 6.27 messages: one UDP datagram is one request (byte 0 `0x03`) or one
//! response (byte 0 `0x13`). Layout as in `dht-rpc/lib/io.js` (`_encodeRequest`,
//! `_sendReply`, `Request.decode`, `decodeReply`).
//!
//! Like dht-rpc we ignore bytes after a complete message. A datagram is at most
//! [`MAX_MESSAGE_LEN`] bytes; a `value` can only be as long as the datagram that carries it.

use std::net::SocketAddrV4;

use crate::compact::{DecodeError, Decoder, Encoder};

/// Byte 0 of a request: type 0, version 3.
pub const REQUEST_ID: u8 = 0x03;
/// Byte 0 of a response: type 1, version 3.
pub const RESPONSE_ID: u8 = 0x13;
/// Largest datagram we decode (the UDP maximum; libudx reads into 2048 bytes in practice).
pub const MAX_MESSAGE_LEN: usize = 65_507;

/// Internal (dht-rpc) command ids, valid when [`Request::internal`] is set.
pub mod command {
    /// Liveness check; empty request and reply.
    pub const PING: u64 = 0;
    /// Reply to the sender's host at the port in the value (uint16 LE).
    pub const PING_NAT: u64 = 1;
    /// Reply with the nodes closest to the target.
    pub const FIND_NODE: u64 = 2;
    /// Value is an ipv4Address of a node that timed out.
    pub const DOWN_HINT: u64 = 3;
    /// Value is a uint32 LE delay in ms (at most 10 000).
    pub const DELAYED_PING: u64 = 4;
}

/// dht-rpc error codes carried in a response.
pub mod error_code {
    /// The command is unknown to the responder.
    pub const UNKNOWN_COMMAND: u64 = 1;
    /// The request's token did not verify.
    pub const INVALID_TOKEN: u64 = 2;
}

/// A 32-byte node id, token or target.
pub type Id = [u8; 32];

/// Why a datagram is not a dht-rpc message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Shorter than 2 bytes (dht-rpc ignores those; hyperdht treats them as holepunch probes).
    #[error("datagram too short for dht-rpc")]
    TooShort,
    /// Longer than [`MAX_MESSAGE_LEN`].
    #[error("datagram of {0} bytes exceeds the maximum")]
    TooLong(usize),
    /// Byte 0 was neither `0x03` nor `0x13`.
    #[error("unknown type/version byte {0:#04x}")]
    UnknownType(u8),
    /// A field did not decode.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
}

/// A dht-rpc request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Transaction id, echoed by the response.
    pub tid: u16,
    /// The address the request is sent to (as the sender sees the receiver).
    pub to: SocketAddrV4,
    /// The sender's node id (persistent senders only).
    pub id: Option<Id>,
    /// A write token earlier received from the receiver.
    pub token: Option<Id>,
    /// Whether `command` is a dht-rpc internal command.
    pub internal: bool,
    /// The command id.
    pub command: u64,
    /// The lookup target.
    pub target: Option<Id>,
    /// The command's payload.
    pub value: Option<Vec<u8>>,
}

/// A dht-rpc response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The request's transaction id.
    pub tid: u16,
    /// The requester's address as the responder saw it.
    pub to: SocketAddrV4,
    /// The responder's node id (persistent responders only).
    pub id: Option<Id>,
    /// A write token for the requester.
    pub token: Option<Id>,
    /// Nodes closer to the request's target (empty = absent on the wire).
    pub closer_nodes: Vec<SocketAddrV4>,
    /// Error code; 0 = ok (absent on the wire).
    pub error: u64,
    /// The reply payload.
    pub value: Option<Vec<u8>>,
}

/// A decoded datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Byte 0 `0x03`.
    Request(Request),
    /// Byte 0 `0x13`.
    Response(Response),
}

impl Request {
    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u8::from(self.id.is_some())
            | u8::from(self.token.is_some()) << 1
            | u8::from(self.internal) << 2
            | u8::from(self.target.is_some()) << 3
            | u8::from(self.value.is_some()) << 4;
        let mut e = Encoder::new();
        e.uint8(REQUEST_ID).uint8(flags).uint16(self.tid).ipv4_address(self.to);
        if let Some(id) = &self.id {
            e.fixed(id);
        }
        if let Some(t) = &self.token {
            e.fixed(t);
        }
        e.uint(self.command);
        if let Some(t) = &self.target {
            e.fixed(t);
        }
        if let Some(v) = &self.value {
            e.buffer(v);
        }
        e.finish()
    }

    fn decode_body(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let tid = d.uint16()?;
        let to = d.ipv4_address()?;
        let id = if flags & 1 != 0 { Some(d.fixed32()?) } else { None };
        let token = if flags & 2 != 0 { Some(d.fixed32()?) } else { None };
        let internal = flags & 4 != 0;
        let command = d.uint()?;
        let target = if flags & 8 != 0 { Some(d.fixed32()?) } else { None };
        let value = if flags & 16 != 0 { Some(d.buffer()?.to_vec()) } else { None };
        Ok(Self { tid, to, id, token, internal, command, target, value })
    }
}

impl Response {
    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u8::from(self.id.is_some())
            | u8::from(self.token.is_some()) << 1
            | u8::from(!self.closer_nodes.is_empty()) << 2
            | u8::from(self.error > 0) << 3
            | u8::from(self.value.is_some()) << 4;
        let mut e = Encoder::new();
        e.uint8(RESPONSE_ID).uint8(flags).uint16(self.tid).ipv4_address(self.to);
        if let Some(id) = &self.id {
            e.fixed(id);
        }
        if let Some(t) = &self.token {
            e.fixed(t);
        }
        if !self.closer_nodes.is_empty() {
            e.ipv4_array(&self.closer_nodes);
        }
        if self.error > 0 {
            e.uint(self.error);
        }
        if let Some(v) = &self.value {
            e.buffer(v);
        }
        e.finish()
    }

    fn decode_body(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let tid = d.uint16()?;
        let to = d.ipv4_address()?;
        let id = if flags & 1 != 0 { Some(d.fixed32()?) } else { None };
        let token = if flags & 2 != 0 { Some(d.fixed32()?) } else { None };
        let closer_nodes = if flags & 4 != 0 { d.ipv4_array()? } else { Vec::new() };
        let error = if flags & 8 != 0 { d.uint()? } else { 0 };
        let value = if flags & 16 != 0 { Some(d.buffer()?.to_vec()) } else { None };
        Ok(Self { tid, to, id, token, closer_nodes, error, value })
    }
}

impl Message {
    /// Decodes one datagram. Trailing bytes are ignored, as dht-rpc does.
    pub fn decode(datagram: &[u8]) -> Result<Self, MessageError> {
        if datagram.len() < 2 {
            return Err(MessageError::TooShort);
        }
        if datagram.len() > MAX_MESSAGE_LEN {
            return Err(MessageError::TooLong(datagram.len()));
        }
        let mut d = Decoder::new(&datagram[1..]);
        match datagram[0] {
            REQUEST_ID => Ok(Message::Request(Request::decode_body(&mut d)?)),
            RESPONSE_ID => Ok(Message::Response(Response::decode_body(&mut d)?)),
            other => Err(MessageError::UnknownType(other)),
        }
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddrV4::new(ip.into(), p))
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        (
            any::<u16>(),
            arb_addr(),
            proptest::option::of(any::<Id>()),
            proptest::option::of(any::<Id>()),
            any::<bool>(),
            any::<u64>(),
            proptest::option::of(any::<Id>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        )
            .prop_map(|(tid, to, id, token, internal, command, target, value)| Request {
                tid,
                to,
                id,
                token,
                internal,
                command,
                target,
                value,
            })
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        (
            any::<u16>(),
            arb_addr(),
            proptest::option::of(any::<Id>()),
            proptest::option::of(any::<Id>()),
            proptest::collection::vec(arb_addr(), 0..20),
            any::<u64>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        )
            .prop_map(|(tid, to, id, token, closer_nodes, error, value)| Response {
                tid,
                to,
                id,
                token,
                closer_nodes,
                error,
                value,
            })
    }

    proptest! {
        #[test]
        fn request_round_trip(r in arb_request()) {
            let bytes = r.encode();
            prop_assert_eq!(Message::decode(&bytes).unwrap(), Message::Request(r));
        }

        #[test]
        fn response_round_trip(r in arb_response()) {
            let bytes = r.encode();
            prop_assert_eq!(Message::decode(&bytes).unwrap(), Message::Response(r));
        }

        #[test]
        fn truncated_request_is_an_error(r in arb_request(), cut in any::<prop::sample::Index>()) {
            let bytes = r.encode();
            let cut = cut.index(bytes.len());
            prop_assert!(Message::decode(&bytes[..cut]).is_err());
        }

        #[test]
        fn truncated_response_is_an_error(r in arb_response(), cut in any::<prop::sample::Index>()) {
            let bytes = r.encode();
            let cut = cut.index(bytes.len());
            prop_assert!(Message::decode(&bytes[..cut]).is_err());
        }

        #[test]
        fn garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..400), kind in any::<bool>()) {
            if !bytes.is_empty() {
                bytes[0] = if kind { REQUEST_ID } else { RESPONSE_ID };
            }
            let _ = Message::decode(&bytes);
        }
    }
}
