//! The sans-IO handshake state machine: patterns IK and XX, message tokens processed as
//! noise-handshake does, and the final split.

use zeroize::Zeroizing;

use super::dh::{DHLEN, dh};
use super::symmetric::{SymmetricState, TAGLEN};
use crate::Keypair;
use crate::error::NoiseError;

/// The largest Noise message (noise-handshake and the Noise spec).
pub const MAX_MESSAGE_LEN: usize = 65535;

/// A Noise handshake pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pattern {
    /// `IK`: `<- s`, `-> e, es, s, ss`, `<- e, ee, se`. The initiator knows the
    /// responder's key. hyperdht's relayed handshake, and secret-stream's `pattern: 'IK'`.
    Ik,
    /// `XX`: `-> e`, `<- e, ee, s, es`, `-> s, se`. secret-stream's default when it runs
    /// the handshake itself.
    Xx,
}

impl Pattern {
    /// The pattern's name as it appears in the protocol name.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Ik => "IK",
            Pattern::Xx => "XX",
        }
    }

    /// `Noise_<pattern>_Ed25519_ChaChaPoly_BLAKE2b`.
    pub fn protocol_name(self) -> String {
        format!("Noise_{}_Ed25519_ChaChaPoly_BLAKE2b", self.name())
    }

    fn messages(self) -> &'static [&'static [Token]] {
        use Token::*;
        match self {
            Pattern::Ik => &[&[E, Es, S, Ss], &[E, Ee, Se]],
            Pattern::Xx => &[&[E], &[E, Ee, S, Es], &[S, Se]],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Token {
    E,
    S,
    Ee,
    Es,
    Se,
    Ss,
}

/// What a finished handshake hands to the secret stream (the fields of secret-stream's
/// `opts.handshake`, plus the role).
#[derive(Clone)]
pub struct HandshakeResult {
    /// Whether we were the Noise initiator.
    pub is_initiator: bool,
    /// Our sending key (the first 32 bytes of the split output for our role).
    pub tx: Zeroizing<[u8; 32]>,
    /// Our receiving key.
    pub rx: Zeroizing<[u8; 32]>,
    /// The 64-byte handshake hash (the final `h`).
    pub hash: [u8; 64],
    /// Our static public key.
    pub public_key: [u8; 32],
    /// The remote's static public key, authenticated by the handshake.
    pub remote_public_key: [u8; 32],
}

impl std::fmt::Debug for HandshakeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeResult")
            .field("is_initiator", &self.is_initiator)
            .field("public_key", &crate::error::KeyHex(self.public_key))
            .field("remote_public_key", &crate::error::KeyHex(self.remote_public_key))
            .finish_non_exhaustive()
    }
}

/// A Noise handshake in progress, fed and drained with whole messages (no I/O).
///
/// ```
/// use rhizome_secret_stream::{Keypair, noise::{Handshake, Pattern}};
/// # fn main() -> Result<(), rhizome_secret_stream::NoiseError> {
/// let (a, b) = (Keypair::generate(), Keypair::generate());
/// let mut i = Handshake::new(Pattern::Ik, true, a, b"prologue", Some(b.public_key()))?;
/// let mut r = Handshake::new(Pattern::Ik, false, b, b"prologue", None)?;
/// let m1 = i.write_message(b"hello")?;
/// assert_eq!(r.read_message(&m1)?, b"hello");
/// let m2 = r.write_message(b"")?;
/// i.read_message(&m2)?;
/// let (i, r) = (i.finish()?, r.finish()?);
/// assert_eq!(i.tx, r.rx);
/// assert_eq!(i.hash, r.hash);
/// # Ok(())
/// # }
/// ```
pub struct Handshake {
    pattern: Pattern,
    initiator: bool,
    s: Keypair,
    e: Option<Keypair>,
    fixed_e: Option<Keypair>,
    re: Option<[u8; 32]>,
    rs: Option<[u8; 32]>,
    sym: SymmetricState,
    next: usize,
    failed: bool,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("pattern", &self.pattern)
            .field("initiator", &self.initiator)
            .field("next", &self.next)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Starts a handshake: `h = ck = protocol name`, then MixHash(prologue), then for IK
    /// MixHash(responder static key). An IK initiator must pass `remote_static`; other
    /// roles ignore it (an XX peer learns the key from the handshake).
    pub fn new(
        pattern: Pattern,
        initiator: bool,
        s: Keypair,
        prologue: &[u8],
        remote_static: Option<[u8; 32]>,
    ) -> Result<Self, NoiseError> {
        let mut sym = SymmetricState::new(pattern.protocol_name().as_bytes());
        sym.mix_hash(prologue);
        let mut rs = None;
        if pattern == Pattern::Ik {
            let responder_static = if initiator {
                rs = Some(remote_static.ok_or(NoiseError::MissingRemoteStatic)?);
                rs
            } else {
                Some(s.public_key())
            };
            if let Some(key) = responder_static {
                sym.mix_hash(&key);
            }
        }
        Ok(Self { pattern, initiator, s, e: None, fixed_e: None, re: None, rs, sym, next: 0, failed: false })
    }

    /// Uses a fixed ephemeral key instead of a random one (deterministic test vectors only).
    #[cfg(test)]
    pub(crate) fn set_ephemeral_for_tests(&mut self, e: Keypair) {
        self.fixed_e = Some(e);
    }

    /// The pattern.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// Whether we are the initiator.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether every message has been written or read.
    pub fn is_finished(&self) -> bool {
        !self.failed && self.next == self.pattern.messages().len()
    }

    /// Whether the next message is ours to write (false once finished).
    pub fn is_write_turn(&self) -> bool {
        !self.failed && self.next < self.pattern.messages().len() && self.next.is_multiple_of(2) == self.initiator
    }

    /// The remote static key, once known (at once for an IK initiator; after the message
    /// that carries it otherwise). Check it as early as possible.
    pub fn remote_static(&self) -> Option<[u8; 32]> {
        self.rs
    }

    /// The current handshake hash `h` (the channel binding once finished).
    pub fn hash(&self) -> [u8; 64] {
        self.sym.hash()
    }

    /// Writes the next message with `payload` (sent in clear in XX message 1).
    pub fn write_message(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.check_turn(true)?;
        let result = self.write_inner(payload);
        self.settle(result)
    }

    /// Reads the next message and returns its payload.
    pub fn read_message(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.check_turn(false)?;
        if message.len() > MAX_MESSAGE_LEN {
            self.failed = true;
            return Err(NoiseError::MessageTooLarge { len: message.len() });
        }
        let result = self.read_inner(message);
        self.settle(result)
    }

    /// Split into transport keys. Initiator `tx = k1, rx = k2`; the responder the reverse.
    pub fn finish(self) -> Result<HandshakeResult, NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        let remote_public_key = match (self.is_finished(), self.rs) {
            (true, Some(rs)) => rs,
            _ => return Err(NoiseError::NotFinished),
        };
        let (k1, k2) = self.sym.split();
        let (tx, rx) = if self.initiator { (k1, k2) } else { (k2, k1) };
        Ok(HandshakeResult {
            is_initiator: self.initiator,
            tx,
            rx,
            hash: self.sym.hash(),
            public_key: self.s.public_key(),
            remote_public_key,
        })
    }

    fn check_turn(&mut self, write: bool) -> Result<(), NoiseError> {
        if self.failed {
            return Err(NoiseError::Failed);
        }
        if self.next >= self.pattern.messages().len() {
            return Err(NoiseError::OutOfOrder { expected: "nothing (finished)" });
        }
        if self.is_write_turn() != write {
            // An out-of-order call is a protocol violation by whoever fed us: fail hard.
            self.failed = true;
            return Err(NoiseError::OutOfOrder { expected: if write { "read" } else { "write" } });
        }
        Ok(())
    }

    fn settle<T>(&mut self, result: Result<T, NoiseError>) -> Result<T, NoiseError> {
        match result {
            Ok(v) => {
                self.next += 1;
                if self.next == self.pattern.messages().len() {
                    self.e = None;
                    self.re = None;
                }
                Ok(v)
            }
            Err(e) => {
                self.failed = true;
                self.e = None;
                Err(e)
            }
        }
    }

    fn write_inner(&mut self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut out = Vec::with_capacity(DHLEN * 2 + TAGLEN * 2 + payload.len());
        for token in self.pattern.messages()[self.next] {
            match token {
                Token::E => {
                    let e = self.fixed_e.take().unwrap_or_else(Keypair::generate);
                    let public = e.public_key();
                    self.sym.mix_hash(&public);
                    out.extend_from_slice(&public);
                    self.e = Some(e);
                }
                Token::S => {
                    let ct = self.sym.encrypt_and_hash(&self.s.public_key())?;
                    out.extend_from_slice(&ct);
                }
                dh_token => self.mix_dh(*dh_token)?,
            }
        }
        out.extend_from_slice(&self.sym.encrypt_and_hash(payload)?);
        if out.len() > MAX_MESSAGE_LEN {
            return Err(NoiseError::MessageTooLarge { len: out.len() });
        }
        Ok(out)
    }

    fn read_inner(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let mut rest = message;
        for token in self.pattern.messages()[self.next] {
            match token {
                Token::E => {
                    let re: [u8; 32] = take(&mut rest, DHLEN, message.len())?.try_into().map_err(|_| NoiseError::InvalidPublicKey)?;
                    self.sym.mix_hash(&re);
                    self.re = Some(re);
                }
                Token::S => {
                    let len = if self.sym.has_key() { DHLEN + TAGLEN } else { DHLEN };
                    let ct = take(&mut rest, len, message.len())?;
                    let rs: [u8; 32] = self.sym.decrypt_and_hash(ct)?.try_into().map_err(|_| NoiseError::InvalidPublicKey)?;
                    self.rs = Some(rs);
                }
                dh_token => self.mix_dh(*dh_token)?,
            }
        }
        if self.sym.has_key() && rest.len() < TAGLEN {
            return Err(NoiseError::MessageTooShort { need: message.len() - rest.len() + TAGLEN, got: message.len() });
        }
        self.sym.decrypt_and_hash(rest)
    }

    /// MixKey(DH(local, remote)) for `ee`, `es`, `se`, `ss` from our side.
    fn mix_dh(&mut self, token: Token) -> Result<(), NoiseError> {
        // (local static?, remote static?) as noise-handshake's keyPattern computes it.
        let (local_static, remote_static) = match token {
            Token::Ee => (false, false),
            Token::Es => (!self.initiator, self.initiator),
            Token::Se => (self.initiator, !self.initiator),
            Token::Ss => (true, true),
            Token::E | Token::S => return Ok(()),
        };
        let local = if local_static { Some(&self.s) } else { self.e.as_ref() };
        let remote = if remote_static { self.rs } else { self.re };
        let (Some(local), Some(remote)) = (local, remote) else {
            return Err(NoiseError::MissingRemoteStatic);
        };
        let shared = dh(&local.seed(), &remote)?;
        self.sym.mix_key(shared.as_ref());
        Ok(())
    }
}

/// Takes `n` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], n: usize, total: usize) -> Result<&'a [u8], NoiseError> {
    if rest.len() < n {
        return Err(NoiseError::MessageTooShort { need: total - rest.len() + n, got: total });
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}
