//! PEER_HANDSHAKE and PEER_HOLEPUNCH values (`handshake`, `holepunch` and
//! `holepunchPayload` in messages.js) and their routing modes.

use std::net::SocketAddrV4;

use super::{MAX_PAYLOAD_ADDRESSES, WireError, check_len, ipv4_list};
use crate::compact::{Decoder, Encoder};

/// The longest Noise message (noise-handshake's limit).
pub const MAX_NOISE_LEN: usize = 65535;

/// Who sent a relayed handshake/holepunch message, and so where it goes next
/// (`hyperdht/lib/router.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Client → relay (or straight to the server).
    FromClient,
    /// Server → relay: the server's answer, sent as a request with the client's tid.
    FromServer,
    /// Relay → server.
    FromRelay,
    /// Relay → second relay → server.
    FromSecondRelay,
    /// Relay (or server) → client: the response.
    Reply,
}

impl Mode {
    /// The wire value.
    pub fn to_u64(self) -> u64 {
        match self {
            Mode::FromClient => 0,
            Mode::FromServer => 1,
            Mode::FromRelay => 2,
            Mode::FromSecondRelay => 3,
            Mode::Reply => 4,
        }
    }

    /// From the wire value.
    pub fn from_u64(n: u64) -> Result<Self, WireError> {
        Ok(match n {
            0 => Mode::FromClient,
            1 => Mode::FromServer,
            2 => Mode::FromRelay,
            3 => Mode::FromSecondRelay,
            4 => Mode::Reply,
            n => return Err(WireError::UnknownMode(n)),
        })
    }
}

/// A PEER_HANDSHAKE value: `flags uint` (1 peerAddress, 2 relayAddress), `mode uint`,
/// `noise buffer`, `[peerAddress]`, `[relayAddress]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeMessage {
    /// Routing mode.
    pub mode: Mode,
    /// The Noise message (msg1 from the client, msg2 from the server).
    pub noise: Vec<u8>,
    /// The other end's address as the relay sees it.
    pub peer_address: Option<SocketAddrV4>,
    /// Where a second relay should forward to.
    pub relay_address: Option<SocketAddrV4>,
}

impl HandshakeMessage {
    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.peer_address.is_some()) | (u64::from(self.relay_address.is_some()) << 1);
        let mut e = Encoder::new();
        e.uint(flags).uint(self.mode.to_u64()).buffer(&self.noise);
        if let Some(a) = self.peer_address {
            e.ipv4_address(a);
        }
        if let Some(a) = self.relay_address {
            e.ipv4_address(a);
        }
        e.finish()
    }

    /// Decodes; a Noise message over 65535 bytes is [`WireError::TooLarge`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let mode = Mode::from_u64(d.uint()?)?;
        let noise = d.buffer()?;
        if noise.len() > MAX_NOISE_LEN {
            return Err(WireError::TooLarge { len: noise.len(), max: MAX_NOISE_LEN });
        }
        let peer_address = if flags & 1 != 0 { Some(d.ipv4_address()?) } else { None };
        let relay_address = if flags & 2 != 0 { Some(d.ipv4_address()?) } else { None };
        Ok(Self { mode, noise: noise.to_vec(), peer_address, relay_address })
    }
}

/// A PEER_HOLEPUNCH value: `flags uint` (1 peerAddress), `mode uint`, `id uint`,
/// `payload buffer` (secretbox of a [`HolepunchPayload`]), `[peerAddress]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolepunchMessage {
    /// Routing mode.
    pub mode: Mode,
    /// The server's punch slot (`noisePayload.holepunch.id`).
    pub id: u64,
    /// `nonce(24) || crypto_secretbox_easy(holepunchPayload)` keyed with the holepunch secret.
    pub payload: Vec<u8>,
    /// The other end's address as the relay sees it.
    pub peer_address: Option<SocketAddrV4>,
}

impl HolepunchMessage {
    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.uint(u64::from(self.peer_address.is_some())).uint(self.mode.to_u64()).uint(self.id).buffer(&self.payload);
        if let Some(a) = self.peer_address {
            e.ipv4_address(a);
        }
        e.finish()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let mode = Mode::from_u64(d.uint()?)?;
        let id = d.uint()?;
        let payload = d.buffer()?.to_vec();
        let peer_address = if flags & 1 != 0 { Some(d.ipv4_address()?) } else { None };
        Ok(Self { mode, id, payload, peer_address })
    }
}

/// The decrypted holepunch payload: `flags uint` (1 connected, 2 punching, 4 addresses,
/// 8 remoteAddress, 16 token, 32 remoteToken), `error`, `firewall`, `round`, then the
/// present fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolepunchPayload {
    /// Error code (as in the Noise payload).
    pub error: u64,
    /// Firewall type of the sender.
    pub firewall: u64,
    /// Probe round.
    pub round: u64,
    /// The sender has a connection.
    pub connected: bool,
    /// The sender is punching.
    pub punching: bool,
    /// The sender's addresses.
    pub addresses: Option<Vec<SocketAddrV4>>,
    /// The receiver's address as the sender sees it.
    pub remote_address: Option<SocketAddrV4>,
    /// The sender's punch token.
    pub token: Option<[u8; 32]>,
    /// The receiver's token, echoed.
    pub remote_token: Option<[u8; 32]>,
}

impl HolepunchPayload {
    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let flags = u64::from(self.connected)
            | (u64::from(self.punching) << 1)
            | (u64::from(self.addresses.is_some()) << 2)
            | (u64::from(self.remote_address.is_some()) << 3)
            | (u64::from(self.token.is_some()) << 4)
            | (u64::from(self.remote_token.is_some()) << 5);
        let mut e = Encoder::new();
        e.uint(flags).uint(self.error).uint(self.firewall).uint(self.round);
        if let Some(a) = &self.addresses {
            e.ipv4_array(a);
        }
        if let Some(a) = self.remote_address {
            e.ipv4_address(a);
        }
        if let Some(t) = &self.token {
            e.fixed(t);
        }
        if let Some(t) = &self.remote_token {
            e.fixed(t);
        }
        e.finish()
    }

    /// Decodes.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        check_len(bytes)?;
        let mut d = Decoder::new(bytes);
        let flags = d.uint()?;
        let error = d.uint()?;
        let firewall = d.uint()?;
        let round = d.uint()?;
        let addresses = if flags & 4 != 0 { Some(ipv4_list(&mut d, "holepunch addresses", MAX_PAYLOAD_ADDRESSES)?) } else { None };
        let remote_address = if flags & 8 != 0 { Some(d.ipv4_address()?) } else { None };
        let token = if flags & 16 != 0 { Some(d.fixed32()?) } else { None };
        let remote_token = if flags & 32 != 0 { Some(d.fixed32()?) } else { None };
        Ok(Self {
            error,
            firewall,
            round,
            connected: flags & 1 != 0,
            punching: flags & 2 != 0,
            addresses,
            remote_address,
            token,
            remote_token,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::wire::records::tests::{addr, unhex};
    use proptest::prelude::*;

    fn local(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new([127, 0, 0, 1].into(), port)
    }

    fn value_of(datagram: &str) -> Vec<u8> {
        match Message::decode(&unhex(datagram)).unwrap() {
            Message::Request(r) => r.value.unwrap(),
            Message::Response(r) => r.value.unwrap(),
        }
    }

    const MSG1: &str = "9d58eb355bf24e1745f8ccb3964ed68800dad5a11665b6d02ada3486c41157062a4a3947787c738e11b5bfb83a758cd0d06f00518194da6c53bb18b59bfa6d18a7d360cd97f89f2b3b3ce14a20ba8b7e5747381fbfa8d9cb6e9d215c80d6659b0976f2a90d81f730551d12688f802bb9f983103e";
    const MSG2: &str = "c1b939776329332d73d51b83d89357dab9fb6c86a076cba3767bd2578f12d8af89998dbe0aea14fb83972721a7b7ef620305a23db4d2a502b343b46b18cc1b50c591a2cd76e58670fd10b47d6cabd4a18592756af116098bcbca9f23a8d7f2b0730a498a4bf3c211980199";

    #[test]
    fn relayed_handshake_vectors() {
        // §8.4, the four hops of one handshake
        let hops = [
            (
                "03183f277f0000014ac200fb2d6244c46d9b483dadef0a0fde4caab6f3a871aad91743ac66f41a6dfd4f48770000749d58eb355bf24e1745f8ccb3964ed68800dad5a11665b6d02ada3486c41157062a4a3947787c738e11b5bfb83a758cd0d06f00518194da6c53bb18b59bfa6d18a7d360cd97f89f2b3b3ce14a20ba8b7e5747381fbfa8d9cb6e9d215c80d6659b0976f2a90d81f730551d12688f802bb9f983103e",
                Mode::FromClient,
                MSG1,
                None,
            ),
            (
                "03193f277f000001fcd5ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c00fb2d6244c46d9b483dadef0a0fde4caab6f3a871aad91743ac66f41a6dfd4f487d0102749d58eb355bf24e1745f8ccb3964ed68800dad5a11665b6d02ada3486c41157062a4a3947787c738e11b5bfb83a758cd0d06f00518194da6c53bb18b59bfa6d18a7d360cd97f89f2b3b3ce14a20ba8b7e5747381fbfa8d9cb6e9d215c80d6659b0976f2a90d81f730551d12688f802bb9f983103e7f00000172e5",
                Mode::FromRelay,
                MSG1,
                Some(local(58738)),
            ),
            (
                "03183f277f0000014ac200fb2d6244c46d9b483dadef0a0fde4caab6f3a871aad91743ac66f41a6dfd4f487401016bc1b939776329332d73d51b83d89357dab9fb6c86a076cba3767bd2578f12d8af89998dbe0aea14fb83972721a7b7ef620305a23db4d2a502b343b46b18cc1b50c591a2cd76e58670fd10b47d6cabd4a18592756af116098bcbca9f23a8d7f2b0730a498a4bf3c2119801997f00000172e5",
                Mode::FromServer,
                MSG2,
                Some(local(58738)),
            ),
            (
                "13113f277f00000172e5ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c7401046bc1b939776329332d73d51b83d89357dab9fb6c86a076cba3767bd2578f12d8af89998dbe0aea14fb83972721a7b7ef620305a23db4d2a502b343b46b18cc1b50c591a2cd76e58670fd10b47d6cabd4a18592756af116098bcbca9f23a8d7f2b0730a498a4bf3c2119801997f000001fcd5",
                Mode::Reply,
                MSG2,
                Some(local(54780)),
            ),
        ];
        for (datagram, mode, noise, peer_address) in hops {
            let value = value_of(datagram);
            let h = HandshakeMessage::decode(&value).unwrap();
            let want = HandshakeMessage { mode, noise: unhex(noise), peer_address, relay_address: None };
            assert_eq!(h, want);
            assert_eq!(h.encode(), value, "{mode:?} re-encodes byte for byte");
        }
    }

    #[test]
    fn holepunch_vector() {
        let value = value_of(
            "031849277f0000014ac201fb2d6244c46d9b483dadef0a0fde4caab6f3a871aad91743ac66f41a6dfd4f483c01000032333b4610dca29ed783a46114cf6576508bf14abd3f87cb1ac3862e3acb284e6d42ca45afeaa3722fa4f7fa409f93d564aace7f000001fcd5",
        );
        let h = HolepunchMessage::decode(&value).unwrap();
        assert_eq!((h.mode, h.id, h.payload.len(), h.peer_address), (Mode::FromClient, 0, 50, Some(local(54780))));
        assert_eq!(h.encode(), value);
        // its decrypted payload (§8.4)
        let p = HolepunchPayload { remote_address: Some(local(54780)), ..Default::default() };
        assert_eq!(HolepunchPayload::decode(&p.encode()).unwrap(), p);
        assert_eq!(p.encode()[0], 8);
    }

    #[test]
    fn bad_input_is_typed() {
        assert_eq!(HandshakeMessage::decode(&[0, 9, 0]), Err(WireError::UnknownMode(9)));
        let full = HandshakeMessage { mode: Mode::Reply, noise: vec![1; 40], peer_address: Some(local(1)), relay_address: None }.encode();
        for cut in 0..full.len() {
            assert!(HandshakeMessage::decode(&full[..cut]).is_err(), "cut {cut}");
        }
        let mut e = Encoder::new();
        e.uint(0).uint(0).buffer(&vec![0; MAX_NOISE_LEN + 1]);
        assert!(matches!(HandshakeMessage::decode(&e.finish()), Err(WireError::TooLarge { .. })));
    }

    fn mode() -> impl Strategy<Value = Mode> {
        (0u64..5).prop_map(|m| Mode::from_u64(m).unwrap())
    }

    proptest! {
        #[test]
        fn handshake_round_trips(mode in mode(), noise in proptest::collection::vec(any::<u8>(), 0..200),
                                 peer_address in proptest::option::of(addr()), relay_address in proptest::option::of(addr())) {
            let h = HandshakeMessage { mode, noise, peer_address, relay_address };
            prop_assert_eq!(HandshakeMessage::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn holepunch_round_trips(mode in mode(), id in any::<u64>(), payload in proptest::collection::vec(any::<u8>(), 0..100),
                                 peer_address in proptest::option::of(addr())) {
            let h = HolepunchMessage { mode, id, payload, peer_address };
            prop_assert_eq!(HolepunchMessage::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn holepunch_payload_round_trips(error in any::<u64>(), firewall in 0u64..4, round in any::<u64>(), connected in any::<bool>(),
                                         punching in any::<bool>(), addresses in proptest::option::of(proptest::collection::vec(addr(), 0..4)),
                                         remote_address in proptest::option::of(addr()), token in proptest::option::of(any::<[u8; 32]>()),
                                         remote_token in proptest::option::of(any::<[u8; 32]>())) {
            let p = HolepunchPayload { error, firewall, round, connected, punching, addresses, remote_address, token, remote_token };
            prop_assert_eq!(HolepunchPayload::decode(&p.encode()).unwrap(), p);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = HandshakeMessage::decode(&bytes);
            let _ = HolepunchMessage::decode(&bytes);
            let _ = HolepunchPayload::decode(&bytes);
        }
    }
}
