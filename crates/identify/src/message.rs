//! The identify message and its conversion to [`Info`].

use prost::Message as _;
use rhizome_core::Multiaddr;
use rhizome_identity::{PeerId, PublicKey};

use crate::Error;

/// `message Identify` (proto2; every field optional or repeated).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Identify {
    #[prost(string, optional, tag = "5")]
    pub(crate) protocol_version: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub(crate) agent_version: Option<String>,
    #[prost(bytes = "vec", optional, tag = "1")]
    pub(crate) public_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub(crate) listen_addrs: Vec<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub(crate) observed_addr: Option<Vec<u8>>,
    #[prost(string, repeated, tag = "3")]
    pub(crate) protocols: Vec<String>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub(crate) signed_peer_record: Option<Vec<u8>>,
}

impl Identify {
    /// Merges a later message into this one (go and js may split identify over
    /// several messages): repeated fields append, optional fields are replaced.
    pub(crate) fn merge_from(&mut self, later: Identify) {
        macro_rules! replace {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        replace!(protocol_version, agent_version, public_key, observed_addr, signed_peer_record);
        self.listen_addrs.extend(later.listen_addrs);
        self.protocols.extend(later.protocols);
    }
}

/// What a peer told us about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Its identity key (checked against the connection's peer id).
    pub public_key: PublicKey,
    /// Its protocol version (e.g. `ipfs/0.1.0`).
    pub protocol_version: String,
    /// Its agent (e.g. `rust-libp2p/0.57`).
    pub agent_version: String,
    /// The addresses it listens on (undecodable ones are skipped).
    pub listen_addrs: Vec<Multiaddr>,
    /// The protocols it accepts inbound.
    pub protocols: Vec<String>,
    /// Our address as it sees it.
    pub observed_addr: Option<Multiaddr>,
}

impl Info {
    /// The peer id of [`Info::public_key`].
    pub fn peer_id(&self) -> PeerId {
        self.public_key.to_peer_id()
    }

    pub(crate) fn to_message(&self) -> Identify {
        Identify {
            protocol_version: Some(self.protocol_version.clone()),
            agent_version: Some(self.agent_version.clone()),
            public_key: Some(self.public_key.encode_protobuf()),
            listen_addrs: self.listen_addrs.iter().map(|a| a.to_vec()).collect(),
            observed_addr: self.observed_addr.as_ref().map(|a| a.to_vec()),
            protocols: self.protocols.clone(),
            signed_peer_record: None,
        }
    }

    /// Encodes as the identify protobuf (without length prefix).
    pub fn encode(&self) -> Vec<u8> {
        self.to_message().encode_to_vec()
    }

    /// Builds `Info` from a (merged) message received from `expected`.
    /// Decodes one identify message (protobuf, without its length prefix) from
    /// `expected`, checking that its public key is that peer's.
    pub fn decode(bytes: &[u8], expected: PeerId) -> Result<Self, Error> {
        Self::from_message(Identify::decode(bytes)?, expected)
    }

    pub(crate) fn from_message(msg: Identify, expected: PeerId) -> Result<Self, Error> {
        let key = msg.public_key.ok_or(Error::MissingPublicKey)?;
        let public_key = PublicKey::try_decode_protobuf(&key).map_err(Error::InvalidPublicKey)?;
        if public_key.to_peer_id() != expected {
            return Err(Error::WrongPeer { expected, actual: public_key.to_peer_id() });
        }
        Ok(Self {
            public_key,
            protocol_version: msg.protocol_version.unwrap_or_default(),
            agent_version: msg.agent_version.unwrap_or_default(),
            listen_addrs: msg.listen_addrs.into_iter().filter_map(|b| Multiaddr::try_from(b).ok()).collect(),
            protocols: msg.protocols,
            observed_addr: msg.observed_addr.and_then(|b| Multiaddr::try_from(b).ok()),
        })
    }

    /// Applies a push: fields present in the push replace ours.
    pub(crate) fn apply_push(&mut self, push: Identify) {
        if let Some(v) = push.protocol_version {
            self.protocol_version = v;
        }
        if let Some(v) = push.agent_version {
            self.agent_version = v;
        }
        if !push.listen_addrs.is_empty() {
            self.listen_addrs = push.listen_addrs.into_iter().filter_map(|b| Multiaddr::try_from(b).ok()).collect();
        }
        if !push.protocols.is_empty() {
            self.protocols = push.protocols;
        }
        if let Some(o) = push.observed_addr.and_then(|b| Multiaddr::try_from(b).ok()) {
            self.observed_addr = Some(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_identity::{Keypair, KeypairExt as _};

    fn info() -> Info {
        let kp = Keypair::from_seed([1; 32]);
        Info {
            public_key: kp.public(),
            protocol_version: "ipfs/0.1.0".into(),
            agent_version: "rhizome/0.1.0".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().unwrap()],
            protocols: vec!["/ipfs/id/1.0.0".into(), "/ipfs/ping/1.0.0".into()],
            observed_addr: Some("/ip4/127.0.0.1/tcp/5555".parse().unwrap()),
        }
    }

    #[test]
    fn wire_vector() {
        let bytes = info().encode();
        let hex = data_encoding::HEXLOWER.encode(&bytes);
        // Fields in tag order: 1 publicKey, 2 listenAddrs, 3 protocols, 4 observedAddr,
        // 5 protocolVersion, 6 agentVersion.
        assert_eq!(
            hex,
            "0a2408011220".to_owned()
                + "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
                + "1208047f000001060fa1"
                + "1a0e2f697066732f69642f312e302e30"
                + "1a102f697066732f70696e672f312e302e30"
                + "2208047f00000106"
                + "15b3"
                + "2a0a697066732f302e312e30"
                + "320d7268697a6f6d652f302e312e30"
        );
    }

    #[test]
    fn round_trip_and_peer_check() {
        let i = info();
        let msg = Identify::decode(i.encode().as_slice()).unwrap();
        assert_eq!(Info::from_message(msg.clone(), i.peer_id()).unwrap(), i);
        let other = Keypair::from_seed([2; 32]).peer_id();
        assert!(matches!(Info::from_message(msg, other), Err(Error::WrongPeer { .. })));
        let no_key = Identify { public_key: None, ..i.to_message() };
        assert!(matches!(Info::from_message(no_key, i.peer_id()), Err(Error::MissingPublicKey)));
    }

    #[test]
    fn keys_of_every_type_are_accepted() {
        use rhizome_identity::{ecdsa, rsa, secp256k1};
        let secp = secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([7; 32]).unwrap());
        let ecdsa = ecdsa::Keypair::from(ecdsa::SecretKey::try_from_bytes([8; 32]).unwrap());
        // The committed test RSA key (see interop-tests/fixtures/README.md).
        let mut der = include_bytes!("../../../interop-tests/fixtures/rsa-2048.pk8").to_vec();
        let rsa = rsa::Keypair::try_decode_pkcs8(&mut der).unwrap();
        for kp in [Keypair::from(secp), ecdsa.into(), rsa.into()] {
            let i = Info { public_key: kp.public(), ..info() };
            let msg = Identify::decode(i.encode().as_slice()).unwrap();
            assert_eq!(msg.public_key.as_deref(), Some(kp.public().encode_protobuf().as_slice()));
            let back = Info::from_message(msg.clone(), kp.peer_id()).unwrap();
            assert_eq!(back.peer_id(), kp.peer_id());
            assert_eq!(back, i);
            let ed = Keypair::from_seed([1; 32]).peer_id();
            assert!(matches!(Info::from_message(msg, ed), Err(Error::WrongPeer { .. })), "{:?}", kp.key_type());
        }
    }

    #[test]
    fn our_message_is_cut_to_fit_rust_libp2p() {
        let mut i = info();
        i.protocols = (0..200).map(|n| format!("/some/long/protocol/name/{n}/1.0.0")).collect();
        i.listen_addrs = (0..100).map(|p| format!("/ip4/127.0.0.1/tcp/{p}").parse().unwrap()).collect();
        let mut msg = i.to_message();
        crate::service::fit(&mut msg, crate::MAX_SEND_SIZE);
        assert!(msg.encoded_len() <= crate::MAX_SEND_SIZE);
        assert!(msg.listen_addrs.is_empty(), "addresses go first");
        assert!(!msg.protocols.is_empty() && msg.public_key.is_some());
    }

    #[test]
    fn merge_and_push() {
        let i = info();
        let mut first = Identify { signed_peer_record: None, ..i.to_message() };
        first.merge_from(Identify {
            signed_peer_record: Some(vec![1, 2]),
            listen_addrs: vec![],
            protocols: vec!["/x".into()],
            ..Default::default()
        });
        assert_eq!(first.protocols.len(), 3);
        assert_eq!(first.signed_peer_record, Some(vec![1, 2]));
        let mut stored = i.clone();
        stored.apply_push(Identify { protocols: vec!["/only".into()], ..Default::default() });
        assert_eq!(stored.protocols, vec!["/only".to_owned()]);
        assert_eq!(stored.listen_addrs, i.listen_addrs, "absent fields are unchanged");
    }

    proptest::proptest! {
        #[test]
        fn info_round_trip(
            seed in proptest::array::uniform32(proptest::num::u8::ANY),
            agent in "\\PC{0,40}",
            protocols in proptest::collection::vec("/[a-z0-9/.]{1,30}", 0..8),
            ports in proptest::collection::vec(proptest::num::u16::ANY, 0..4),
            observed in proptest::option::of(proptest::num::u16::ANY),
        ) {
            let kp = Keypair::from_seed(seed);
            let addr = |p: u16| -> Multiaddr { format!("/ip4/127.0.0.1/tcp/{p}").parse().unwrap() };
            let info = Info {
                public_key: kp.public(),
                protocol_version: "ipfs/0.1.0".into(),
                agent_version: agent,
                listen_addrs: ports.into_iter().map(addr).collect(),
                protocols,
                observed_addr: observed.map(addr),
            };
            let msg = Identify::decode(info.encode().as_slice()).unwrap();
            proptest::prop_assert_eq!(Info::from_message(msg, kp.peer_id()).unwrap(), info);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(msg) = Identify::decode(bytes.as_slice()) {
                let _ = Info::from_message(msg, Keypair::from_seed([1; 32]).peer_id());
            }
        }
    }
}
