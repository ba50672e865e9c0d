//! Fuzz targets: one function per parser or state machine that reads bytes from the
//! network. Each must return (never panic, never allocate without bound) whatever
//! the input. `fuzz/` runs them under libFuzzer (`scripts/fuzz`); the tests replay
//! the committed corpora (`fuzz/corpus/<target>/`) on stable Rust.
#![deny(missing_docs)]

mod autonat;
mod dht;
mod hyperdht;
mod later;
mod libp2p;
mod secret;
mod yamux;

/// A fuzz target: takes arbitrary bytes.
pub type Target = fn(&[u8]);

/// Every target, by name (the name of its `fuzz/fuzz_targets/<name>.rs` and corpus).
pub const TARGETS: &[(&str, Target)] = &[
    ("multistream_message", libp2p::multistream_message),
    ("multistream_listener", libp2p::multistream_listener),
    ("multistream_dialer", libp2p::multistream_dialer),
    ("length_prefixed", libp2p::length_prefixed),
    ("noise_responder", libp2p::noise_responder),
    ("noise_payload", libp2p::noise_payload),
    ("identify_message", libp2p::identify_message),
    ("key_protobuf", libp2p::key_protobuf),
    ("secret_stream_frames", secret::frames),
    ("secret_stream_session", secret::session),
    ("secret_stream_handshake", secret::handshake),
    ("kad_message", later::kad_message),
    ("udx_header", later::udx_header),
    ("udx_session", later::udx_session),
    ("dht_rpc_message", dht::message),
    ("dht_rpc_node", dht::node),
    ("hyperdht_values", hyperdht::values),
    ("hyperdht_store", hyperdht::store),
    ("autonat_message", autonat::autonat_message),
    ("yamux_session", yamux::yamux_session),
];

/// Runs the target called `name`; returns whether it exists.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, target)) => {
            target(data);
            true
        }
        None => false,
    }
}

/// Splits the input in chunks whose sizes come from the input itself, so that
/// stateful targets see the bytes arrive in arbitrary pieces.
pub(crate) fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let (sizes, rest) = data.split_at(data.len().min(4));
    let sizes: Vec<usize> = sizes.iter().map(|b| usize::from(*b % 64) + 1).collect();
    let mut rest = rest;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(rest.len()).min(rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}
