//! hyperdht's command ids and namespaces (`hyperdht/lib/constants.js`).
//!
//! `NS[cmd] = BLAKE2b-256(BLAKE2b-256("hyperswarm/dht") || byte(cmd))`, as
//! hypercore-crypto's `namespace('hyperswarm/dht', [...])` computes them. The constants are
//! checked against [`namespace`] by the unit tests.

use crate::peer::blake2b_256;

/// hyperdht's (non-internal) dht-rpc command ids.
pub mod command {
    /// Noise handshake, relayed to the server.
    pub const PEER_HANDSHAKE: u64 = 0;
    /// Holepunch round, relayed like the handshake.
    pub const PEER_HOLEPUNCH: u64 = 1;
    /// A server's record (its relays) for `hash(publicKey)`.
    pub const FIND_PEER: u64 = 2;
    /// Peer records stored under a topic.
    pub const LOOKUP: u64 = 3;
    /// Stores a signed peer record.
    pub const ANNOUNCE: u64 = 4;
    /// Removes a signed peer record.
    pub const UNANNOUNCE: u64 = 5;
    /// Mutable record put.
    pub const MUTABLE_PUT: u64 = 6;
    /// Mutable record get.
    pub const MUTABLE_GET: u64 = 7;
    /// Immutable record put.
    pub const IMMUTABLE_PUT: u64 = 8;
    /// Immutable record get.
    pub const IMMUTABLE_GET: u64 = 9;
    /// Plugin messages.
    pub const PLUGIN: u64 = 10;
}

/// `BLAKE2b-256("hyperswarm/dht")`.
pub const NS_BASE: [u8; 32] = hex32("d70d90f7efc42f93e1ad5837e682a6010cf551013c2d2d043f40d8fbe07dcb90");
/// Announce signatures.
pub const NS_ANNOUNCE: [u8; 32] = hex32("36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497");
/// Unannounce signatures.
pub const NS_UNANNOUNCE: [u8; 32] = hex32("ded293cd93fb395e756ecf5fff426529e72c36eacc22e5ed944d9099a2561e32");
/// Mutable-put signatures.
pub const NS_MUTABLE_PUT: [u8; 32] = hex32("668e823edd5ce7f5338d68bf1161f4a3c28ce437ee2ab49efd30d99366039b1e");
/// The Noise prologue of PEER_HANDSHAKE.
pub const NS_PEER_HANDSHAKE: [u8; 32] = hex32("14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a");
/// The holepunch secret's message.
pub const NS_PEER_HOLEPUNCH: [u8; 32] = hex32("f1191cd5e67b10b54a507033280ed1ff0e12278268d5679c8f93d417210d168b");

/// `namespace(name, [id])[0]`: `BLAKE2b-256(BLAKE2b-256(name) || id)`.
pub fn namespace(name: &str, id: u8) -> [u8; 32] {
    let mut input = [0u8; 33];
    input[..32].copy_from_slice(&blake2b_256(name.as_bytes()));
    input[32] = id;
    blake2b_256(&input)
}

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

    #[test]
    fn namespaces_match_the_digest() {
        assert_eq!(blake2b_256(b"hyperswarm/dht"), NS_BASE);
        let cases = [
            (command::ANNOUNCE, NS_ANNOUNCE),
            (command::UNANNOUNCE, NS_UNANNOUNCE),
            (command::MUTABLE_PUT, NS_MUTABLE_PUT),
            (command::PEER_HANDSHAKE, NS_PEER_HANDSHAKE),
            (command::PEER_HOLEPUNCH, NS_PEER_HOLEPUNCH),
        ];
        for (cmd, want) in cases {
            assert_eq!(namespace("hyperswarm/dht", cmd as u8), want, "command {cmd}");
        }
        assert_eq!(NS_PEER_HANDSHAKE, rhizome_secret_stream::NS_PEER_HANDSHAKE);
    }
}
