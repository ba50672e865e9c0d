//! Deterministic driver tests: two machines wired back to back, plus byte vectors.

use super::*;

fn pid(s: &str) -> ProtocolId {
    ProtocolId::new(s).unwrap()
}

/// Runs a dialer against a listener in memory, moving bytes until both finish.
fn drive(dialer: &mut Dialer, listener: &mut Listener, supported: &[ProtocolId]) -> (Result<Progress, String>, Result<Progress, String>) {
    let (mut to_l, mut to_d) = (BytesMut::new(), BytesMut::new());
    let (mut d_res, mut l_res) = (Ok(Progress::NeedInput), Ok(Progress::NeedInput));
    for _ in 0..100 {
        to_l.extend_from_slice(&dialer.take_output());
        if matches!(l_res, Ok(Progress::NeedInput)) {
            l_res = listener.handle(&mut to_l, supported).map_err(|e| e.to_string());
        }
        to_d.extend_from_slice(&listener.take_output());
        if matches!(d_res, Ok(Progress::NeedInput)) {
            d_res = dialer.handle(&mut to_d).map_err(|e| e.to_string());
        }
        let d_settled = !matches!(d_res, Ok(Progress::NeedInput));
        let l_settled = !matches!(l_res, Ok(Progress::NeedInput));
        if d_settled && (l_settled || d_res.is_err()) {
            break;
        }
    }
    (d_res, l_res)
}

#[test]
fn first_choice_accepted() {
    let supported = vec![pid("/noise")];
    let mut d = Dialer::new(vec![pid("/noise")]);
    let mut l = Listener::new();
    let (d_res, l_res) = drive(&mut d, &mut l, &supported);
    assert_eq!(d_res, Ok(Progress::Done(pid("/noise"))));
    assert_eq!(l_res, Ok(Progress::Done(pid("/noise"))));
}

#[test]
fn falls_back_after_na() {
    let supported = vec![pid("/yamux/1.0.0")];
    let mut d = Dialer::new(vec![pid("/mplex/6.7.0"), pid("/yamux/1.0.0")]);
    let mut l = Listener::new();
    let (d_res, _) = drive(&mut d, &mut l, &supported);
    assert_eq!(d_res, Ok(Progress::Done(pid("/yamux/1.0.0"))));
}

#[test]
fn nothing_in_common_fails() {
    let mut d = Dialer::new(vec![pid("/a"), pid("/b")]);
    let mut l = Listener::new();
    let (d_res, l_res) = drive(&mut d, &mut l, &[pid("/c")]);
    assert_eq!(d_res, Err("no protocol in common".to_owned()));
    assert_eq!(l_res, Ok(Progress::NeedInput));
}

#[test]
fn dialer_bytes_match_the_digest() {
    // rust-libp2p's first segment: header then /noise (noise msg1 would follow).
    let mut d = Dialer::new(vec![pid("/noise")]);
    let out = d.take_output();
    assert_eq!(data_encoding::HEXLOWER.encode(&out), "132f6d756c746973747265616d2f312e302e300a072f6e6f6973650a");
}

#[test]
fn leftover_bytes_after_echo_stay_in_the_buffer() {
    let mut d = Dialer::new(vec![pid("/noise")]);
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    Message::Protocol("/noise".into()).encode(&mut input);
    input.extend_from_slice(&[0x00, 0x20, 1, 2, 3]);
    assert_eq!(d.handle(&mut input).unwrap(), Progress::Done(pid("/noise")));
    assert_eq!(&input[..], &[0x00, 0x20, 1, 2, 3]);

    // The listener side: a lazy dialer's header, proposal and first noise bytes in one segment.
    let mut l = Listener::new();
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    Message::Protocol("/noise".into()).encode(&mut input);
    input.extend_from_slice(b"early data");
    assert_eq!(l.handle(&mut input, &[pid("/noise")][..]).unwrap(), Progress::Done(pid("/noise")));
    assert_eq!(&input[..], b"early data");
    let mut want = Vec::new();
    Message::Header.encode(&mut want);
    Message::Protocol("/noise".into()).encode(&mut want);
    assert_eq!(l.take_output(), want, "header and echo go out in one write");
}

#[test]
fn listener_answers_ls() {
    let mut l = Listener::new();
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    Message::ListProtocols.encode(&mut input);
    let supported = vec![pid("/a"), pid("/bc")];
    assert_eq!(l.handle(&mut input, &supported).unwrap(), Progress::NeedInput);
    let mut want = Vec::new();
    Message::Header.encode(&mut want);
    want.extend_from_slice(b"\x0a\x03/a\n\x04/bc\n\n");
    assert_eq!(l.take_output(), want);
}

#[test]
fn header_must_come_first() {
    let mut l = Listener::new();
    let mut input = BytesMut::new();
    Message::Protocol("/noise".into()).encode(&mut input);
    assert!(matches!(l.handle(&mut input, &[pid("/noise")][..]), Err(NegotiationError::Protocol(ProtocolError::UnexpectedMessage))));
    let mut d = Dialer::new(vec![pid("/noise")]);
    let mut input = BytesMut::new();
    Message::NotAvailable.encode(&mut input);
    assert!(d.handle(&mut input).is_err());
}

#[test]
fn dialer_refuses_echo_of_another_protocol() {
    let mut d = Dialer::new(vec![pid("/noise")]);
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    Message::Protocol("/tls/1.0.0".into()).encode(&mut input);
    assert!(matches!(d.handle(&mut input), Err(NegotiationError::Protocol(ProtocolError::UnexpectedMessage))));
}

#[test]
fn listener_bounds_proposals() {
    let mut l = Listener::new();
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    for i in 0..MAX_PROPOSALS {
        Message::Protocol(format!("/p/{i}")).encode(&mut input);
    }
    assert!(matches!(l.handle(&mut input, &[pid("/x")][..]), Err(NegotiationError::Protocol(ProtocolError::TooManyProposals))));
}

#[test]
fn overlong_line_is_an_error() {
    let mut l = Listener::new();
    let mut input = BytesMut::new();
    Message::Header.encode(&mut input);
    input.extend_from_slice(&[0x80, 0x10]); // announces 2048 bytes
    assert!(matches!(l.handle(&mut input, &[pid("/x")][..]), Err(NegotiationError::Protocol(ProtocolError::MessageTooLong(2048)))));
}

proptest::proptest! {
    #[test]
    fn random_input_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1500)) {
        let mut l = Listener::new();
        let mut input = BytesMut::from(&bytes[..]);
        let _ = l.handle(&mut input, &[pid("/x")][..]);
        let mut d = Dialer::new(vec![pid("/x")]);
        let mut input = BytesMut::from(&bytes[..]);
        let _ = d.handle(&mut input);
    }

    #[test]
    fn random_input_after_header_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1500)) {
        let mut input = BytesMut::new();
        Message::Header.encode(&mut input);
        input.extend_from_slice(&bytes);
        let mut l = Listener::new();
        let _ = l.handle(&mut input.clone(), &[pid("/x")][..]);
        let mut d = Dialer::new(vec![pid("/x")]);
        let _ = d.handle(&mut input);
    }
}
