//! The payload inside both Noise messages of a PEER_HANDSHAKE (`noisePayload`).
//!
//! `version uint` (1), then `flags uint`, `error uint`, `firewall uint` and the fields
//! whose flag bit is set, in bit order: 1 holepunch, 2 addresses4, 4 addresses6, 8 udx,
//! 16 secretStream, 32 relayThrough, 64 relayAddresses. A payload whose version is not 1 is
//! not decoded further (the peer answers VERSION_MISMATCH), as in Node.

use std::net::{Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::{MAX_PAYLOAD_ADDRESSES, WireError, array_len, check_len, ipv4_list};
use crate::compact::{Decoder, Encoder};

/// The only payload version.
pub const VERSION: u64 = 1;

/// `firewall` values (`FIREWALL` in constants.js).
pub mod firewall {
    /// Not known yet.
    pub const UNKNOWN: u64 = 0;
    /// Reachable at its addresses without holepunching.
    pub const OPEN: u64 = 1;
    /// Behind a NAT with consistent port mapping.
    pub const CONSISTENT: u64 = 2;
    /// Behind a NAT with random port mapping.
    pub const RANDOM: u64 = 3;
}

/// `error` values of the payload (`ERROR` in constants.js).
pub mod error {
    /// No error.
    pub const NONE: u64 = 0;
    /// The server refused (for example the client sent no `udx`).
    pub const ABORTED: u64 = 1;
    /// The payload version is not 1.
    pub const VERSION_MISMATCH: u64 = 2;
    /// The server is busy.
    pub const TRY_LATER: u64 = 3;
}

/// A relay the server can be holepunched through, and the server's address as it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayInfo {
    /// The relay.
    pub relay_address: SocketAddrV4,
    /// The server as the relay sees it.
    pub peer_address: SocketAddrV4,
}

/// Holepunch details of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolepunchInfo {
    /// The server's punch slot.
    pub id: u64,
    /// Relays that can carry PEER_HOLEPUNCH.
    pub relays: Vec<RelayInfo>,
}

/// The sender's raw UDX stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdxInfo {
    /// Always 1 when we encode.
    pub version: u64,
    /// features bit 0.
    pub reusable_socket: bool,
    /// The sender's local stream id (the receiver puts it in its packets' remote id).
    pub id: u32,
    /// The initial sequence number (0).
    pub seq: u64,
}

impl UdxInfo {
    /// Version 1, no features, seq 0.
    pub fn new(id: u32) -> Self {
        Self { version: 1, reusable_socket: false, id, seq: 0 }
    }
}

/// Blind-relay details (not used by us; decoded for completeness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayThrough {
    /// Always 1.
    pub version: u64,
    /// The blind relay's key.
    pub public_key: [u8; 32],
    /// The pairing token.
    pub token: [u8; 32],
}

/// A decoded `noisePayload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoisePayload {
    /// Payload version; when it is not [`VERSION`] nothing else was decoded.
    pub version: u64,
    /// An [`error`] code.
    pub error: u64,
    /// A [`firewall`] value.
    pub firewall: u64,
    /// Holepunch details.
    pub holepunch: Option<HolepunchInfo>,
    /// The sender's IPv4 addresses (encoded only when non-empty).
    pub addresses4: Vec<SocketAddrV4>,
    /// The sender's IPv6 addresses (encoded only when non-empty).
    pub addresses6: Vec<SocketAddrV6>,
    /// The sender's raw UDX stream.
    pub udx: Option<UdxInfo>,
    /// secret-stream version, when the sender speaks it (1).
    pub secret_stream: Option<u64>,
    /// Blind relay.
    pub relay_through: Option<RelayThrough>,
    /// The server's relays (cached by clients for reconnects).
    pub relay_addresses: Option<Vec<SocketAddrV4>>,
}

impl Default for NoisePayload {
    fn default() -> Self {
        Self {
            version: VERSION,
            error: error::NONE,
            firewall: firewall::UNKNOWN,
            holepunch: None,
            addresses4: Vec::new(),
            addresses6: Vec::new(),
            udx: None,
            secret_stream: None,
            relay_through: None,
            relay_addresses: None,
        }
    }
}

impl NoisePayload {
    /// What we always send: firewall OPEN, our address, our UDX stream and secret-stream 1.
    /// An unspecified address (a socket bound to 0.0.0.0) is left out: the peer then uses
    /// the address the relay saw.
    pub fn open(address: SocketAddrV4, udx_id: u32) -> Self {
        Self {
            firewall: firewall::OPEN,
            addresses4: if address.ip().is_unspecified() || address.port() == 0 { Vec::new() } else { vec![address] },
            udx: Some(UdxInfo::new(udx_id)),
            secret_stream: Some(1),
            ..Self::default()
        }
    }

    /// The encoding (always version 1, as Node's encoder).
    pub fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.holepunch.is_some())
            | (u64::from(!self.addresses4.is_empty()) << 1)
            | (u64::from(!self.addresses6.is_empty()) << 2)
            | (u64::from(self.udx.is_some()) << 3)
            | (u64::from(self.secret_stream.is_some()) << 4)
            | (u64::from(self.relay_through.is_some()) << 5)
            | (u64::from(self.relay_addresses.is_some()) << 6);
        let mut e = Encoder::new();
        e.uint(VERSION).uint(flags).uint(self.error).uint(self.firewall);
        if let Some(h) = &self.holepunch {
            e.uint(h.id).array_len(h.relays.len());
            for r in &h.relays {
                e.ipv4_address(r.relay_address).ipv4_address(r.peer_address);
            }
        }
        if !self.addresses4.is_empty() {
            e.ipv4_array(&self.addresses4);
        }
        if !self.addresses6.is_empty() {
            e.array_len(self.addresses6.len());
            for a in &self.addresses6 {
                e.fixed(&a.ip().octets()).uint16(a.port());
            }
        }
        if let Some(u) = &self.udx {
            e.uint(1).uint(u64::from(u.reusable_socket)).uint(u64::from(u.id)).uint(u.seq);
        }
        if self.secret_stream.is_some() {
            e.uint(1);
        }
        if let Some(r) = &self.relay_through {
            e.uint(1).uint(0).fixed(&r.public_key).fixed(&r.token);
        }
        if let Some(a) = &self.relay_addresses {
            e.ipv4_array(a);
        }
        e.finish()
    }

    /// Decodes (each address list at most [`MAX_PAYLOAD_ADDRESSES`] long).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let version = d.uint()?;
        if version != VERSION {
            return Ok(Self { version, ..Self::default() });
        }
        let flags = d.uint()?;
        let mut p = Self { version, error: d.uint()?, firewall: d.uint()?, ..Self::default() };
        if flags & 1 != 0 {
            let id = d.uint()?;
            let n = array_len(&mut d, "holepunch relays", MAX_PAYLOAD_ADDRESSES)?;
            let relays = (0..n)
                .map(|_| Ok(RelayInfo { relay_address: d.ipv4_address()?, peer_address: d.ipv4_address()? }))
                .collect::<Result<Vec<_>, WireError>>()?;
            p.holepunch = Some(HolepunchInfo { id, relays });
        }
        if flags & 2 != 0 {
            p.addresses4 = ipv4_list(&mut d, "addresses4", MAX_PAYLOAD_ADDRESSES)?;
        }
        if flags & 4 != 0 {
            let n = array_len(&mut d, "addresses6", MAX_PAYLOAD_ADDRESSES)?;
            p.addresses6 = (0..n)
                .map(|_| {
                    let ip: [u8; 16] = d.take(16)?.try_into().unwrap_or([0; 16]);
                    Ok(SocketAddrV6::new(Ipv6Addr::from(ip), d.uint16()?, 0, 0))
                })
                .collect::<Result<Vec<_>, WireError>>()?;
        }
        if flags & 8 != 0 {
            let version = d.uint()?;
            let features = d.uint()?;
            let id = d.uint_u32()?;
            let seq = d.uint()?;
            p.udx = Some(UdxInfo { version, reusable_socket: features & 1 != 0, id, seq });
        }
        if flags & 16 != 0 {
            p.secret_stream = Some(d.uint()?);
        }
        if flags & 32 != 0 {
            let version = d.uint()?;
            let _flags = d.uint()?;
            p.relay_through = Some(RelayThrough { version, public_key: d.fixed32()?, token: d.fixed32()? });
        }
        if flags & 64 != 0 {
            p.relay_addresses = Some(ipv4_list(&mut d, "relayAddresses", MAX_PAYLOAD_ADDRESSES)?);
        }
        Ok(p)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::records::tests::{addr, unhex};
    use proptest::prelude::*;

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new([127, 0, 0, 1].into(), port)
    }

    #[test]
    fn deterministic_vector_payloads() {
        // §8.6 payload1 and payload2
        for (hex, port, id) in [("011a0001017f000001409c0100010001", 40000, 1), ("011a0001017f00000150c30100020001", 50000, 2)] {
            let p = NoisePayload::decode(&unhex(hex)).unwrap();
            assert_eq!(p, NoisePayload::open(local(port), id));
            assert_eq!(p.encode(), unhex(hex));
        }
    }

    #[test]
    fn node_server_payload_shape() {
        // §8.4: A's payload inside msg2 (holepunch relays, udx, secretStream, relayAddresses)
        let p = NoisePayload {
            holepunch: Some(HolepunchInfo {
                id: 0,
                relays: vec![
                    RelayInfo { relay_address: local(49738), peer_address: local(54780) },
                    RelayInfo { relay_address: local(49739), peer_address: local(54780) },
                ],
            }),
            addresses4: vec![local(49740)],
            udx: Some(UdxInfo::new(1036222208)),
            secret_stream: Some(1),
            relay_addresses: Some(vec![local(49738), local(49739)]),
            ..NoisePayload::default()
        };
        let bytes = p.encode();
        // msg2 is 107 bytes = 32 (e) + payload + 16 (tag)
        assert_eq!(bytes.len(), 107 - 48);
        assert_eq!(bytes[1], 0x5b, "flags holepunch|addresses4|udx|secretStream|relayAddresses");
        assert_eq!(NoisePayload::decode(&bytes).unwrap(), p);
        // B's msg1 payload: 20 bytes, flags 0x1a, firewall 0 (msg1 = 116 = 96 + 20)
        let b = NoisePayload { firewall: firewall::UNKNOWN, ..NoisePayload::open(local(49741), 1900859233) };
        assert_eq!(b.encode().len(), 20);
    }

    #[test]
    fn unspecified_address_is_not_advertised() {
        let p = NoisePayload::open(SocketAddrV4::new([0, 0, 0, 0].into(), 4000), 5);
        assert!(p.addresses4.is_empty());
        assert_eq!(p.encode()[1], 0x18, "flags udx|secretStream only");
    }

    #[test]
    fn other_versions_are_not_decoded() {
        let p = NoisePayload::decode(&[2, 0xff, 0xff]).unwrap();
        assert_eq!(p.version, 2);
        assert!(p.udx.is_none());
    }

    #[test]
    fn truncation_is_an_error() {
        let bytes = NoisePayload::open(local(1), 7).encode();
        for cut in 0..bytes.len() {
            assert!(NoisePayload::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        // udx id must fit a u32
        let mut e = Encoder::new();
        e.uint(1).uint(8).uint(0).uint(0).uint(1).uint(0).uint(1 << 40).uint(0);
        assert!(NoisePayload::decode(&e.finish()).is_err());
    }

    fn addr6() -> impl Strategy<Value = SocketAddrV6> {
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0))
    }

    proptest! {
        #[test]
        fn round_trips(error in 0u64..4, fw in 0u64..4, hp in proptest::option::of((any::<u64>(), proptest::collection::vec((addr(), addr()), 0..3))),
                       a4 in proptest::collection::vec(addr(), 0..4), a6 in proptest::collection::vec(addr6(), 0..3),
                       udx in proptest::option::of((any::<bool>(), any::<u32>(), any::<u64>())), ss in any::<bool>(),
                       rt in proptest::option::of((any::<[u8; 32]>(), any::<[u8; 32]>())),
                       ra in proptest::option::of(proptest::collection::vec(addr(), 0..4))) {
            let p = NoisePayload {
                version: VERSION, error, firewall: fw,
                holepunch: hp.map(|(id, r)| HolepunchInfo { id, relays: r.into_iter().map(|(relay_address, peer_address)| RelayInfo { relay_address, peer_address }).collect() }),
                addresses4: a4, addresses6: a6,
                udx: udx.map(|(reusable_socket, id, seq)| UdxInfo { version: 1, reusable_socket, id, seq }),
                secret_stream: ss.then_some(1),
                relay_through: rt.map(|(public_key, token)| RelayThrough { version: 1, public_key, token }),
                relay_addresses: ra,
            };
            prop_assert_eq!(NoisePayload::decode(&p.encode()).unwrap(), p);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = NoisePayload::decode(&bytes);
        }
    }
}
