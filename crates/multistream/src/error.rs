/// A malformed multistream-select message from the remote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message longer than [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN).
    #[error("message of {0} bytes exceeds the maximum of {max}", max = crate::MAX_MESSAGE_LEN)]
    MessageTooLong(u64),
    /// The length prefix is not a valid unsigned varint.
    #[error("invalid length prefix")]
    InvalidVarint,
    /// The message does not end with `\n`.
    #[error("message does not end with a newline")]
    MissingNewline,
    /// The message is not UTF-8.
    #[error("message is not valid UTF-8")]
    InvalidUtf8,
    /// A line that is neither `na`, `ls`, the header, nor a protocol starting with `/`.
    #[error("invalid protocol name")]
    InvalidProtocol,
    /// A valid message at the wrong moment (e.g. no header first, or an echo of a
    /// protocol we did not propose).
    #[error("unexpected message")]
    UnexpectedMessage,
    /// The remote proposed more than [`MAX_PROPOSALS`](crate::MAX_PROPOSALS) protocols.
    #[error("too many protocol proposals")]
    TooManyProposals,
}

/// Negotiation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No protocol in common: every proposal was refused (or the remote closed the
    /// stream during negotiation, which rust-libp2p also treats as a refusal).
    #[error("no protocol in common")]
    Failed,
    /// The remote closed the connection before a lazy negotiation was confirmed
    /// (during a connection upgrade: usually a listener that refused us at accept,
    /// e.g. by a connection limit).
    #[error("remote closed the connection during protocol negotiation")]
    Closed,
    /// The remote broke the multistream-select protocol.
    #[error("multistream-select protocol violation")]
    Protocol(#[from] ProtocolError),
    /// I/O error.
    #[error("I/O error during negotiation")]
    Io(#[from] std::io::Error),
}

impl From<NegotiationError> for std::io::Error {
    fn from(e: NegotiationError) -> Self {
        match e {
            NegotiationError::Io(e) => e,
            NegotiationError::Closed => std::io::Error::new(std::io::ErrorKind::UnexpectedEof, NegotiationError::Closed),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}
