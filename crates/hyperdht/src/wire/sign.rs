//! Announce and unannounce signatures (`annSignable` in `hyperdht/lib/persistent.js`).
//!
//! The signed message is 64 bytes: the namespace, then
//! `BLAKE2b-256(target || nodeId || token || encode(peer) || refresh-or-empty)`, where
//! `nodeId` is the *storing* node's id and `token` the write token it gave the announcer.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ed25519_dalek::{Signature, VerifyingKey};
use rhizome_secret_stream::Keypair;

use super::ns::{NS_ANNOUNCE, NS_UNANNOUNCE};
use super::records::PeerRecord;
use crate::message::Id;

/// The 64 bytes an announce (`namespace` = [`NS_ANNOUNCE`]) or unannounce
/// ([`NS_UNANNOUNCE`]) signature covers.
pub fn signable(namespace: &[u8; 32], target: &Id, node_id: &Id, token: &Id, peer: &PeerRecord, refresh: Option<&[u8; 32]>) -> [u8; 64] {
    let mut h = Blake2b::<U32>::new();
    h.update(target);
    h.update(node_id);
    h.update(token);
    h.update(peer.encode());
    if let Some(r) = refresh {
        h.update(r);
    }
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(namespace);
    out[32..].copy_from_slice(&h.finalize());
    out
}

/// Signs an ANNOUNCE of `peer` on `target` for the storing node `node_id` and its `token`.
pub fn sign_announce(keypair: &Keypair, target: &Id, node_id: &Id, token: &Id, peer: &PeerRecord) -> [u8; 64] {
    keypair.sign(&signable(&NS_ANNOUNCE, target, node_id, token, peer, None))
}

/// Signs an UNANNOUNCE (Node sends the peer record with no relays).
pub fn sign_unannounce(keypair: &Keypair, target: &Id, node_id: &Id, token: &Id, peer: &PeerRecord) -> [u8; 64] {
    keypair.sign(&signable(&NS_UNANNOUNCE, target, node_id, token, peer, None))
}

/// Checks a signature over [`signable`] with `peer.public_key` (strict Ed25519, as
/// libsodium's `crypto_sign_verify_detached`: small-order keys and non-canonical `s` fail).
pub fn verify(
    namespace: &[u8; 32],
    target: &Id,
    node_id: &Id,
    token: &Id,
    peer: &PeerRecord,
    refresh: Option<&[u8; 32]>,
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&peer.public_key) else { return false };
    let msg = signable(namespace, target, node_id, token, peer, refresh);
    key.verify_strict(&msg, &Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::records::tests::{pk_a, unhex};
    use proptest::prelude::*;
    use std::net::SocketAddrV4;

    fn id(s: &str) -> Id {
        unhex(s).try_into().unwrap()
    }

    #[test]
    fn captured_announce_signature() {
        // §8.3
        let target = id("01149e876b93a7b83e8c335cd5bed26fb21be8cc70313dc4f5d0b69dc9375b59");
        let node = id("ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c");
        let token = id("20704c7796f24bca789def2738c169f91bddb45b85a50ca5c286389fb5cf9296");
        let local = |p| SocketAddrV4::new([127, 0, 0, 1].into(), p);
        let peer = PeerRecord { public_key: pk_a(), relay_addresses: vec![local(49738), local(49739)] };
        let msg = signable(&NS_ANNOUNCE, &target, &node, &token, &peer, None);
        assert_eq!(msg[32..], unhex("1790ca3692b5fc50d8be2decd9d9e24495b7a3ff38143553baf16ce17e24ad74")[..]);
        let kp = Keypair::from_seed(&[0xaa; 32]);
        assert_eq!(kp.public_key(), pk_a());
        let sig = sign_announce(&kp, &target, &node, &token, &peer);
        assert_eq!(
            sig[..],
            unhex(
                "c04c8a55cb1fd6d135c98c7ed6d99a930b0f5e4d7facbfdafd0ce1e4d31b107508210f6f972da31222e9cd190748918698ebc01661de371912e930f3875ee607"
            )[..]
        );
        assert!(verify(&NS_ANNOUNCE, &target, &node, &token, &peer, None, &sig));
        assert!(!verify(&NS_UNANNOUNCE, &target, &node, &token, &peer, None, &sig), "namespaces separate");
        assert!(!verify(&NS_ANNOUNCE, &target, &token, &token, &peer, None, &sig), "bound to the node id");
        let unsig = sign_unannounce(&kp, &target, &node, &token, &peer);
        assert!(verify(&NS_UNANNOUNCE, &target, &node, &token, &peer, None, &unsig));
    }

    proptest! {
        #[test]
        fn verify_never_panics(pk in any::<[u8; 32]>(), sig in proptest::collection::vec(any::<u8>(), 64), t in any::<[u8; 32]>()) {
            let peer = PeerRecord { public_key: pk, relay_addresses: vec![] };
            let sig: [u8; 64] = sig.try_into().unwrap();
            prop_assert!(!verify(&NS_ANNOUNCE, &t, &t, &t, &peer, None, &sig));
        }
    }
}
