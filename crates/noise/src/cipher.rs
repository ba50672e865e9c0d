//! The transport-phase cipher states: ChaCha20-Poly1305 (ring) sealing and opening
//! frames in place, with the Noise nonce (4 zero bytes, then the 64-bit counter
//! little-endian) and empty associated data.
//!
//! Memory: each direction keeps its raw 32-byte key and makes ring's key object per
//! frame (for ChaCha20-Poly1305 that is a copy of the key, no key schedule). ring's
//! `LessSafeKey` is 544 bytes (sized for AES-GCM's tables): keeping two per
//! connection cost about 1 KiB of every idle connection. The raw keys are wiped on
//! drop.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroize as _;

use crate::{Error, TAG_LEN};

/// One direction of the channel: a key and the next nonce.
pub(crate) struct CipherState {
    key: [u8; 32],
    nonce: u64,
}

impl std::fmt::Debug for CipherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherState").field("nonce", &self.nonce).finish_non_exhaustive()
    }
}

impl Drop for CipherState {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl CipherState {
    fn new(key: &[u8; 32]) -> Result<Self, Error> {
        // Refuse a key ring would not take now rather than at the first frame.
        UnboundKey::new(&CHACHA20_POLY1305, key).map_err(|_| Error::Cipher)?;
        Ok(Self { key: *key, nonce: 0 })
    }

    fn ring_key(&self) -> Result<LessSafeKey, Error> {
        Ok(LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.key).map_err(|_| Error::Cipher)?))
    }

    /// The next nonce; 2^64 − 1 is reserved by the Noise spec, so the channel ends there.
    fn next_nonce(&mut self) -> Result<Nonce, Error> {
        if self.nonce == u64::MAX {
            return Err(Error::NonceExhausted);
        }
        let mut iv = [0u8; 12];
        iv[4..].copy_from_slice(&self.nonce.to_le_bytes());
        self.nonce += 1;
        Ok(Nonce::assume_unique_for_key(iv))
    }

    /// Encrypts `in_out` in place and returns the tag to append.
    pub(crate) fn seal(&mut self, in_out: &mut [u8]) -> Result<[u8; TAG_LEN], Error> {
        let key = self.ring_key()?;
        let nonce = self.next_nonce()?;
        let tag = key.seal_in_place_separate_tag(nonce, Aad::empty(), in_out).map_err(|_| Error::Cipher)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Authenticates and decrypts `in_out` (ciphertext then tag) in place; returns the
    /// plaintext length (the plaintext is `in_out[..len]`).
    pub(crate) fn open(&mut self, in_out: &mut [u8]) -> Result<usize, Error> {
        let key = self.ring_key()?;
        let nonce = self.next_nonce()?;
        key.open_in_place(nonce, Aad::empty(), in_out).map(|p| p.len()).map_err(|_| Error::Decrypt)
    }
}

/// Both directions, split from a finished handshake.
#[derive(Debug)]
pub(crate) struct Transport {
    pub(crate) send: CipherState,
    pub(crate) recv: CipherState,
}

impl Transport {
    /// Splits a finished handshake into the sending and receiving cipher states
    /// (the initiator sends with the first key, the responder with the second).
    pub(crate) fn split(mut hs: snow::HandshakeState) -> Result<Self, Error> {
        if !hs.is_handshake_finished() {
            return Err(Error::Noise(snow::Error::State(snow::error::StateProblem::HandshakeNotFinished)));
        }
        let (i_to_r, r_to_i) = hs.dangerously_get_raw_split();
        let (send, recv) = if hs.is_initiator() { (i_to_r, r_to_i) } else { (r_to_i, i_to_r) };
        Ok(Self { send: CipherState::new(&send)?, recv: CipherState::new(&recv)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an XX handshake in memory; returns (initiator, responder) states.
    fn handshake() -> (snow::HandshakeState, snow::HandshakeState) {
        let params: snow::params::NoiseParams = crate::PROTOCOL_NAME.parse().unwrap();
        let ki = snow::Builder::new(params.clone()).generate_keypair().unwrap();
        let kr = snow::Builder::new(params.clone()).generate_keypair().unwrap();
        let mut i = snow::Builder::new(params.clone()).local_private_key(&ki.private).unwrap().build_initiator().unwrap();
        let mut r = snow::Builder::new(params).local_private_key(&kr.private).unwrap().build_responder().unwrap();
        let (mut m, mut p) = (vec![0u8; 1024], vec![0u8; 1024]);
        for step in 0..3 {
            let (a, b) = if step % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
            let n = a.write_message(&[], &mut m).unwrap();
            b.read_message(&m[..n], &mut p).unwrap();
        }
        (i, r)
    }

    #[test]
    fn agrees_with_snow_both_ways_and_rejects_tampering() {
        let (i, r) = handshake();
        let mut ours = Transport::split(i).unwrap();
        let mut snow = r.into_transport_mode().unwrap();
        for len in [0usize, 1, 100, 65519] {
            let plain: Vec<u8> = (0..len).map(|x| x as u8).collect();
            // Ours seals, snow opens.
            let mut frame = plain.clone();
            let tag = ours.send.seal(&mut frame).unwrap();
            frame.extend_from_slice(&tag);
            let mut out = vec![0u8; frame.len()];
            let n = snow.read_message(&frame, &mut out).unwrap();
            assert_eq!(&out[..n], &plain[..]);
            // Snow seals, ours opens.
            let mut frame = vec![0u8; len + TAG_LEN];
            let n = snow.write_message(&plain, &mut frame).unwrap();
            assert_eq!(n, len + TAG_LEN);
            let n = ours.recv.open(&mut frame).unwrap();
            assert_eq!(&frame[..n], &plain[..]);
        }
        let mut frame = b"hello".to_vec();
        let tag = ours.send.seal(&mut frame).unwrap();
        frame.extend_from_slice(&tag);
        frame[2] ^= 1;
        let mut out = vec![0u8; frame.len()];
        assert!(snow.read_message(&frame, &mut out).is_err());
        // A replayed or reordered frame fails too (the nonce moved on).
        let mut frame = vec![0u8; 5 + TAG_LEN];
        snow.write_message(b"hello", &mut frame).unwrap();
        let mut copy = frame.clone();
        ours.recv.open(&mut frame).unwrap();
        assert!(matches!(ours.recv.open(&mut copy), Err(Error::Decrypt)));
    }

    #[test]
    fn unfinished_handshake_is_refused() {
        let params: snow::params::NoiseParams = crate::PROTOCOL_NAME.parse().unwrap();
        let k = snow::Builder::new(params.clone()).generate_keypair().unwrap();
        let hs = snow::Builder::new(params).local_private_key(&k.private).unwrap().build_initiator().unwrap();
        assert!(Transport::split(hs).is_err());
    }

    #[test]
    fn cipher_state_is_small() {
        // Two per connection; ring's key object alone is over 500 bytes.
        assert!(std::mem::size_of::<CipherState>() <= 48, "{}", std::mem::size_of::<CipherState>());
    }

    #[test]
    fn nonce_exhaustion_ends_the_channel() {
        let mut c = CipherState::new(&[1; 32]).unwrap();
        c.nonce = u64::MAX - 1;
        assert!(c.seal(&mut [0u8; 4]).is_ok());
        assert!(matches!(c.seal(&mut [0u8; 4]), Err(Error::NonceExhausted)));
    }
}
