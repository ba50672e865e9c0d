//! The libp2p Noise security upgrade (`/noise`): `Noise_XX_25519_ChaChaPoly_SHA256`
//! on [`snow`] (handshake, with ring's ChaCha20-Poly1305 through snow's
//! `ring-accelerated` resolver); the transport phase seals and opens frames in place
//! with ring directly.
//!
//! - Handshake: [`handshake_outbound`] / [`handshake_inbound`]. Message 1 carries an
//!   empty payload; messages 2 and 3 carry the libp2p payload (identity key and its
//!   signature over `"noise-libp2p-static-key:" || static key`). Identity keys of
//!   every libp2p type are accepted, ours and the remote's: Ed25519, secp256k1, ECDSA
//!   and RSA, signed and verified by libp2p-identity. The remote's signature is
//!   verified and, when dialing, its peer id compared with the expected one
//!   ([`Error::WrongPeer`]). A [`Config`] makes its X25519 static key and signed
//!   payload once, on its first handshake, and reuses them for every connection (as
//!   rust-libp2p does); the free functions make fresh ones per handshake.
//! - Transport: [`NoiseStream`], frames of `u16_be(len) || ciphertext` with at most
//!   65,535 bytes on the wire ([`MAX_FRAME_LEN`]) and [`MAX_PLAINTEXT_LEN`] (65,519)
//!   plaintext bytes per frame sent. A frame that fails authentication closes the
//!   channel with an `InvalidData` I/O error.
//! - No extensions are sent (no inlined muxer negotiation); extensions received
//!   from go and js peers are accepted and ignored.
//!
//! Spec: <https://github.com/libp2p/specs/tree/master/noise>; our notes and test
//! vectors: `specs/noise.md`.
#![deny(missing_docs)]

mod buffer;
mod cipher;
mod error;
mod handshake;
mod payload;
mod pool;
mod resolver;
mod stream;

use std::sync::{Arc, OnceLock};

use rhizome_core::{BoxIo, ProtocolId, SecurityError, SecurityUpgrade};
use rhizome_identity::{Keypair, PeerId};

pub use error::Error;
pub use handshake::{PROTOCOL_NAME, handshake_inbound, handshake_outbound};
pub use payload::{STATIC_KEY_DOMAIN, verify as verify_payload};
pub use stream::{MAX_PLAINTEXT_LEN, NoiseStream, WRITE_BUFFER_MAX};

/// The largest Noise message on the wire (u16 length prefix).
pub const MAX_FRAME_LEN: usize = 65535;
/// The ChaCha20-Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// The multistream protocol id.
pub const PROTOCOL_ID: &str = "/noise";

/// The Noise upgrade with our identity (`noise::Config`).
#[derive(Debug, Clone)]
pub struct Config {
    identity: Keypair,
    prologue: Vec<u8>,
    /// Our static key and signed payload, made on the first handshake (shared by clones).
    local: Arc<OnceLock<handshake::LocalKeys>>,
}

impl Config {
    /// Noise with our identity key and an empty prologue (what every libp2p peer uses).
    pub fn new(identity: Keypair) -> Self {
        Self { identity, prologue: Vec::new(), local: Arc::default() }
    }

    fn local(&self) -> Result<&handshake::LocalKeys, Error> {
        if let Some(local) = self.local.get() {
            return Ok(local);
        }
        let made = handshake::LocalKeys::generate(&self.identity)?;
        Ok(self.local.get_or_init(|| made))
    }

    /// Sets a prologue; both sides must use the same one.
    pub fn with_prologue(mut self, prologue: Vec<u8>) -> Self {
        self.prologue = prologue;
        self
    }
}

#[async_trait::async_trait]
impl SecurityUpgrade for Config {
    fn protocol_id(&self) -> ProtocolId {
        ProtocolId::from_static(PROTOCOL_ID)
    }

    async fn secure_outbound(&self, io: BoxIo, expected: Option<PeerId>) -> Result<(PeerId, BoxIo), SecurityError> {
        // The swarm writes (the multistream proposal) right after: message 3 leaves with it.
        let (peer, stream) = handshake::handshake_outbound_with(io, self.local()?, expected, &self.prologue, true).await?;
        Ok((peer, Box::new(stream)))
    }

    async fn secure_inbound(&self, io: BoxIo) -> Result<(PeerId, BoxIo), SecurityError> {
        let (peer, stream) = handshake::handshake_inbound_with(io, self.local()?, &self.prologue).await?;
        Ok((peer, Box::new(stream)))
    }
}

#[cfg(test)]
mod tests;
