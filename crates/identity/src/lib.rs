//! Peer identity for Rhizome.
//!
//! - [`Keypair`]: an Ed25519 identity key (ed25519-dalek), generated, derived from a
//!   32-byte seed, or loaded from a key file ([`Keypair::load`], [`Keypair::save`]).
//! - [`PublicKey`]: with the libp2p `PublicKey` protobuf encoding (`08 01 12 20 <key>`).
//! - [`PeerId`]: the identity multihash of the encoded public key, printed in
//!   base58btc (`12D3KooW…`) and parsed from base58btc or the CIDv1 `libp2p-key` form.
//!
//! Only Ed25519 keys are supported; RSA, secp256k1 and ECDSA keys decode to
//! [`DecodingError::UnsupportedKeyType`]. Peer ids of any key type parse.
//!
//! ```
//! use rhizome_identity::{Keypair, PeerId};
//! # fn main() -> Result<(), rhizome_identity::ParseError> {
//! let kp = Keypair::from_seed([1; 32]);
//! assert_eq!(kp.peer_id().to_string(), "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5");
//! let parsed: PeerId = kp.peer_id().to_cid_string().parse()?;
//! assert_eq!(parsed, kp.peer_id());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod addr;
mod error;
mod keyfile;
mod keys;
mod peer_id;
mod proto;

pub use addr::{split_peer_id, with_peer_id};
pub use error::{DecodingError, KeyFileError, ParseError, RandomnessError};
pub use keys::{Keypair, PublicKey};
pub use multiaddr::{self, Multiaddr};
pub use peer_id::PeerId;
