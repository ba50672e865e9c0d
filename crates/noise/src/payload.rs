//! The libp2p Noise handshake payload: identity key plus a signature binding it to
//! the Noise static key. The key may be of any libp2p type (Ed25519, secp256k1, ECDSA,
//! RSA); libp2p-identity decodes it and checks the signature.

use prost::Message as _;
use rhizome_identity::{Keypair, PeerId, PublicKey};

use crate::Error;

/// The prefix of the signed message: `"noise-libp2p-static-key:" || static_pub`.
pub const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";

/// `message NoiseExtensions { repeated bytes webtransport_certhashes = 1; repeated string stream_muxers = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NoiseExtensions {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub(crate) webtransport_certhashes: Vec<Vec<u8>>,
    #[prost(string, repeated, tag = "2")]
    pub(crate) stream_muxers: Vec<String>,
}

/// `message NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2; NoiseExtensions extensions = 4; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NoiseHandshakePayload {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub(crate) identity_key: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub(crate) identity_sig: Option<Vec<u8>>,
    #[prost(message, optional, tag = "4")]
    pub(crate) extensions: Option<NoiseExtensions>,
}

fn signed_message(static_pub: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(STATIC_KEY_DOMAIN.len() + static_pub.len());
    msg.extend_from_slice(STATIC_KEY_DOMAIN);
    msg.extend_from_slice(static_pub);
    msg
}

/// Our payload: identity key and the signature over our static key. No extensions:
/// we do not advertise inlined muxer negotiation, so every peer negotiates the muxer
/// with multistream-select.
pub(crate) fn encode(identity: &Keypair, static_pub: &[u8]) -> Result<Vec<u8>, Error> {
    let signature = identity.sign(&signed_message(static_pub)).map_err(Error::Sign)?;
    let payload =
        NoiseHandshakePayload { identity_key: Some(identity.public().encode_protobuf()), identity_sig: Some(signature), extensions: None };
    Ok(payload.encode_to_vec())
}

/// Decodes a remote handshake payload and checks its signature over the remote's
/// static Noise key; returns the remote's peer id. (The handshake does this with
/// messages 2 and 3; public for fuzzing and tools.)
pub fn verify(payload: &[u8], remote_static: &[u8]) -> Result<PeerId, Error> {
    let msg = NoiseHandshakePayload::decode(payload)?;
    let (Some(key), Some(sig)) = (msg.identity_key, msg.identity_sig) else {
        return Err(Error::MissingIdentity);
    };
    let key = PublicKey::try_decode_protobuf(&key)?;
    if !key.verify(&signed_message(remote_static), &sig) {
        return Err(Error::BadSignature);
    }
    Ok(key.to_peer_id())
}

/// Slots of [`Verified`].
const VERIFIED_SLOTS: usize = 256;

/// Remote payloads whose signatures were checked, by SHA-256 of `remote_static ||
/// payload`: a node keeps one Noise static key and one signed payload for all its
/// connections (rust-libp2p does too), so a peer that connects again sends the same
/// bytes, and checking its Ed25519 signature again (~50–65 µs, the largest crypto
/// cost of a handshake after X25519) would give the same answer. Only a byte-identical
/// payload over the same static key hits; anything else is verified as usual.
///
/// Memory: a fixed table of `VERIFIED_SLOTS` entries (digest and peer id), a newer
/// entry replacing an older one in its slot.
pub(crate) struct Verified {
    slots: std::sync::Mutex<Vec<Option<Entry>>>,
}

/// A verified payload's digest and the peer it named.
type Entry = ([u8; 32], PeerId);

impl Default for Verified {
    fn default() -> Self {
        Self { slots: std::sync::Mutex::new(vec![None; VERIFIED_SLOTS]) }
    }
}

impl Verified {
    /// [`verify`], remembering the answer for this exact payload and static key.
    pub(crate) fn verify(&self, payload: &[u8], remote_static: &[u8]) -> Result<PeerId, Error> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&(remote_static.len() as u64).to_be_bytes());
        ctx.update(remote_static);
        ctx.update(payload);
        let digest: [u8; 32] = ctx.finish().as_ref().try_into().map_err(|_| Error::Cipher)?;
        let slot = usize::from(u16::from_le_bytes([digest[0], digest[1]])) % VERIFIED_SLOTS;
        let hit = match self.slots.lock().unwrap_or_else(|e| e.into_inner()).get(slot) {
            Some(Some((d, peer))) if *d == digest => Some(*peer),
            _ => None,
        };
        if let Some(peer) = hit {
            return Ok(peer);
        }
        let peer = verify(payload, remote_static)?;
        if let Some(entry) = self.slots.lock().unwrap_or_else(|e| e.into_inner()).get_mut(slot) {
            *entry = Some((digest, peer));
        }
        Ok(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_identity::KeypairExt as _;

    #[test]
    fn payload_layout_and_size() {
        let kp = Keypair::from_seed([1; 32]);
        let static_pub = [9u8; 32];
        let bytes = encode(&kp, &static_pub).unwrap();
        // 0a 24 <36-byte key> 12 40 <64-byte signature> = 104 bytes.
        assert_eq!(bytes.len(), 104);
        assert_eq!(&bytes[..2], &[0x0a, 0x24]);
        assert_eq!(&bytes[2..38], kp.public().encode_protobuf().as_slice());
        assert_eq!(&bytes[38..40], &[0x12, 0x40]);
        assert_eq!(verify(&bytes, &static_pub).unwrap(), kp.peer_id());
    }

    #[test]
    fn the_cache_answers_only_for_the_same_bytes() {
        let kp = Keypair::from_seed([3; 32]);
        let cache = Verified::default();
        let bytes = encode(&kp, &[9u8; 32]).unwrap();
        assert_eq!(cache.verify(&bytes, &[9u8; 32]).unwrap(), kp.peer_id());
        assert_eq!(cache.verify(&bytes, &[9u8; 32]).unwrap(), kp.peer_id(), "hit");
        // The same payload over another static key, or a changed byte, is checked again.
        assert!(matches!(cache.verify(&bytes, &[8u8; 32]), Err(Error::BadSignature)));
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(cache.verify(&tampered, &[9u8; 32]), Err(Error::BadSignature)));
        assert_eq!(cache.verify(&bytes, &[9u8; 32]).unwrap(), kp.peer_id());
    }

    #[test]
    fn signature_binds_the_static_key() {
        let kp = Keypair::from_seed([1; 32]);
        let bytes = encode(&kp, &[9u8; 32]).unwrap();
        assert!(matches!(verify(&bytes, &[8u8; 32]), Err(Error::BadSignature)));
        let mut tampered = bytes.clone();
        tampered[50] ^= 1;
        assert!(matches!(verify(&tampered, &[9u8; 32]), Err(Error::BadSignature)));
    }

    #[test]
    fn missing_fields_and_garbage() {
        assert!(matches!(verify(&[], &[0; 32]), Err(Error::MissingIdentity)));
        let only_key = NoiseHandshakePayload {
            identity_key: Some(Keypair::from_seed([1; 32]).public().encode_protobuf()),
            identity_sig: None,
            extensions: None,
        }
        .encode_to_vec();
        assert!(matches!(verify(&only_key, &[0; 32]), Err(Error::MissingIdentity)));
        assert!(matches!(verify(&[0xff, 0xff, 0xff], &[0; 32]), Err(Error::InvalidPayload(_))));
    }

    #[test]
    fn extensions_from_go_and_js_are_accepted() {
        // go and js add `extensions { stream_muxers: "/yamux/1.0.0" }`.
        let kp = Keypair::from_seed([2; 32]);
        let mut msg = NoiseHandshakePayload::decode(encode(&kp, &[3; 32]).unwrap().as_slice()).unwrap();
        msg.extensions = Some(NoiseExtensions { webtransport_certhashes: vec![], stream_muxers: vec!["/yamux/1.0.0".into()] });
        let bytes = msg.encode_to_vec();
        assert_eq!(bytes.len(), 104 + 16);
        assert_eq!(verify(&bytes, &[3; 32]).unwrap(), kp.peer_id());
    }

    #[test]
    fn other_key_types_sign_and_verify() {
        // Payload length: 2 + key protobuf + 2 or 3 + signature (DER for the two ECDSA
        // curves, so of varying length; 256 bytes for RSA-2048).
        for kp in crate::tests::other_key_types() {
            let bytes = encode(&kp, &[5; 32]).unwrap();
            assert_eq!(verify(&bytes, &[5; 32]).unwrap(), kp.peer_id(), "{:?}", kp.key_type());
            assert!(matches!(verify(&bytes, &[6; 32]), Err(Error::BadSignature)), "{:?}", kp.key_type());
            let msg = NoiseHandshakePayload::decode(bytes.as_slice()).unwrap();
            assert_eq!(msg.identity_key, Some(kp.public().encode_protobuf()));
        }
    }

    #[test]
    fn signature_from_another_key_type_is_refused() {
        // An Ed25519 key with a secp256k1 signature over the right static key.
        let [secp, ..] = crate::tests::other_key_types();
        let ed = Keypair::from_seed([1; 32]);
        let payload = NoiseHandshakePayload {
            identity_key: Some(ed.public().encode_protobuf()),
            identity_sig: Some(secp.sign(&signed_message(&[5; 32])).unwrap()),
            extensions: None,
        };
        assert!(matches!(verify(&payload.encode_to_vec(), &[5; 32]), Err(Error::BadSignature)));
    }

    proptest::proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = verify(&bytes, &[0; 32]);
        }

        #[test]
        fn payload_round_trip(seed in proptest::array::uniform32(proptest::num::u8::ANY), st in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let kp = Keypair::from_seed(seed);
            proptest::prop_assert_eq!(verify(&encode(&kp, &st).unwrap(), &st).unwrap(), kp.peer_id());
        }
    }
}
