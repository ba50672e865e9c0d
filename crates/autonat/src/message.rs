//! The AutoNAT v1 messages, typed: [`DialRequest`] and [`DialResponse`], their wire
//! form (`uvarint(len) || protobuf Message`) and every way a peer's bytes can be wrong.

use prost::Message as _;
use rhizome_core::framing::{self, FramingError};
use rhizome_core::{Multiaddr, PeerId};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use crate::proto;
use crate::proto::message::{MessageType, ResponseStatus as ProtoStatus};

/// The largest message we read (4 KiB, go-libp2p's limit; the spec states none).
pub const MAX_MESSAGE_SIZE: usize = 4096;
/// The largest message we send: rust-libp2p reads at most 1 KiB, so a DIAL drops
/// addresses from its end until it fits.
pub const MAX_SEND_SIZE: usize = 1024;
/// Longest `statusText` we send or keep (longer ones are cut).
pub const MAX_STATUS_TEXT: usize = 128;

/// A message that cannot be what the protocol says it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Reading the length-prefixed frame failed (too long, bad varint, truncated, I/O).
    #[error("autonat message framing")]
    Framing(#[from] FramingError),
    /// The frame is not a valid protobuf `Message`.
    #[error("invalid autonat protobuf")]
    Decode(#[from] prost::DecodeError),
    /// The message has another type than the one expected here.
    #[error("expected a {expected} message, got type {got:?}")]
    WrongType {
        /// What we expected.
        expected: &'static str,
        /// The raw type field.
        got: Option<i32>,
    },
    /// A field the message needs is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// The peer id bytes are not a peer id.
    #[error("invalid peer id")]
    InvalidPeerId,
    /// The response status is none of the five the spec defines.
    #[error("unknown response status {0}")]
    UnknownStatus(i32),
    /// An `OK` response without a valid dialed address.
    #[error("OK response without a valid address")]
    InvalidAddr,
    /// Writing failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// `Message.Dial`: dial me back at these addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    /// The requester (must be the peer on the connection).
    pub peer: PeerId,
    /// Where to dial it (undecodable addresses are skipped when decoding).
    pub addrs: Vec<Multiaddr>,
}

/// `Message.ResponseStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// A dial-back succeeded.
    Ok,
    /// Every dial-back failed.
    DialError,
    /// The server would not dial (limits, no acceptable address).
    DialRefused,
    /// The request was malformed.
    BadRequest,
    /// The server failed.
    InternalError,
}

impl ResponseStatus {
    fn to_proto(self) -> ProtoStatus {
        match self {
            Self::Ok => ProtoStatus::Ok,
            Self::DialError => ProtoStatus::EDialError,
            Self::DialRefused => ProtoStatus::EDialRefused,
            Self::BadRequest => ProtoStatus::EBadRequest,
            Self::InternalError => ProtoStatus::EInternalError,
        }
    }

    fn from_proto(raw: i32) -> Result<Self, WireError> {
        Ok(match ProtoStatus::try_from(raw).map_err(|_| WireError::UnknownStatus(raw))? {
            ProtoStatus::Ok => Self::Ok,
            ProtoStatus::EDialError => Self::DialError,
            ProtoStatus::EDialRefused => Self::DialRefused,
            ProtoStatus::EBadRequest => Self::BadRequest,
            ProtoStatus::EInternalError => Self::InternalError,
        })
    }

    /// The spec's name (`OK`, `E_DIAL_ERROR`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::DialError => "E_DIAL_ERROR",
            Self::DialRefused => "E_DIAL_REFUSED",
            Self::BadRequest => "E_BAD_REQUEST",
            Self::InternalError => "E_INTERNAL_ERROR",
        }
    }
}

/// `Message.DialResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialResponse {
    /// The outcome.
    pub status: ResponseStatus,
    /// A human-readable reason (at most [`MAX_STATUS_TEXT`] bytes kept).
    pub text: Option<String>,
    /// The address dialed successfully (present, and valid, when `status` is `Ok`).
    pub addr: Option<Multiaddr>,
}

impl DialResponse {
    /// A success at `addr`.
    pub fn ok(addr: Multiaddr) -> Self {
        Self { status: ResponseStatus::Ok, text: None, addr: Some(addr) }
    }

    /// A failure with a reason.
    pub fn error(status: ResponseStatus, text: impl Into<String>) -> Self {
        Self { status, text: Some(cut(text.into())), addr: None }
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_STATUS_TEXT {
        let mut end = MAX_STATUS_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn check_type(msg: &proto::Message, expected: MessageType) -> Result<(), WireError> {
    if msg.r#type != Some(expected as i32) {
        let name = if expected == MessageType::Dial { "DIAL" } else { "DIAL_RESPONSE" };
        return Err(WireError::WrongType { expected: name, got: msg.r#type });
    }
    Ok(())
}

impl DialRequest {
    /// The protobuf message, with addresses dropped from the end until it encodes
    /// to at most [`MAX_SEND_SIZE`] bytes.
    pub fn to_message(&self) -> proto::Message {
        let mut addrs: Vec<Vec<u8>> = self.addrs.iter().map(|a| a.to_vec()).collect();
        loop {
            let msg = proto::Message {
                r#type: Some(MessageType::Dial as i32),
                dial: Some(proto::message::Dial {
                    peer: Some(proto::message::PeerInfo { id: Some(self.peer.to_bytes()), addrs: addrs.clone() }),
                }),
                dial_response: None,
            };
            if msg.encoded_len() <= MAX_SEND_SIZE || addrs.pop().is_none() {
                return msg;
            }
        }
    }

    /// Encodes (protobuf, no length prefix).
    pub fn encode(&self) -> Vec<u8> {
        self.to_message().encode_to_vec()
    }

    /// Decodes one protobuf `Message` (no length prefix) that must be a DIAL.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::from_message(proto::Message::decode(bytes)?)
    }

    /// From a decoded message.
    pub fn from_message(msg: proto::Message) -> Result<Self, WireError> {
        check_type(&msg, MessageType::Dial)?;
        let info = msg.dial.ok_or(WireError::Missing("dial"))?.peer.ok_or(WireError::Missing("dial.peer"))?;
        let id = info.id.ok_or(WireError::Missing("dial.peer.id"))?;
        let peer = PeerId::from_bytes(&id).map_err(|_| WireError::InvalidPeerId)?;
        let addrs = info.addrs.into_iter().filter_map(|b| Multiaddr::try_from(b).ok()).collect();
        Ok(Self { peer, addrs })
    }
}

impl DialResponse {
    /// The protobuf message.
    pub fn to_message(&self) -> proto::Message {
        proto::Message {
            r#type: Some(MessageType::DialResponse as i32),
            dial: None,
            dial_response: Some(proto::message::DialResponse {
                status: Some(self.status.to_proto() as i32),
                status_text: self.text.clone().map(cut),
                addr: self.addr.as_ref().map(|a| a.to_vec()),
            }),
        }
    }

    /// Encodes (protobuf, no length prefix).
    pub fn encode(&self) -> Vec<u8> {
        self.to_message().encode_to_vec()
    }

    /// Decodes one protobuf `Message` (no length prefix) that must be a DIAL_RESPONSE.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Self::from_message(proto::Message::decode(bytes)?)
    }

    /// From a decoded message. An `OK` needs a valid address; on an error status an
    /// address is ignored.
    pub fn from_message(msg: proto::Message) -> Result<Self, WireError> {
        check_type(&msg, MessageType::DialResponse)?;
        let r = msg.dial_response.ok_or(WireError::Missing("dialResponse"))?;
        let status = ResponseStatus::from_proto(r.status.ok_or(WireError::Missing("dialResponse.status"))?)?;
        let addr = match status {
            ResponseStatus::Ok => {
                let bytes = r.addr.ok_or(WireError::InvalidAddr)?;
                Some(Multiaddr::try_from(bytes).map_err(|_| WireError::InvalidAddr)?)
            }
            _ => None,
        };
        Ok(Self { status, text: r.status_text.map(cut), addr })
    }
}

/// Reads one length-prefixed protobuf `Message` of at most `max` bytes.
pub(crate) async fn read_message<R: AsyncRead + Unpin + ?Sized>(io: &mut R, max: usize) -> Result<proto::Message, WireError> {
    let bytes = framing::read_length_prefixed(io, max).await?;
    Ok(proto::Message::decode(bytes.as_slice())?)
}

/// Writes one length-prefixed message, then half-closes (rust-libp2p's
/// request-response closes its side after each message too).
pub(crate) async fn write_message<W: AsyncWrite + Unpin + ?Sized>(io: &mut W, msg: &proto::Message) -> Result<(), WireError> {
    framing::write_length_prefixed(io, &msg.encode_to_vec()).await?;
    io.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_core::KeypairExt as _;

    fn peer() -> PeerId {
        rhizome_core::Keypair::from_seed([7; 32]).peer_id()
    }

    #[test]
    fn request_round_trip_and_fit() {
        let req = DialRequest { peer: peer(), addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()] };
        assert_eq!(DialRequest::decode(&req.encode()).unwrap(), req);
        let many = DialRequest {
            peer: peer(),
            addrs: (0..200u16).map(|p| format!("/ip6/2001:db8::{p:x}/tcp/{}", 1000 + p).parse().unwrap()).collect(),
        };
        let bytes = many.encode();
        assert!(bytes.len() <= MAX_SEND_SIZE);
        let back = DialRequest::decode(&bytes).unwrap();
        assert!(!back.addrs.is_empty() && back.addrs.len() < 200);
        assert_eq!(back.addrs[..], many.addrs[..back.addrs.len()], "addresses are dropped from the end");
    }

    #[test]
    fn response_round_trip() {
        let ok = DialResponse::ok("/ip4/1.2.3.4/tcp/1".parse().unwrap());
        assert_eq!(DialResponse::decode(&ok.encode()).unwrap(), ok);
        let refused = DialResponse::error(ResponseStatus::DialRefused, "x".repeat(1000));
        let back = DialResponse::decode(&refused.encode()).unwrap();
        assert_eq!(back.status, ResponseStatus::DialRefused);
        assert_eq!(back.text.unwrap().len(), MAX_STATUS_TEXT);
        assert_eq!(ResponseStatus::DialError.as_str(), "E_DIAL_ERROR");
    }

    /// The proto2 encoding spelled out field by field:
    /// type=DIAL, dial{peer{id, addrs=[/ip4/127.0.0.1/tcp/4001]}}.
    #[test]
    fn known_bytes() {
        let req = DialRequest { peer: peer(), addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()] };
        let id = peer().to_bytes();
        let addr = [0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1];
        let mut info = vec![0x0a, id.len() as u8];
        info.extend_from_slice(&id);
        info.extend_from_slice(&[0x12, addr.len() as u8]);
        info.extend_from_slice(&addr);
        let mut dial = vec![0x0a, info.len() as u8];
        dial.extend_from_slice(&info);
        let mut want = vec![0x08, 0x00, 0x12, dial.len() as u8];
        want.extend_from_slice(&dial);
        assert_eq!(req.encode(), want);
        // OK response: type=DIAL_RESPONSE, dialResponse{status=OK, addr}.
        let ok = DialResponse::ok("/ip4/127.0.0.1/tcp/4001".parse().unwrap());
        let mut inner = vec![0x08, 0x00, 0x1a, addr.len() as u8];
        inner.extend_from_slice(&addr);
        let mut want = vec![0x08, 0x01, 0x1a, inner.len() as u8];
        want.extend_from_slice(&inner);
        assert_eq!(ok.encode(), want);
    }

    /// The vectors listed in `specs/autonat.md` (length prefix included).
    #[test]
    fn spec_vectors() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let framed = |m: Vec<u8>| {
            let mut out = Vec::new();
            framing::encode_length_prefixed(&m, &mut out);
            hex(&out)
        };
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let vectors = [
            framed(DialRequest { peer: peer(), addrs: vec![addr.clone()] }.encode()),
            framed(DialResponse::ok(addr).encode()),
            framed(DialResponse::error(ResponseStatus::DialRefused, "too many requests").encode()),
        ];
        let spec = include_str!("../../../specs/autonat.md");
        for v in vectors {
            assert!(spec.contains(&v), "specs/autonat.md should list {v}");
        }
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert!(matches!(DialRequest::decode(&[0xff, 0xff, 0xff]), Err(WireError::Decode(_))));
        let resp = DialResponse::ok("/ip4/1.2.3.4/tcp/1".parse().unwrap()).encode();
        assert!(matches!(DialRequest::decode(&resp), Err(WireError::WrongType { expected: "DIAL", got: Some(1) })));
        let no_peer = proto::Message { r#type: Some(0), dial: Some(Default::default()), dial_response: None };
        assert!(matches!(DialRequest::decode(&no_peer.encode_to_vec()), Err(WireError::Missing("dial.peer"))));
        let bad_id = proto::Message {
            r#type: Some(0),
            dial: Some(proto::message::Dial { peer: Some(proto::message::PeerInfo { id: Some(vec![1, 2, 3]), addrs: vec![] }) }),
            dial_response: None,
        };
        assert!(matches!(DialRequest::decode(&bad_id.encode_to_vec()), Err(WireError::InvalidPeerId)));
        let unknown = proto::Message {
            r#type: Some(1),
            dial: None,
            dial_response: Some(proto::message::DialResponse { status: Some(7), status_text: None, addr: None }),
        };
        assert!(matches!(DialResponse::decode(&unknown.encode_to_vec()), Err(WireError::UnknownStatus(7))));
        let ok_no_addr = proto::Message {
            r#type: Some(1),
            dial: None,
            dial_response: Some(proto::message::DialResponse { status: Some(0), status_text: None, addr: Some(vec![0xff; 4]) }),
        };
        assert!(matches!(DialResponse::decode(&ok_no_addr.encode_to_vec()), Err(WireError::InvalidAddr)));
        // Undecodable addresses are skipped, not fatal.
        let mixed = proto::Message {
            r#type: Some(0),
            dial: Some(proto::message::Dial {
                peer: Some(proto::message::PeerInfo {
                    id: Some(peer().to_bytes()),
                    addrs: vec![vec![0xff; 8], "/ip4/1.2.3.4/tcp/5".parse::<Multiaddr>().unwrap().to_vec()],
                }),
            }),
            dial_response: None,
        };
        assert_eq!(DialRequest::decode(&mixed.encode_to_vec()).unwrap().addrs.len(), 1);
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_reading() {
        let mut frame = Vec::new();
        framing::encode_length_prefixed(&vec![0u8; MAX_MESSAGE_SIZE + 1], &mut frame);
        let err = read_message(&mut frame.as_slice(), MAX_MESSAGE_SIZE).await.unwrap_err();
        assert!(matches!(err, WireError::Framing(FramingError::TooLong { .. })));
    }
}
