//! libp2p-side parsers: multistream-select, length-prefixed framing, Noise, identify,
//! key protobufs.

use bytes::BytesMut;
use rhizome_core::{KeypairExt as _, ProtocolId};
use rhizome_identity::{Keypair, PeerId, PublicKey};
use rhizome_multistream::{Dialer, Listener, Message};

use crate::chunks;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// `Message::decode` over a buffer fed in arbitrary chunks.
pub(crate) fn multistream_message(data: &[u8]) {
    let mut buf = BytesMut::new();
    for chunk in chunks(data) {
        buf.extend_from_slice(chunk);
        while let Ok(Some(_)) = Message::decode(&mut buf) {}
    }
}

fn protocols() -> Vec<ProtocolId> {
    vec![ProtocolId::from_static("/ipfs/ping/1.0.0"), ProtocolId::from_static("/ipfs/id/1.0.0")]
}

/// The listener state machine, fed arbitrary bytes.
pub(crate) fn multistream_listener(data: &[u8]) {
    let supported = protocols();
    let mut listener = Listener::new();
    let mut buf = BytesMut::new();
    for chunk in chunks(data) {
        buf.extend_from_slice(chunk);
        match listener.handle(&mut buf, &supported[..]) {
            Ok(_) => {
                let _ = listener.take_output();
            }
            Err(_) => return,
        }
    }
}

/// The dialer state machine, fed arbitrary answers.
pub(crate) fn multistream_dialer(data: &[u8]) {
    let mut dialer = Dialer::new(protocols());
    let _ = dialer.take_output();
    let mut buf = BytesMut::new();
    for chunk in chunks(data) {
        buf.extend_from_slice(chunk);
        match dialer.handle(&mut buf) {
            Ok(_) => {
                let _ = dialer.take_output();
            }
            Err(_) => return,
        }
    }
}

/// Varint length-prefixed messages with a 4 KiB maximum.
pub(crate) fn length_prefixed(data: &[u8]) {
    let mut reader = data;
    block_on(async {
        for _ in 0..64 {
            match rhizome_core::framing::read_length_prefixed_opt(&mut reader, 4096).await {
                Ok(Some(msg)) => assert!(msg.len() <= 4096),
                _ => return,
            }
        }
    })
}

/// A Noise responder whose initiator sends arbitrary bytes.
pub(crate) fn noise_responder(data: &[u8]) {
    use rhizome_core::SecurityUpgrade as _;
    // One responder config for every input, as a node has: its static key and signed
    // payload are made once, so each input costs only the handshake itself.
    static CONFIG: std::sync::OnceLock<rhizome_noise::Config> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| rhizome_noise::Config::new(Keypair::from_seed([7; 32])));
    let io = tokio::io::join(std::io::Cursor::new(data.to_vec()), tokio::io::sink());
    let _ = block_on(config.secure_inbound(Box::new(io)));
}

/// The handshake payload check (identity key protobuf, signature).
pub(crate) fn noise_payload(data: &[u8]) {
    let (key, payload) = data.split_at(data.len().min(32));
    let _ = rhizome_noise::verify_payload(payload, key);
}

/// An identify message from a fixed peer.
pub(crate) fn identify_message(data: &[u8]) {
    let expected = Keypair::from_seed([3; 32]).peer_id();
    let _ = rhizome_identify::Info::decode(data, expected);
}

/// Public key protobufs and peer id bytes.
pub(crate) fn key_protobuf(data: &[u8]) {
    if let Ok(key) = PublicKey::try_decode_protobuf(data) {
        let _ = key.to_peer_id();
    }
    let _ = PeerId::from_bytes(data);
    let _ = Keypair::from_protobuf_encoding(data);
}
