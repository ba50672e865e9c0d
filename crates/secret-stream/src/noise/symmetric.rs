//! Noise's CipherState and SymmetricState with BLAKE2b (HASHLEN 64) and
//! ChaCha20-Poly1305, as noise-handshake writes them.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{HASHLEN, blake2b_512, hkdf2};
use crate::error::NoiseError;

/// The AEAD tag length.
pub(crate) const TAGLEN: usize = 16;

/// `k`, `n` and the encrypt/decrypt-with-AD operations. Without a key, encryption is
/// the identity (Noise's rule for messages before the first DH).
struct CipherState {
    key: Option<Zeroizing<[u8; 32]>>,
    nonce: u64,
}

impl CipherState {
    /// Noise nonce: 32 zero bits then the 64-bit little-endian counter. (noise-handshake
    /// writes a 32-bit counter at offset 4; the handshake never passes 2.)
    fn nonce(&self) -> Nonce {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.nonce.to_le_bytes());
        n.into()
    }

    fn encrypt(&mut self, ad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(key) = &self.key else { return Ok(plaintext.to_vec()) };
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let out = cipher.encrypt(&self.nonce(), Payload { msg: plaintext, aad: ad }).map_err(NoiseError::Decrypt)?;
        self.nonce += 1;
        Ok(out)
    }

    fn decrypt(&mut self, ad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let Some(key) = &self.key else { return Ok(ciphertext.to_vec()) };
        if ciphertext.len() < TAGLEN {
            return Err(NoiseError::MessageTooShort { need: TAGLEN, got: ciphertext.len() });
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let out = cipher.decrypt(&self.nonce(), Payload { msg: ciphertext, aad: ad }).map_err(NoiseError::Decrypt)?;
        self.nonce += 1;
        Ok(out)
    }
}

/// `ck`, `h` and the CipherState.
pub(crate) struct SymmetricState {
    ck: [u8; HASHLEN],
    h: [u8; HASHLEN],
    cipher: CipherState,
}

impl SymmetricState {
    /// InitializeSymmetric: `h = name` zero-padded when it fits 64 bytes (else its hash), `ck = h`.
    pub(crate) fn new(protocol_name: &[u8]) -> Self {
        let mut h = [0u8; HASHLEN];
        if protocol_name.len() <= HASHLEN {
            h[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            h = blake2b_512(&[protocol_name]);
        }
        Self { ck: h, h, cipher: CipherState { key: None, nonce: 0 } }
    }

    /// `h = BLAKE2b-512(h || data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = blake2b_512(&[&self.h, data]);
    }

    /// `ck, k = HKDF(ck, ikm)`; `k` is the first 32 bytes of the second output, `n = 0`.
    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, mut temp_k) = hkdf2(&self.ck, ikm);
        self.ck.zeroize();
        self.ck = ck;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&temp_k[..32]);
        temp_k.zeroize();
        self.cipher = CipherState { key: Some(key), nonce: 0 };
    }

    pub(crate) fn has_key(&self) -> bool {
        self.cipher.key.is_some()
    }

    pub(crate) fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let ct = self.cipher.encrypt(&self.h.clone(), plaintext)?;
        self.mix_hash(&ct);
        Ok(ct)
    }

    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let pt = self.cipher.decrypt(&self.h.clone(), ciphertext)?;
        self.mix_hash(ciphertext);
        Ok(pt)
    }

    /// The handshake hash `h`.
    pub(crate) fn hash(&self) -> [u8; HASHLEN] {
        self.h
    }

    /// Split: `HKDF(ck, empty)`, each output truncated to 32 bytes.
    pub(crate) fn split(&self) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
        let (mut o1, mut o2) = hkdf2(&self.ck, &[]);
        let mut k1 = Zeroizing::new([0u8; 32]);
        let mut k2 = Zeroizing::new([0u8; 32]);
        k1.copy_from_slice(&o1[..32]);
        k2.copy_from_slice(&o2[..32]);
        o1.zeroize();
        o2.zeroize();
        (k1, k2)
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.ck.zeroize();
        self.h.zeroize();
    }
}
