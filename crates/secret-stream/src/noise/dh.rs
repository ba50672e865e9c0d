//! noise-curve-ed's DH: Ed25519 points, not X25519.
//!
//! `DH(local, remote) = compress(clamp(SHA-512(seed)[0..32]) · decompress(remote))`,
//! which is libsodium's `crypto_scalarmult_ed25519_noclamp` on the clamped scalar. Like
//! libsodium we reject non-canonical encodings, small-order points, points outside the
//! prime-order subgroup and an identity result.

use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::error::NoiseError;

/// The DH output length (a compressed Edwards point).
pub(crate) const DHLEN: usize = 32;

/// `DH(local seed, remote public key)` as noise-curve-ed computes it.
pub(crate) fn dh(local_seed: &[u8; 32], remote_public: &[u8; 32]) -> Result<Zeroizing<[u8; DHLEN]>, NoiseError> {
    let point = CompressedEdwardsY(*remote_public).decompress().ok_or(NoiseError::InvalidPublicKey)?;
    // Round-tripping rejects non-canonical y (>= p), which libsodium's ge25519_is_canonical rejects.
    if point.compress().as_bytes() != remote_public || point.is_small_order() || !point.is_torsion_free() {
        return Err(NoiseError::InvalidPublicKey);
    }
    let digest: Zeroizing<[u8; 64]> = Zeroizing::new(Sha512::digest(local_seed).into());
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&digest[..32]);
    // mul_clamped applies the same clamping noise-curve-ed does (&= 248, &= 127, |= 64).
    let shared = point.mul_clamped(*scalar);
    if shared.is_identity() {
        return Err(NoiseError::InvalidPublicKey);
    }
    Ok(Zeroizing::new(shared.compress().to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use data_encoding::HEXLOWER;

    #[test]
    fn matches_noise_curve_ed_vector() {
        // noise-curve-ed: dh(responder static pk, initiator ephemeral seed 01*32).
        let responder = Keypair::from_seed(&[0xaa; 32]);
        let out = dh(&[0x01; 32], &responder.public_key()).unwrap();
        assert_eq!(HEXLOWER.encode(out.as_ref()), "932b9c309e99d601a870538a38626c42c1ebbfa94ed37d825509fa344823af45");
        // hyperswarm-wire.md 8.6 lists fc5a85…: vec2.js printed it after the handshake,
        // when noise-handshake had zeroed the ephemeral secret key. It is the DH of a zero seed.
        assert_eq!(
            HEXLOWER.encode(dh(&[0; 32], &responder.public_key()).unwrap().as_ref()),
            "fc5a85c07b1ea2c651ff0278d1c43d043774566feaf239aaab942c6682584608"
        );
        // And it is a DH: both sides agree.
        let eph = Keypair::from_seed(&[0x01; 32]);
        assert_eq!(dh(&[0xaa; 32], &eph.public_key()).unwrap().as_ref(), out.as_ref());
    }

    #[test]
    fn rejects_bad_points() {
        let seed = [7u8; 32];
        // identity (small order)
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(dh(&seed, &identity).is_err());
        // all-zero (order 4 point y=0)
        assert!(dh(&seed, &[0u8; 32]).is_err());
        // non-canonical y = p (2^255 - 19)
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(dh(&seed, &p).is_err());
        // a point with a torsion component: base point + order-2 point (0, -1)
        let mixed = curve25519_dalek::constants::ED25519_BASEPOINT_POINT
            + CompressedEdwardsY(
                HEXLOWER.decode(b"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap().try_into().unwrap(),
            )
            .decompress()
            .unwrap();
        assert!(dh(&seed, &mixed.compress().to_bytes()).is_err());
    }
}
