//! Node ids and write tokens, as `dht-rpc/lib/peer.js` and `dht-rpc/lib/io.js` compute them.

use std::net::{Ipv4Addr, SocketAddrV4};

use blake2::digest::{Mac, consts::U32};
use blake2::{Blake2b, Blake2bMac, Digest};

use crate::compact::Encoder;
use crate::message::Id;

/// BLAKE2b-256 of `data` (libsodium `crypto_generichash`, 32-byte output, no key).
pub fn blake2b_256(data: &[u8]) -> Id {
    Blake2b::<U32>::digest(data).into()
}

/// BLAKE2b-256 keyed with `key` (libsodium `crypto_generichash` with a key).
fn blake2b_256_keyed(key: &Id, data: &[u8]) -> Id {
    match Blake2bMac::<U32>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        // A 32-byte key is always within BLAKE2b's 64-byte limit.
        Err(_) => [0; 32],
    }
}

/// A node's id: BLAKE2b-256 of its 6-byte `ipv4Address` (IP bytes, then port u16 LE).
pub fn node_id(addr: SocketAddrV4) -> Id {
    let mut e = Encoder::new();
    e.ipv4_address(addr);
    blake2b_256(&e.finish())
}

/// XOR distance between two ids, comparable byte by byte (lexicographically).
pub fn distance(a: &Id, b: &Id) -> Id {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// Drain ticks (750 ms each in dht-rpc) between secret rotations.
pub const ROTATE_EVERY_TICKS: u32 = 10;

/// dht-rpc's two rotating token secrets.
///
/// Tokens are issued from slot 1 and accepted from slot 1 or 0. Every
/// [`ROTATE_EVERY_TICKS`] ticks the slots swap and the secret that lands in slot 1 is
/// replaced by its own BLAKE2b-256 hash, so an issued token stays valid for one to two
/// rotation periods.
#[derive(Clone)]
pub struct TokenSecrets {
    secrets: [Id; 2],
    ticks_left: u32,
}

impl std::fmt::Debug for TokenSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSecrets").finish_non_exhaustive()
    }
}

impl TokenSecrets {
    /// Secrets from 64 random bytes (slot 0 then slot 1).
    pub fn new(slot0: Id, slot1: Id) -> Self {
        Self { secrets: [slot0, slot1], ticks_left: ROTATE_EVERY_TICKS }
    }

    /// The token slot `slot` (0 or 1) gives `host`: BLAKE2b-256 keyed with the secret of the
    /// ASCII dotted host (no port).
    pub fn token_with(&self, host: Ipv4Addr, slot: usize) -> Id {
        blake2b_256_keyed(&self.secrets[slot & 1], host.to_string().as_bytes())
    }

    /// The token we issue to `host` now.
    pub fn issue(&self, host: Ipv4Addr) -> Id {
        self.token_with(host, 1)
    }

    /// Whether `token` is one we issued to `host` in the current or previous period.
    pub fn verify(&self, host: Ipv4Addr, token: &Id) -> bool {
        *token == self.token_with(host, 1) || *token == self.token_with(host, 0)
    }

    /// One drain tick; rotates every [`ROTATE_EVERY_TICKS`] calls.
    pub fn tick(&mut self) {
        self.ticks_left -= 1;
        if self.ticks_left == 0 {
            self.ticks_left = ROTATE_EVERY_TICKS;
            self.secrets.swap(0, 1);
            self.secrets[1] = blake2b_256(&self.secrets[1]);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn node_id_matches_digest() {
        assert_eq!(hex(&node_id("127.0.0.1:49738".parse().unwrap())), "ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c");
    }

    #[test]
    fn tokens_live_one_to_two_periods() {
        let mut s = TokenSecrets::new([1; 32], [2; 32]);
        let host: Ipv4Addr = "127.0.0.1".parse().unwrap();
        let t = s.issue(host);
        assert!(s.verify(host, &t));
        assert!(!s.verify("127.0.0.2".parse().unwrap(), &t));
        for _ in 0..ROTATE_EVERY_TICKS {
            s.tick();
        }
        assert!(s.verify(host, &t), "valid in the next period");
        assert_ne!(s.issue(host), t);
        for _ in 0..ROTATE_EVERY_TICKS {
            s.tick();
        }
        assert!(!s.verify(host, &t), "expired after two periods");
    }
}
