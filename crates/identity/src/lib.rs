//! Peer identity for Rhizome.
//!
//! The key and peer id types are libp2p-identity's, the very ones `multiaddr` puts in a
//! `/p2p/` component, so a [`PeerId`] read from an address, authenticated by Noise or
//! reported by identify is one type throughout:
//!
//! - [`Keypair`]: an identity key of any libp2p type (Ed25519, secp256k1, ECDSA, RSA)
//!   that signs with [`Keypair::sign`]; a node may run with any of them. Keys Rhizome
//!   makes itself are Ed25519. The [`KeypairExt`] trait adds what we build on top:
//!   [`KeypairExt::from_seed`] (the 32-byte Ed25519 secret), [`KeypairExt::generate`],
//!   key files ([`KeypairExt::load`], [`KeypairExt::save`],
//!   [`KeypairExt::load_or_generate`]), [`KeypairExt::peer_id`], and the raw Ed25519
//!   seed and public key bytes ([`KeypairExt::ed25519_seed`],
//!   [`KeypairExt::ed25519_public`]) that Hyperswarm uses.
//! - [`PublicKey`]: with the libp2p `PublicKey` protobuf encoding
//!   ([`PublicKey::encode_protobuf`], [`PublicKey::try_decode_protobuf`]) and
//!   signature checks ([`PublicKey::verify`]) for every key type;
//!   [`PublicKeyExt::ed25519_bytes`] gives the 32 raw bytes of an Ed25519 key.
//! - [`PeerId`]: the multihash of the encoded public key (inlined up to 42 bytes,
//!   otherwise sha2-256), printed in base58btc (`12D3KooW…`, `16Uiu2…`, `Qm…`);
//!   [`PeerIdExt::to_cid_string`] prints the CIDv1 `libp2p-key` form and
//!   [`parse_peer_id`] reads either form.
//!
//! ```
//! use rhizome_identity::{Keypair, KeypairExt as _, PeerIdExt as _, parse_peer_id};
//! # fn main() -> Result<(), rhizome_identity::ParseError> {
//! let kp = Keypair::from_seed([1; 32]);
//! assert_eq!(kp.peer_id().to_string(), "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5");
//! let parsed = parse_peer_id(&kp.peer_id().to_cid_string())?;
//! assert_eq!(parsed, kp.peer_id());
//! assert_eq!(kp.ed25519_seed().as_deref(), Some(&[1; 32]));
//! # Ok(())
//! # }
//! ```
//!
//! Spec notes and test vectors: `specs/peer-id.md`.
#![deny(missing_docs)]

mod addr;
mod error;
mod keyfile;
mod keys;
mod peer_id;
mod proto;

pub use addr::{split_peer_id, with_peer_id};
pub use error::{KeyFileError, ParseError, RandomnessError};
pub use keys::{KeypairExt, PublicKeyExt};
pub use libp2p_identity::{DecodingError, KeyType, Keypair, PeerId, PublicKey, SigningError};
pub use libp2p_identity::{ecdsa, ed25519, rsa, secp256k1};
pub use multiaddr::{self, Multiaddr};
pub use peer_id::{PeerIdExt, parse_peer_id};
