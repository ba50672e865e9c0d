//! The few hyperdht value encodings the storing node reads and writes (`lib/messages.js`):
//! `peer`, `announce`, `lookupRawReply`, `handshake`, `holepunch`, and the announce signable
//! (`persistent.js` `annSignable`). Private to the store: trailing bytes are ignored, as
//! compact-encoding's `decode` does.

use std::net::SocketAddrV4;

use crate::compact::{DecodeError, Decoder, Encoder};
use crate::message::Id;
use crate::wire::mutable::hash;

/// Command byte of ANNOUNCE in the namespace derivation.
const NS_ANNOUNCE_CMD: u8 = 4;
/// Command byte of UNANNOUNCE in the namespace derivation.
const NS_UNANNOUNCE_CMD: u8 = 5;

/// Handshake/holepunch modes.
pub(crate) mod mode {
    pub(crate) const FROM_CLIENT: u64 = 0;
    pub(crate) const FROM_SERVER: u64 = 1;
    pub(crate) const FROM_RELAY: u64 = 2;
    pub(crate) const REPLY: u64 = 4;
}

/// `NS[cmd] = BLAKE2b-256(BLAKE2b-256("hyperswarm/dht") || cmd)`.
fn namespace(cmd: u8) -> [u8; 32] {
    let mut b = hash(b"hyperswarm/dht").to_vec();
    b.push(cmd);
    hash(&b)
}

/// A peer record: public key and relay addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) public_key: [u8; 32],
    pub(crate) relay_addresses: Vec<SocketAddrV4>,
}

impl Peer {
    pub(crate) fn encode_into(&self, e: &mut Encoder) {
        e.fixed(&self.public_key).ipv4_array(&self.relay_addresses);
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode_into(&mut e);
        e.finish()
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self { public_key: d.fixed32()?, relay_addresses: d.ipv4_array()? })
    }
}

/// An ANNOUNCE / UNANNOUNCE request value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Announce {
    pub(crate) peer: Option<Peer>,
    pub(crate) refresh: Option<[u8; 32]>,
    pub(crate) signature: Option<[u8; 64]>,
    pub(crate) bump: u64,
}

impl Announce {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let peer = if flags & 1 != 0 { Some(Peer::decode_from(&mut d)?) } else { None };
        let refresh = if flags & 2 != 0 { Some(d.fixed32()?) } else { None };
        let signature = if flags & 4 != 0 { Some(d.fixed64()?) } else { None };
        let bump = if flags & 8 != 0 { d.uint()? } else { 0 };
        Ok(Self { peer, refresh, signature, bump })
    }

    #[cfg(test)]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.peer.is_some())
            | u64::from(self.refresh.is_some()) << 1
            | u64::from(self.signature.is_some()) << 2
            | u64::from(self.bump != 0) << 3;
        let mut e = Encoder::new();
        e.uint(flags);
        if let Some(p) = &self.peer {
            p.encode_into(&mut e);
        }
        if let Some(r) = &self.refresh {
            e.fixed(r);
        }
        if let Some(s) = &self.signature {
            e.fixed(s);
        }
        if self.bump != 0 {
            e.uint(self.bump);
        }
        e.finish()
    }
}

/// What an (un)announce signs: `NS || BLAKE2b-256(target || nodeId || token || peer || refresh)`.
pub(crate) fn announce_signable(
    unannounce: bool,
    target: &Id,
    node_id: &Id,
    token: &Id,
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    let mut inner = Vec::with_capacity(96 + 40 + 6 * peer.relay_addresses.len() + 32);
    inner.extend_from_slice(target);
    inner.extend_from_slice(node_id);
    inner.extend_from_slice(token);
    inner.extend_from_slice(&peer.encode());
    if let Some(r) = refresh {
        inner.extend_from_slice(r);
    }
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&namespace(if unannounce { NS_UNANNOUNCE_CMD } else { NS_ANNOUNCE_CMD }));
    out[32..].copy_from_slice(&hash(&inner));
    out
}

/// `lookupRawReply`: already-encoded peer records, then `bump`.
pub(crate) fn encode_lookup_reply(records: &[&[u8]], bump: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.array_len(records.len());
    for r in records {
        e.fixed(r);
    }
    e.uint(bump);
    e.finish()
}

/// A PEER_HANDSHAKE value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handshake {
    pub(crate) mode: u64,
    pub(crate) noise: Vec<u8>,
    pub(crate) peer_address: Option<SocketAddrV4>,
    pub(crate) relay_address: Option<SocketAddrV4>,
}

impl Handshake {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let mode = d.uint()?;
        let noise = d.buffer()?.to_vec();
        let peer_address = if flags & 1 != 0 { Some(d.ipv4_address()?) } else { None };
        let relay_address = if flags & 2 != 0 { Some(d.ipv4_address()?) } else { None };
        Ok(Self { mode, noise, peer_address, relay_address })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.peer_address.is_some()) | u64::from(self.relay_address.is_some()) << 1;
        let mut e = Encoder::new();
        e.uint(flags).uint(self.mode).buffer(&self.noise);
        if let Some(a) = self.peer_address {
            e.ipv4_address(a);
        }
        if let Some(a) = self.relay_address {
            e.ipv4_address(a);
        }
        e.finish()
    }
}

/// A PEER_HOLEPUNCH value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holepunch {
    pub(crate) mode: u64,
    pub(crate) id: u64,
    pub(crate) payload: Vec<u8>,
    pub(crate) peer_address: Option<SocketAddrV4>,
}

impl Holepunch {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let mode = d.uint()?;
        let id = d.uint()?;
        let payload = d.buffer()?.to_vec();
        let peer_address = if flags & 1 != 0 { Some(d.ipv4_address()?) } else { None };
        Ok(Self { mode, id, payload, peer_address })
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.uint(u64::from(self.peer_address.is_some())).uint(self.mode).uint(self.id).buffer(&self.payload);
        if let Some(a) = self.peer_address {
            e.ipv4_address(a);
        }
        e.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn namespaces_match_the_digest() {
        assert_eq!(namespace(4).to_vec(), unhex("36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497"));
        assert_eq!(namespace(5).to_vec(), unhex("ded293cd93fb395e756ecf5fff426529e72c36eacc22e5ed944d9099a2561e32"));
    }

    /// The captured ANNOUNCE of digest §8.3 (peer A on N1): decodes, and its signature verifies
    /// against the signable we compute.
    #[test]
    fn captured_announce_verifies() {
        let value = unhex(
            "05e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b58027f0000014ac27f0000014bc2c04c8a55cb1fd6d135c98c7ed6d99a930b0f5e4d7facbfdafd0ce1e4d31b107508210f6f972da31222e9cd190748918698ebc01661de371912e930f3875ee607",
        );
        let ann = Announce::decode(&value).unwrap();
        assert_eq!(ann.encode(), value);
        let peer = ann.peer.unwrap();
        let target: Id = unhex("01149e876b93a7b83e8c335cd5bed26fb21be8cc70313dc4f5d0b69dc9375b59").try_into().unwrap();
        let id: Id = unhex("ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c").try_into().unwrap();
        let token: Id = unhex("20704c7796f24bca789def2738c169f91bddb45b85a50ca5c286389fb5cf9296").try_into().unwrap();
        let msg = announce_signable(false, &target, &id, &token, &peer, None);
        assert_eq!(msg[32..].to_vec(), unhex("1790ca3692b5fc50d8be2decd9d9e24495b7a3ff38143553baf16ce17e24ad74"));
        let key = ed25519_dalek::VerifyingKey::from_bytes(&peer.public_key).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&ann.signature.unwrap());
        assert!(key.verify_strict(&msg, &sig).is_ok());
    }

    #[test]
    fn captured_handshakes_round_trip() {
        // Digest §8.4 step 2 (FROM_RELAY with peerAddress) and step 4 (REPLY), shortened noise.
        let hs = Handshake {
            mode: mode::FROM_RELAY,
            noise: vec![1, 2, 3],
            peer_address: Some("127.0.0.1:58738".parse().unwrap()),
            relay_address: None,
        };
        assert_eq!(hs.encode(), unhex("010203010203 7f00000172e5".replace(' ', "").as_str()));
        assert_eq!(Handshake::decode(&hs.encode()).unwrap(), hs);
        let hp = Holepunch { mode: mode::FROM_CLIENT, id: 0, payload: vec![9; 50], peer_address: Some("127.0.0.1:54780".parse().unwrap()) };
        let bytes = hp.encode();
        assert_eq!(&bytes[..4], &unhex("01000032")[..]);
        assert_eq!(Holepunch::decode(&bytes).unwrap(), hp);
    }
}
