//! secret-stream's unordered datagrams (`send` / `trySend` / the `message` event), sans-IO.
//!
//! Each datagram is `counter (8) || crypto_secretbox_easy(plaintext, nonce, key)` where the
//! nonce is the 8 counter bytes followed by 16 zero bytes and the MAC comes first. The
//! counter starts random and is incremented as a little-endian number before each send.
//! Keys: `BLAKE2b-256_{handshake hash}(NS_role || NS_SEND)`, the sender's role. Like Node
//! we do not detect replays: the transport (UDX messages) is unreliable and unordered.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use rand_core_06::{OsRng, RngCore};

use crate::crypto::{NS_INITIATOR, NS_RESPONDER, NS_SEND, blake2b_256_keyed};

/// Counter bytes in front of each datagram.
pub const COUNTER_LEN: usize = 8;
/// secretbox MAC bytes.
pub const MAC_LEN: usize = 16;

/// A datagram failure.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// Shorter than counter + MAC.
    #[error("datagram of {len} bytes is shorter than {min}")]
    TooShort {
        /// Its length.
        len: usize,
        /// The minimum (24).
        min: usize,
    },
    /// The MAC did not verify (Node drops such datagrams silently).
    #[error("datagram failed authentication")]
    BadMac(#[source] crypto_secretbox::Error),
    /// 2^64 datagrams were sent with this key (Node: "udp send nonce exhausted").
    #[error("datagram nonces exhausted")]
    NonceExhausted,
}

/// The two secretbox keys and the send counter of one stream.
pub struct Datagrams {
    send: XSalsa20Poly1305,
    recv: XSalsa20Poly1305,
    counter: u64,
    initial: u64,
}

impl std::fmt::Debug for Datagrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagrams").finish_non_exhaustive()
    }
}

impl Datagrams {
    /// Keys for the side `is_initiator` of the handshake with hash `handshake_hash`.
    pub fn new(handshake_hash: &[u8; 64], is_initiator: bool) -> Self {
        Self::with_counter(handshake_hash, is_initiator, OsRng.next_u64())
    }

    pub(crate) fn with_counter(handshake_hash: &[u8; 64], is_initiator: bool, counter: u64) -> Self {
        let key = |ns: &[u8; 32]| XSalsa20Poly1305::new(Key::from_slice(&blake2b_256_keyed(handshake_hash, &[ns, &NS_SEND])));
        let (ours, theirs) = if is_initiator { (&NS_INITIATOR, &NS_RESPONDER) } else { (&NS_RESPONDER, &NS_INITIATOR) };
        Self { send: key(ours), recv: key(theirs), counter, initial: counter }
    }

    /// Seals one datagram.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, DatagramError> {
        self.counter = self.counter.wrapping_add(1);
        if self.counter == self.initial {
            return Err(DatagramError::NonceExhausted);
        }
        let nonce = nonce(&self.counter.to_le_bytes());
        let boxed = self.send.encrypt(&nonce, plaintext).map_err(DatagramError::BadMac)?;
        let mut out = Vec::with_capacity(COUNTER_LEN + boxed.len());
        out.extend_from_slice(&self.counter.to_le_bytes());
        out.extend_from_slice(&boxed);
        Ok(out)
    }

    /// Opens one received datagram.
    pub fn open(&self, datagram: &[u8]) -> Result<Vec<u8>, DatagramError> {
        let min = COUNTER_LEN + MAC_LEN;
        if datagram.len() < min {
            return Err(DatagramError::TooShort { len: datagram.len(), min });
        }
        let (counter, boxed) = datagram.split_at(COUNTER_LEN);
        self.recv.decrypt(&nonce(counter), boxed).map_err(DatagramError::BadMac)
    }
}

fn nonce(counter: &[u8]) -> Nonce {
    let mut n = [0u8; 24];
    n[..COUNTER_LEN].copy_from_slice(&counter[..COUNTER_LEN]);
    n.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    fn vector() -> (serde_json::Value, [u8; 64]) {
        let v: serde_json::Value = serde_json::from_str(include_str!("../tests/vectors/datagram.json")).unwrap();
        let hash = HEXLOWER.decode(v["handshakeHash"].as_str().unwrap().as_bytes()).unwrap().try_into().unwrap();
        (v, hash)
    }

    #[test]
    fn opens_and_reproduces_node_datagrams() {
        let (v, hash) = vector();
        let envelopes: Vec<Vec<u8>> =
            v["envelopes"].as_array().unwrap().iter().map(|e| HEXLOWER.decode(e.as_str().unwrap().as_bytes()).unwrap()).collect();
        let plaintexts: Vec<Vec<u8>> =
            v["plaintexts"].as_array().unwrap().iter().map(|e| HEXLOWER.decode(e.as_str().unwrap().as_bytes()).unwrap()).collect();
        let responder = Datagrams::new(&hash, false);
        for (e, p) in envelopes.iter().zip(&plaintexts) {
            assert_eq!(&responder.open(e).unwrap(), p);
        }
        // Our initiator, starting one below Node's first counter, seals the same bytes.
        let first = u64::from_le_bytes(envelopes[0][..8].try_into().unwrap());
        let mut ours = Datagrams::with_counter(&hash, true, first.wrapping_sub(1));
        for (e, p) in envelopes.iter().zip(&plaintexts) {
            assert_eq!(&ours.seal(p).unwrap(), e);
        }
    }

    #[test]
    fn rejects_short_tampered_and_own_datagrams() {
        let (_, hash) = vector();
        let mut i = Datagrams::new(&hash, true);
        let r = Datagrams::new(&hash, false);
        let mut d = i.seal(b"x").unwrap();
        assert!(matches!(r.open(&d[..23]), Err(DatagramError::TooShort { len: 23, min: 24 })));
        assert!(matches!(i.open(&d), Err(DatagramError::BadMac(_))), "a reflected datagram must not open");
        d[10] ^= 1;
        assert!(matches!(r.open(&d), Err(DatagramError::BadMac(_))));
    }

    #[test]
    fn counter_exhaustion() {
        let mut i = Datagrams::with_counter(&[0; 64], true, 5);
        i.counter = 4; // one before the initial value: the next send would reuse it
        assert!(matches!(i.seal(b""), Err(DatagramError::NonceExhausted)));
    }
}
