use std::path::PathBuf;

use libp2p_identity::DecodingError;

/// Errors parsing a [`PeerId`](crate::PeerId) from text with
/// [`parse_peer_id`](crate::parse_peer_id).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not valid base58btc.
    #[error("invalid base58btc")]
    Base58(#[source] bs58::decode::Error),
    /// Not valid multibase base32 (the CIDv1 form).
    #[error("invalid base32")]
    Base32(#[source] data_encoding::DecodeError),
    /// A multibase prefix other than `b` (base32) or `z` (base58btc).
    #[error("unsupported multibase prefix {0:?}")]
    UnsupportedMultibase(char),
    /// A CID that is not version 1 with codec `libp2p-key` (0x72).
    #[error("not a CIDv1 libp2p-key")]
    NotLibp2pKeyCid,
    /// The multihash is malformed, or is neither identity (≤ 42 bytes) nor sha2-256.
    #[error("invalid peer id multihash")]
    InvalidMultihash(#[source] libp2p_identity::ParseError),
    /// Empty input.
    #[error("empty peer id")]
    Empty,
}

/// Errors loading or saving a key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold a valid private key protobuf.
    #[error("key file {path} does not hold a valid private key")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why decoding failed.
        #[source]
        source: DecodingError,
    },
    /// The key cannot be written as a `PrivateKey` protobuf (libp2p-identity does not
    /// encode RSA keys).
    #[error("cannot encode the key for {path}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Why encoding failed.
        #[source]
        source: DecodingError,
    },
}

/// Generating randomness from the operating system failed.
#[derive(Debug, thiserror::Error)]
#[error("operating system randomness unavailable")]
pub struct RandomnessError(#[source] pub(crate) getrandom::Error);
