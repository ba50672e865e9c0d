//! Hyperswarm wire parsers: secret-stream framing, the session, the Noise handshake.

use rhizome_secret_stream::noise::{Handshake, HandshakeResult, Pattern};
use rhizome_secret_stream::{FrameDecoder, Keypair, Session};
use zeroize::Zeroizing;

use crate::chunks;

/// Small frames: the decoder must never allocate past its maximum.
const MAX: usize = 1 << 16;

/// uint24 frames fed in arbitrary chunks.
pub(crate) fn frames(data: &[u8]) {
    let mut decoder = FrameDecoder::new(MAX);
    for chunk in chunks(data) {
        let mut input = chunk;
        loop {
            match decoder.decode(input) {
                Ok((used, frame)) => {
                    if let Some(frame) = frame {
                        assert!(frame.len() <= MAX);
                    }
                    input = &input[used..];
                    if used == 0 || input.is_empty() {
                        break;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

fn fixed_session() -> Session {
    let keys = HandshakeResult {
        is_initiator: false,
        tx: Zeroizing::new([1; 32]),
        rx: Zeroizing::new([2; 32]),
        hash: [3; 64],
        public_key: [4; 32],
        remote_public_key: [5; 32],
    };
    Session::new(&keys, MAX)
}

/// The session (header, then encrypted messages) fed arbitrary bytes.
pub(crate) fn session(data: &[u8]) {
    let mut s = fixed_session();
    for chunk in chunks(data) {
        let mut input = chunk;
        loop {
            match s.decode(input) {
                Ok((used, _)) => {
                    input = &input[used..];
                    if used == 0 || input.is_empty() {
                        break;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// A Noise responder (XX, then IK) reading arbitrary first messages.
pub(crate) fn handshake(data: &[u8]) {
    for pattern in [Pattern::Xx, Pattern::Ik] {
        if let Ok(mut hs) = Handshake::new(pattern, false, Keypair::from_seed(&[9; 32]), b"prologue", None) {
            let _ = hs.read_message(data);
        }
    }
}
