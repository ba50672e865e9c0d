//! hyperdht value encodings (the `value` field of dht-rpc messages).

pub mod mutable;
