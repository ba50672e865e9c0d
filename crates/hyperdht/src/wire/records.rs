//! Peer records and the values of ANNOUNCE/UNANNOUNCE requests and LOOKUP/FIND_PEER replies.

use std::net::SocketAddrV4;

use super::{MAX_LOOKUP_PEERS, MAX_RELAY_ADDRESSES, WireError, array_len, check_len, ipv4_list};
use crate::compact::{Decoder, Encoder};

/// A peer as a storing node keeps it: its public key and the relays it can be reached
/// through (`peer`: `fixed32` then `array(ipv4Address)`). It never holds the peer's own address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerRecord {
    /// The peer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Nodes holding the peer's router entry (Node trims these to 3 when storing).
    pub relay_addresses: Vec<SocketAddrV4>,
}

impl PeerRecord {
    /// Appends the encoding.
    pub fn encode_into(&self, e: &mut Encoder) {
        e.fixed(&self.public_key);
        e.ipv4_array(&self.relay_addresses);
    }

    /// The encoding (also the bytes hashed into announce signatures).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode_into(&mut e);
        e.finish()
    }

    /// Reads one record (at most [`MAX_RELAY_ADDRESSES`] relays).
    pub fn decode_from(d: &mut Decoder<'_>) -> Result<Self, WireError> {
        let public_key = d.fixed32()?;
        let relay_addresses = ipv4_list(d, "relay addresses", MAX_RELAY_ADDRESSES)?;
        Ok(Self { public_key, relay_addresses })
    }

    /// Decodes a FIND_PEER reply value (one record).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        Self::decode_from(&mut Decoder::new(bytes))
    }
}

/// The value of ANNOUNCE and UNANNOUNCE requests (`announce` in messages.js):
/// `flags uint` (1 peer, 2 refresh, 4 signature, 8 bump) then the present fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announce {
    /// The record to store (or remove).
    pub peer: Option<PeerRecord>,
    /// A refresh token (re-arms an earlier announce; Node's announcer never sends it).
    pub refresh: Option<[u8; 32]>,
    /// The Ed25519 signature ([`super::sign`]).
    pub signature: Option<[u8; 64]>,
    /// A bump counter (0 = absent).
    pub bump: u64,
}

impl Announce {
    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.peer.is_some())
            | (u64::from(self.refresh.is_some()) << 1)
            | (u64::from(self.signature.is_some()) << 2)
            | (u64::from(self.bump != 0) << 3);
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

    /// Decodes; unknown flag bits are ignored, as Node does.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let peer = if flags & 1 != 0 { Some(PeerRecord::decode_from(&mut d)?) } else { None };
        let refresh = if flags & 2 != 0 { Some(d.fixed32()?) } else { None };
        let signature = if flags & 4 != 0 { Some(d.fixed64()?) } else { None };
        let bump = if flags & 8 != 0 { d.uint()? } else { 0 };
        Ok(Self { peer, refresh, signature, bump })
    }
}

/// A LOOKUP reply value (`lookupRawReply`): `array(peer)` then `bump uint`, which may be
/// missing at the end of the buffer (then 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupReply {
    /// The records the node holds for the target (Node sends at most 20).
    pub peers: Vec<PeerRecord>,
    /// The topic's bump counter.
    pub bump: u64,
}

impl LookupReply {
    /// The encoding (`bump` is always written, as Node does).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.array_len(self.peers.len());
        for p in &self.peers {
            p.encode_into(&mut e);
        }
        e.uint(self.bump);
        e.finish()
    }

    /// Decodes (at most [`MAX_LOOKUP_PEERS`] records).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let n = array_len(&mut d, "lookup peers", MAX_LOOKUP_PEERS)?;
        // each record is at least 33 bytes: reject before allocating
        if n.saturating_mul(33) > d.remaining() {
            return Err(crate::compact::DecodeError::Truncated { needed: n as u64 * 33, available: d.remaining() }.into());
        }
        let peers = (0..n).map(|_| PeerRecord::decode_from(&mut d)).collect::<Result<Vec<_>, _>>()?;
        let bump = if d.remaining() > 0 { d.uint()? } else { 0 };
        Ok(Self { peers, bump })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    pub(crate) fn pk_a() -> [u8; 32] {
        unhex("e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b58").try_into().unwrap()
    }

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new([127, 0, 0, 1].into(), port)
    }

    #[test]
    fn find_peer_reply_value_vector() {
        // §8.2: A's announce-self record, no relays
        let bytes = unhex("e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b5800");
        let r = PeerRecord::decode(&bytes).unwrap();
        assert_eq!(r, PeerRecord { public_key: pk_a(), relay_addresses: vec![] });
        assert_eq!(r.encode(), bytes);
    }

    #[test]
    fn lookup_reply_vector() {
        // §8.3: one peer (A) with relays :49738 and :49739, bump 0
        let bytes = unhex("01e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b58027f0000014ac27f0000014bc200");
        let r = LookupReply::decode(&bytes).unwrap();
        assert_eq!(r.peers, vec![PeerRecord { public_key: pk_a(), relay_addresses: vec![local(49738), local(49739)] }]);
        assert_eq!(r.bump, 0);
        assert_eq!(r.encode(), bytes);
        // bump may be missing
        assert_eq!(LookupReply::decode(&bytes[..bytes.len() - 1]).unwrap(), r);
    }

    #[test]
    fn announce_vector() {
        // §8.3: flags 05 (peer|signature)
        let bytes = unhex(concat!(
            "05e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b58027f0000014ac27f0000014bc2",
            "c04c8a55cb1fd6d135c98c7ed6d99a930b0f5e4d7facbfdafd0ce1e4d31b107508210f6f972da31222e9cd190748918698ebc01661de371912e930f3875ee607"
        ));
        assert_eq!(bytes.len(), 110);
        let a = Announce::decode(&bytes).unwrap();
        assert_eq!(a.peer.as_ref().unwrap().relay_addresses, vec![local(49738), local(49739)]);
        assert!(a.signature.is_some() && a.refresh.is_none() && a.bump == 0);
        assert_eq!(a.encode(), bytes);
    }

    #[test]
    fn truncation_and_limits_are_typed_errors() {
        let bytes = LookupReply { peers: vec![PeerRecord { public_key: [1; 32], relay_addresses: vec![local(1)] }], bump: 7 }.encode();
        for cut in 0..bytes.len() - 1 {
            assert!(LookupReply::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut e = Encoder::new();
        e.fixed(&[0; 32]).uint(MAX_RELAY_ADDRESSES as u64 + 1);
        assert!(matches!(PeerRecord::decode(&e.finish()), Err(WireError::TooMany { .. })));
        let mut e = Encoder::new();
        e.uint(1000);
        assert!(matches!(LookupReply::decode(&e.finish()), Err(WireError::TooMany { .. })));
        assert!(matches!(Announce::decode(&vec![0; MAX_VALUE_LEN_PLUS]), Err(WireError::TooLarge { .. })));
    }

    const MAX_VALUE_LEN_PLUS: usize = super::super::MAX_VALUE_LEN + 1;

    pub(crate) fn addr() -> impl Strategy<Value = SocketAddrV4> {
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
    }

    fn record() -> impl Strategy<Value = PeerRecord> {
        (any::<[u8; 32]>(), proptest::collection::vec(addr(), 0..5))
            .prop_map(|(public_key, relay_addresses)| PeerRecord { public_key, relay_addresses })
    }

    proptest! {
        #[test]
        fn announce_round_trips(peer in proptest::option::of(record()), refresh in proptest::option::of(any::<[u8; 32]>()),
                                sig in proptest::option::of(proptest::collection::vec(any::<u8>(), 64)), bump in any::<u64>()) {
            let a = Announce { peer, refresh, signature: sig.map(|s| s.try_into().unwrap()), bump };
            prop_assert_eq!(Announce::decode(&a.encode()).unwrap(), a);
        }

        #[test]
        fn lookup_round_trips(peers in proptest::collection::vec(record(), 0..20), bump in any::<u64>()) {
            let r = LookupReply { peers, bump };
            prop_assert_eq!(LookupReply::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Announce::decode(&bytes);
            let _ = LookupReply::decode(&bytes);
            let _ = PeerRecord::decode(&bytes);
        }
    }
}
