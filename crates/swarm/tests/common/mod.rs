//! Shared by the swarm integration tests.

use rhizome_core::{Keypair, KeypairExt as _, Transport};
use rhizome_swarm::{Config, Swarm};

/// A swarm with identity `[seed; 32]`, Noise, yamux and the given transport.
pub(crate) fn swarm_with(seed: u8, transport: impl Transport) -> Swarm {
    swarm_with_config(seed, transport, Config::default())
}

/// Like [`swarm_with`], with limits and timeouts of the test's choosing.
#[allow(dead_code)] // not every test binary uses it
pub(crate) fn swarm_with_config(seed: u8, transport: impl Transport, config: Config) -> Swarm {
    let kp = Keypair::from_seed([seed; 32]);
    Swarm::builder(kp.clone())
        .with_transport(transport)
        .with_security(rhizome_noise::Config::new(kp))
        .with_muxer(rhizome_yamux::Config::default())
        .with_config(config)
        .build()
        .expect("swarm")
}
