//! Hash-based helpers shared by the Noise state machine and the stream: libsodium's
//! `crypto_generichash` (BLAKE2b, plain and keyed), HMAC-BLAKE2b-512 and the two-output
//! HKDF that noise-handshake uses, and hypercore-crypto's namespaces.
//!
//! Every primitive comes from a RustCrypto crate (`blake2`, `hmac`); this file only
//! composes them the way the JavaScript implementation does.

use blake2::digest::consts::{U32, U64};
use blake2::digest::generic_array::GenericArray;
use blake2::digest::{FixedOutput, KeyInit, Mac, Update};
use blake2::{Blake2b, Blake2b512, Blake2bMac};
use hmac::SimpleHmac;

/// BLAKE2b output length used by the Noise hash (`HASHLEN`).
pub(crate) const HASHLEN: usize = 64;
/// BLAKE2b block length, the HMAC block size.
const BLOCKLEN: usize = 128;

/// `crypto_generichash(out32, concat(parts))`: unkeyed BLAKE2b with a 32-byte output.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn blake2b_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::default();
    for p in parts {
        Update::update(&mut h, p);
    }
    h.finalize_fixed().into()
}

/// `crypto_generichash(out32, concat(parts), key64)`: BLAKE2b-256 keyed with a 64-byte key
/// (the handshake hash), as secret-stream derives its stream ids.
pub(crate) fn blake2b_256_keyed(key: &[u8; 64], parts: &[&[u8]]) -> [u8; 32] {
    let key: &GenericArray<u8, U64> = key.into();
    let mut h = <Blake2bMac<U32> as KeyInit>::new(key);
    for p in parts {
        Mac::update(&mut h, p);
    }
    h.finalize().into_bytes().into()
}

/// `crypto_generichash(out64, concat(parts))`: unkeyed BLAKE2b-512 (Noise `HASH`).
pub(crate) fn blake2b_512(parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Blake2b512::default();
    for p in parts {
        Update::update(&mut h, p);
    }
    h.finalize_fixed().into()
}

/// HMAC-BLAKE2b-512 with a 64-byte key over `concat(parts)`.
///
/// The key is zero-padded to the 128-byte block, which is what HMAC does with any key
/// shorter than a block; doing it here keeps the constructor infallible.
pub(crate) fn hmac_blake2b(key: &[u8; HASHLEN], parts: &[&[u8]]) -> [u8; HASHLEN] {
    let mut block = [0u8; BLOCKLEN];
    block[..HASHLEN].copy_from_slice(key);
    let block: &GenericArray<u8, _> = (&block).into();
    let mut mac = <SimpleHmac<Blake2b512> as KeyInit>::new(block);
    for p in parts {
        Mac::update(&mut mac, p);
    }
    mac.finalize().into_bytes().into()
}

/// noise-handshake's `hkdf(salt = ck, ikm)` with two 64-byte outputs:
/// `temp = HMAC(ck, ikm)`, `o1 = HMAC(temp, 0x01)`, `o2 = HMAC(temp, o1 || 0x02)`.
pub(crate) fn hkdf2(chaining_key: &[u8; HASHLEN], ikm: &[u8]) -> ([u8; HASHLEN], [u8; HASHLEN]) {
    let temp = hmac_blake2b(chaining_key, &[ikm]);
    let o1 = hmac_blake2b(&temp, &[&[1u8]]);
    let o2 = hmac_blake2b(&temp, &[&o1, &[2u8]]);
    (o1, o2)
}

/// hypercore-crypto `namespace(name, ids)`: `BLAKE2b-256(BLAKE2b-256(name) || id)`.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn namespace(name: &[u8], id: u8) -> [u8; 32] {
    let base = blake2b_256(&[name]);
    blake2b_256(&[&base, &[id]])
}

/// `NS_INITIATOR` = `namespace("hyperswarm/secret-stream")[0]`.
pub const NS_INITIATOR: [u8; 32] = hex32("a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7");
/// `NS_RESPONDER` = `namespace("hyperswarm/secret-stream")[1]`.
pub const NS_RESPONDER: [u8; 32] = hex32("742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061");
/// `NS_SEND` = `namespace("hyperswarm/secret-stream")[2]` (keys of unordered UDX messages).
pub const NS_SEND: [u8; 32] = hex32("aab97d097471f56651b0460ffc8aaa7d3342f7377597d60b925a1dac689adcbf");
/// hyperdht's `NS.PEER_HANDSHAKE` = `namespace("hyperswarm/dht")[0]`: the Noise IK prologue
/// on the DHT path.
pub const NS_PEER_HANDSHAKE: [u8; 32] = hex32("14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a");

/// The stream id a side announces in its header frame:
/// `BLAKE2b-256_{handshake_hash}(NS_INITIATOR or NS_RESPONDER)`.
pub fn stream_id(handshake_hash: &[u8; 64], is_initiator: bool) -> [u8; 32] {
    let ns = if is_initiator { &NS_INITIATOR } else { &NS_RESPONDER };
    blake2b_256_keyed(handshake_hash, &[ns])
}

/// Compile-time hex decoding of a 64-digit constant (panics at compile time on bad input).
const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64, "hex32 wants 64 digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    #[test]
    fn namespaces_match_hypercore_crypto() {
        assert_eq!(namespace(b"hyperswarm/secret-stream", 0), NS_INITIATOR);
        assert_eq!(namespace(b"hyperswarm/secret-stream", 1), NS_RESPONDER);
        assert_eq!(namespace(b"hyperswarm/secret-stream", 2), NS_SEND);
        assert_eq!(namespace(b"hyperswarm/dht", 0), NS_PEER_HANDSHAKE);
        assert_eq!(HEXLOWER.encode(&blake2b_256(&[b"hyperswarm/dht"])), "d70d90f7efc42f93e1ad5837e682a6010cf551013c2d2d043f40d8fbe07dcb90");
    }

    #[test]
    fn stream_ids_match_capture() {
        // Handshake hash and ids from the loopback capture in hyperswarm-wire.md (vec1.js).
        let hh = HEXLOWER
            .decode(b"7152884c6f272ecad6a7d51854e47e884d674476d74ffad92885791155d642911252bb9130086a0b253a013adab41d8bb35db90f18e32d3e7dec9597651c137e")
            .unwrap();
        let hh: [u8; 64] = hh.try_into().unwrap();
        // The initiator's header frame in the capture (B2A) starts with its stream id.
        assert_eq!(HEXLOWER.encode(&stream_id(&hh, true)), "4333f90dc05dc2f3bc139b8c6575a2b8e1a8d565e78cbe18eb4e884e968d79fa");
        assert_eq!(HEXLOWER.encode(&stream_id(&hh, false)), "c9e079dabe6dfb22cd9683efae4d7707be30da214c14ed2e2c6ef2c094288f3c");
    }
}
