//! Client side of hyperdht's mutable and immutable records (Node's `dht.mutablePut`,
//! `mutableGet`, `immutablePut`, `immutableGet`), as methods of [`Dht`].
//!
//! A put is a query (MUTABLE_GET / IMMUTABLE_GET towards the target) whose closest
//! persistent responders then get the put with the token they gave us. A get is the same
//! query; every value is checked (signature and seq, or hash) before it is returned.

use futures::future::join_all;
use rhizome_secret_stream::Keypair;

use crate::message::Id;
use crate::node::OutRequest;
use crate::persistent::command;
use crate::query::Reply;
use crate::wire::mutable::{self, MutablePut, MutableRecord, SEQ_REUSED, SEQ_TOO_LOW};
use crate::{Dht, DhtError};

/// Why a record operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The DHT failed.
    #[error(transparent)]
    Dht(#[from] DhtError),
    /// No storing node acknowledged the put.
    #[error("no storing node accepted the put")]
    NotStored,
    /// Storing nodes hold a different value under this seq (hyperdht error 16).
    #[error("the seq is already used for another value")]
    SeqReused,
    /// Storing nodes hold a higher seq (hyperdht error 17).
    #[error("the seq is lower than the stored one")]
    SeqTooLow,
    /// Values were found but none had a valid signature (or seq ≥ the minimum asked).
    #[error("mutable record signature does not verify")]
    BadSignature,
    /// Values were found but none hashed to the requested target.
    #[error("immutable value does not match its hash")]
    BadHash,
}

/// A verified mutable record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableValue {
    /// Its seq.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// The signature (verified against the public key asked for).
    pub signature: [u8; 64],
}

/// What a put reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The target written.
    pub target: Id,
    /// Storing nodes that acknowledged it.
    pub stored: usize,
}

impl Dht {
    /// Sends `req`+token to every closest node; (acknowledged, first hyperdht error seen).
    async fn commit(&self, closest: &[Reply], req: OutRequest) -> (usize, u64) {
        let sends = closest.iter().filter_map(|r| {
            let token = r.token?;
            let req = req.clone().token(token);
            Some(self.request(r.addr, req))
        });
        let mut stored = 0;
        let mut error = 0;
        for res in join_all(sends).await {
            match res {
                Ok(r) if r.error == 0 => stored += 1,
                Ok(r) if error == 0 => error = r.error,
                _ => {}
            }
        }
        (stored, error)
    }

    /// Stores `value` under `keypair`'s public key with sequence number `seq` (signed here).
    pub async fn mutable_put(&self, keypair: &Keypair, value: &[u8], seq: u64) -> Result<PutResult, RecordError> {
        let put = MutablePut::sign(keypair.public_key(), seq, value.to_vec(), |m| keypair.sign(m));
        let target = put.target();
        let closest = self.query(target, command::MUTABLE_GET, Some(mutable::encode_get_request(0))).await?.finish().await?;
        let req = OutRequest::new(command::MUTABLE_PUT).target(target).value(put.encode());
        match self.commit(&closest, req).await {
            (0, SEQ_REUSED) => Err(RecordError::SeqReused),
            (0, SEQ_TOO_LOW) => Err(RecordError::SeqTooLow),
            (0, _) => Err(RecordError::NotStored),
            (stored, _) => Ok(PutResult { target, stored }),
        }
    }

    /// The latest record of `public_key` with seq ≥ `min_seq` whose signature verifies;
    /// `Ok(None)` if no node has one, [`RecordError::BadSignature`] if values came back but
    /// none verified.
    pub async fn mutable_get(&self, public_key: &[u8; 32], min_seq: u64) -> Result<Option<MutableValue>, RecordError> {
        let target = mutable::mutable_target(public_key);
        let mut q = self.query(target, command::MUTABLE_GET, Some(mutable::encode_get_request(min_seq))).await?;
        let mut best: Option<MutableValue> = None;
        let mut refused = false;
        while let Some(reply) = q.next().await {
            let Some(v) = reply.value else { continue };
            let Ok(rec) = MutableRecord::decode(&v) else {
                refused = true;
                continue;
            };
            if rec.seq < min_seq || !rec.verify(public_key) {
                refused = true;
                continue;
            }
            if best.as_ref().is_none_or(|b| rec.seq > b.seq) {
                best = Some(MutableValue { seq: rec.seq, value: rec.value, signature: rec.signature });
            }
        }
        match best {
            Some(b) => Ok(Some(b)),
            None if refused => Err(RecordError::BadSignature),
            None => Ok(None),
        }
    }

    /// Stores `value` under its BLAKE2b-256 hash, which is returned.
    pub async fn immutable_put(&self, value: &[u8]) -> Result<PutResult, RecordError> {
        let target = mutable::immutable_target(value);
        let closest = self.query(target, command::IMMUTABLE_GET, None).await?.finish().await?;
        let req = OutRequest::new(command::IMMUTABLE_PUT).target(target).value(value.to_vec());
        match self.commit(&closest, req).await {
            (0, _) => Err(RecordError::NotStored),
            (stored, _) => Ok(PutResult { target, stored }),
        }
    }

    /// The value stored under `hash`, checked against it; `Ok(None)` if no node has it,
    /// [`RecordError::BadHash`] if values came back but none matched.
    pub async fn immutable_get(&self, hash: &Id) -> Result<Option<Vec<u8>>, RecordError> {
        let mut q = self.query(*hash, command::IMMUTABLE_GET, None).await?;
        let mut refused = false;
        while let Some(reply) = q.next().await {
            let Some(v) = reply.value else { continue };
            if mutable::immutable_target(&v) == *hash {
                return Ok(Some(v));
            }
            refused = true;
        }
        if refused { Err(RecordError::BadHash) } else { Ok(None) }
    }
}
