//! The 256-bit keyspace: `sha256(key bytes)` for records and providers,
//! `sha256(peer-id multihash bytes)` for peers, and the XOR distance between them.

use rhizome_node::PeerId;
use sha2::{Digest as _, Sha256};

/// A point in the keyspace: the SHA-256 of a record key or of a peer id's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key([u8; 32]);

impl Key {
    /// The keyspace point of raw key bytes (a record key, a provider multihash).
    pub fn from_bytes(key: &[u8]) -> Self {
        Self(Sha256::digest(key).into())
    }

    /// The keyspace point of a peer: SHA-256 of its peer-id multihash bytes.
    pub fn from_peer(peer: &PeerId) -> Self {
        Self::from_bytes(&peer.to_bytes())
    }

    /// A key given by its 32 hash bytes (already hashed).
    pub const fn from_hash(hash: [u8; 32]) -> Self {
        Self(hash)
    }

    /// The 32 hash bytes.
    pub fn as_hash(&self) -> &[u8; 32] {
        &self.0
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &Key) -> Distance {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// A key at distance `2^i ..= 2^(i+1) - 1` from `self` (in bucket `i` of a
    /// table centred on `self`), the low bits taken from `random`.
    pub fn random_in_bucket(&self, bucket: usize, random: [u8; 32]) -> Key {
        let bucket = bucket.min(255);
        let mut d = [0u8; 32];
        // Bit `bucket` (counted from the least significant) is set; higher bits clear.
        let byte = 31 - bucket / 8;
        let bit = bucket % 8;
        d[byte] = (1u8 << bit) | (random[byte] & ((1u8 << bit) - 1));
        d[byte + 1..].copy_from_slice(&random[byte + 1..]);
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = self.0[i] ^ d[i];
        }
        Key(k)
    }
}

/// Random key bytes whose keyspace point lies in bucket `bucket` around `local`
/// (SHA-256 cannot be inverted, so random 32-byte keys are hashed until one lands
/// there, at most `tries` times; the closest miss is returned otherwise).
pub fn random_key_in_bucket(local: &Key, bucket: usize, mut random: impl FnMut() -> [u8; 32], tries: usize) -> (Vec<u8>, Key) {
    let mut best: Option<([u8; 32], Key, usize)> = None;
    for _ in 0..tries.max(1) {
        let bytes = random();
        let key = Key::from_bytes(&bytes);
        let index = local.distance(&key).bucket_index().unwrap_or(0);
        let miss = index.abs_diff(bucket);
        if best.as_ref().is_none_or(|b| miss < b.2) {
            best = Some((bytes, key, miss));
        }
        if miss == 0 {
            break;
        }
    }
    let (bytes, key) = best.map(|b| (b.0, b.1)).unwrap_or(([0; 32], Key::from_bytes(&[0; 32])));
    (bytes.to_vec(), key)
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

/// The XOR distance between two keys, ordered as a 256-bit big-endian integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; 32]);

impl Distance {
    /// ⌊log2(distance)⌋ (0..=255), the k-bucket index; `None` for distance zero.
    pub fn bucket_index(&self) -> Option<usize> {
        let zeros = self.leading_zeros();
        (zeros < 256).then(|| 255 - zeros)
    }

    /// Leading zero bits (256 for distance zero): the common prefix length.
    pub fn leading_zeros(&self) -> usize {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros() as usize;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_key_vector() {
        // libp2p-wire.md §2.3: the peer id of the spec's Ed25519 test key.
        let id = data_encoding::HEXLOWER.decode(b"0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e").unwrap();
        let peer = PeerId::from_bytes(&id).unwrap();
        let key = Key::from_peer(&peer);
        assert_eq!(data_encoding::HEXLOWER.encode(key.as_hash()), "dfd53212a4bd2beda3ea8e82d08285370c70a70cfe9c588e28754b23c8033121");
    }

    #[test]
    fn random_key_bytes_land_in_the_bucket() {
        let local = Key::from_bytes(b"local");
        let mut n = 0u64;
        let mut next = move || {
            n += 1;
            Key::from_bytes(&n.to_be_bytes()).0
        };
        for bucket in [255, 250, 245] {
            let (bytes, key) = random_key_in_bucket(&local, bucket, &mut next, 1 << 16);
            assert_eq!(Key::from_bytes(&bytes), key);
            assert_eq!(local.distance(&key).bucket_index(), Some(bucket));
        }
    }

    #[test]
    fn bucket_index_and_random_keys() {
        let a = Key::from_bytes(b"a");
        assert_eq!(a.distance(&a).bucket_index(), None);
        for bucket in [0usize, 1, 7, 8, 9, 100, 254, 255] {
            for seed in 0..4u8 {
                let k = a.random_in_bucket(bucket, [seed.wrapping_mul(37); 32]);
                assert_eq!(a.distance(&k).bucket_index(), Some(bucket));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn xor_is_symmetric_and_triangle(x in proptest::array::uniform32(0u8..), y in proptest::array::uniform32(0u8..)) {
            let (a, b) = (Key::from_hash(x), Key::from_hash(y));
            proptest::prop_assert_eq!(a.distance(&b), b.distance(&a));
            proptest::prop_assert_eq!(a.distance(&b).bucket_index().is_none(), x == y);
        }
    }
}
