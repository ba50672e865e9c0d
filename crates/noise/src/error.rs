use rhizome_identity::PeerId;

/// A failed Noise handshake or a broken secure channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// I/O error.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The Noise protocol itself failed (bad message, decryption failure…).
    #[error("noise protocol error")]
    Noise(#[from] snow::Error),
    /// The handshake payload is not a valid protobuf.
    #[error("invalid handshake payload")]
    InvalidPayload(#[from] prost::DecodeError),
    /// The handshake payload lacks the identity key or signature.
    #[error("handshake payload without identity key or signature")]
    MissingIdentity,
    /// Signing our static key with our identity key failed.
    #[error("cannot sign the noise static key")]
    Sign(#[source] rhizome_identity::SigningError),
    /// The identity key in the payload is not a valid public key.
    #[error("invalid identity key")]
    InvalidKey(#[from] rhizome_identity::DecodingError),
    /// The identity signature over the Noise static key does not verify.
    #[error("identity signature over the noise static key does not verify")]
    BadSignature,
    /// The remote is not the peer we dialed.
    #[error("remote peer is {actual}, expected {expected}")]
    WrongPeer {
        /// The peer we meant to reach.
        expected: PeerId,
        /// The peer that answered.
        actual: PeerId,
    },
    /// The initiator's first message carried a payload (it must be empty).
    #[error("message 1 carries a {0}-byte payload; it must be empty")]
    UnexpectedPayload(usize),
    /// A transport frame failed authentication (tampered, reordered or not ours).
    #[error("noise frame failed authentication")]
    Decrypt,
    /// 2^64 − 1 frames were sent or received in one direction (the nonce is used up).
    #[error("noise nonce exhausted")]
    NonceExhausted,
    /// The AEAD refused a key or a message (not expected with ChaCha20-Poly1305).
    #[error("cipher error")]
    Cipher,
    /// A handshake message larger than a Noise frame.
    #[error("handshake message too large: {0} bytes")]
    MessageTooLarge(usize),
}

impl From<Error> for rhizome_core::SecurityError {
    fn from(e: Error) -> Self {
        match e {
            Error::WrongPeer { expected, actual } => rhizome_core::SecurityError::WrongPeer { expected, actual },
            other => rhizome_core::SecurityError::Handshake(Box::new(other)),
        }
    }
}
