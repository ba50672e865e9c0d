//! The byte-pipe type every layer passes up: a boxed tokio `AsyncRead + AsyncWrite`.

use tokio::io::{AsyncRead, AsyncWrite};

/// Anything that is a full-duplex async byte pipe.
pub trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncIo for T {}

/// A boxed byte pipe: a raw connection, a secured channel or a muxed stream.
pub type BoxIo = Box<dyn AsyncIo>;
