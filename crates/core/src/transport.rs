//! The `Transport` trait: turn a multiaddr into a byte pipe.

use rhizome_identity::Multiaddr;

use crate::io::BoxIo;

/// A raw (not yet secured) connection with its addresses.
pub struct RawConn {
    /// The byte pipe.
    pub io: BoxIo,
    /// Our end's address.
    pub local_addr: Multiaddr,
    /// The remote end's address (for an inbound connection, the address it came from).
    pub remote_addr: Multiaddr,
}

impl std::fmt::Debug for RawConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConn").field("local_addr", &self.local_addr).field("remote_addr", &self.remote_addr).finish_non_exhaustive()
    }
}

/// Errors from dialing or listening.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// This transport cannot handle the address.
    #[error("address not supported by this transport: {0}")]
    Unsupported(Multiaddr),
    /// A name in the address did not resolve.
    #[error("could not resolve {addr}")]
    Resolve {
        /// The address.
        addr: Multiaddr,
        /// Why resolution failed.
        #[source]
        source: std::io::Error,
    },
    /// Nobody listens at the address.
    #[error("connection refused by {0}")]
    Refused(Multiaddr),
    /// The address is already in use (listen).
    #[error("address in use: {0}")]
    AddrInUse(Multiaddr),
    /// Any other I/O error.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// Turns a [`Multiaddr`] into a byte pipe.
///
/// The swarm holds a list of transports and uses the first whose
/// [`supports`](Transport::supports) returns true for an address.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs (`"tcp"`, `"memory"`).
    fn name(&self) -> &'static str;

    /// Whether this transport can dial or listen on `addr` (ignoring a trailing `/p2p/…`).
    fn supports(&self, addr: &Multiaddr) -> bool;

    /// Opens a connection to `addr`.
    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError>;

    /// Starts listening on `addr` (port 0 picks a free port).
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError>;
}

/// A bound listener that yields inbound raw connections.
#[async_trait::async_trait]
pub trait Listener: Send + 'static {
    /// The address actually bound (with the real port).
    fn local_addr(&self) -> Multiaddr;

    /// Waits for the next inbound connection.
    ///
    /// An error here is about one connection attempt (e.g. too many open files); the
    /// listener stays usable unless [`TransportError::Io`] keeps repeating.
    async fn accept(&mut self) -> Result<RawConn, TransportError>;
}
