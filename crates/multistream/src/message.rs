//! Message framing: `uvarint(len) || utf8 || '\n'`, where `len` counts the newline.

use bytes::{Buf, BufMut, BytesMut};

use crate::error::ProtocolError;

/// The protocol header both sides send first.
pub const HEADER: &str = "/multistream/1.0.0";
/// The largest message we accept, in bytes, newline included (go and js use the same
/// 1024-byte line limit).
pub const MAX_MESSAGE_LEN: usize = 1024;

/// One multistream-select message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `/multistream/1.0.0`
    Header,
    /// A protocol proposal or its echo.
    Protocol(String),
    /// `na`: the proposal is refused.
    NotAvailable,
    /// `ls`: list supported protocols.
    ListProtocols,
}

impl Message {
    /// Appends the framed message to `out`.
    pub fn encode(&self, out: &mut impl BufMut) {
        let line = match self {
            Message::Header => HEADER,
            Message::Protocol(p) => p.as_str(),
            Message::NotAvailable => "na",
            Message::ListProtocols => "ls",
        };
        encode_line(line, out);
    }

    /// Decodes one message from the front of `buf`, consuming it. Returns `Ok(None)`
    /// if `buf` does not yet hold a whole message (nothing is consumed then).
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Message>, ProtocolError> {
        let (len, rest) = match unsigned_varint::decode::u64(buf) {
            Ok(v) => v,
            Err(unsigned_varint::decode::Error::Insufficient) if buf.len() < 10 => return Ok(None),
            Err(_) => return Err(ProtocolError::InvalidVarint),
        };
        if len > MAX_MESSAGE_LEN as u64 {
            return Err(ProtocolError::MessageTooLong(len));
        }
        let prefix = buf.len() - rest.len();
        let len = len as usize;
        if rest.len() < len {
            return Ok(None);
        }
        buf.advance(prefix);
        let body = buf.split_to(len);
        let Some((&b'\n', line)) = body.split_last() else {
            return Err(ProtocolError::MissingNewline);
        };
        let line = std::str::from_utf8(line).map_err(|_| ProtocolError::InvalidUtf8)?;
        Ok(Some(match line {
            HEADER => Message::Header,
            "na" => Message::NotAvailable,
            "ls" => Message::ListProtocols,
            p if p.starts_with('/') && !p.contains('\n') => Message::Protocol(p.to_owned()),
            _ => return Err(ProtocolError::InvalidProtocol),
        }))
    }
}

fn encode_line(line: &str, out: &mut impl BufMut) {
    let mut len = unsigned_varint::encode::usize_buffer();
    out.put_slice(unsigned_varint::encode::usize(line.len() + 1, &mut len));
    out.put_slice(line.as_bytes());
    out.put_u8(b'\n');
}

/// Appends the answer to `ls`: one message whose body is the list of
/// `uvarint(len) protocol '\n'` entries followed by a final `'\n'`.
pub fn encode_protocol_list<'a>(protocols: impl IntoIterator<Item = &'a str>, out: &mut impl BufMut) {
    let mut body = Vec::new();
    for p in protocols {
        encode_line(p, &mut body);
    }
    body.push(b'\n');
    let mut len = unsigned_varint::encode::usize_buffer();
    out.put_slice(unsigned_varint::encode::usize(body.len(), &mut len));
    out.put_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(msg: &Message) -> String {
        let mut out = Vec::new();
        msg.encode(&mut out);
        data_encoding::HEXLOWER.encode(&out)
    }

    #[test]
    fn wire_vectors() {
        assert_eq!(hex(&Message::Header), "132f6d756c746973747265616d2f312e302e300a");
        assert_eq!(hex(&Message::NotAvailable), "036e610a");
        assert_eq!(hex(&Message::ListProtocols), "036c730a");
        assert_eq!(hex(&Message::Protocol("/noise".into())), "072f6e6f6973650a");
        assert_eq!(hex(&Message::Protocol("/yamux/1.0.0".into())), "0d2f79616d75782f312e302e300a");
        assert_eq!(hex(&Message::Protocol("/ipfs/ping/1.0.0".into())), "112f697066732f70696e672f312e302e300a");
    }

    #[test]
    fn protocol_list_vector() {
        let mut out = Vec::new();
        encode_protocol_list(["/a", "/bc"], &mut out);
        assert_eq!(out, b"\x0a\x03/a\n\x04/bc\n\n");
    }

    #[test]
    fn partial_input_consumes_nothing() {
        let mut full = Vec::new();
        Message::Header.encode(&mut full);
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(Message::decode(&mut buf), Ok(None));
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn bad_messages() {
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"\x03abc", ProtocolError::MissingNewline),
            (b"\x03ab\n", ProtocolError::InvalidProtocol),
            (b"\x03\xff\xfe\n", ProtocolError::InvalidUtf8),
            (b"\x00", ProtocolError::MissingNewline),
            (b"\x81\x08", ProtocolError::MessageTooLong(1025)),
            (&[0xff; 10], ProtocolError::InvalidVarint),
        ];
        for (input, want) in cases {
            let mut buf = BytesMut::from(*input);
            assert_eq!(Message::decode(&mut buf).as_ref(), Err(want), "input {input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(name in "/[a-zA-Z0-9/._-]{0,200}", which in 0u8..4) {
            let msg = match which {
                0 => Message::Header,
                1 => Message::NotAvailable,
                2 => Message::ListProtocols,
                _ => Message::Protocol(name),
            };
            let mut out = Vec::new();
            msg.encode(&mut out);
            out.extend_from_slice(b"leftover");
            let mut buf = BytesMut::from(&out[..]);
            let decoded = Message::decode(&mut buf).unwrap();
            proptest::prop_assert_eq!(decoded, Some(msg));
            proptest::prop_assert_eq!(&buf[..], b"leftover");
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = Message::decode(&mut buf) {}
        }
    }
}
