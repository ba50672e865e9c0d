//! wire::mutable against values produced by the real hyperdht 6.34
//! (`interop-tests/hyperswarm/hdht-mutable-vectors.mjs`, stored in vectors/hyperdht-mutable.json).
#![allow(clippy::unwrap_used)]

use rhizome_hyperdht::wire::mutable::{self, MutablePut, MutableRecord};
use rhizome_secret_stream::Keypair;
use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/hyperdht-mutable.json")).unwrap()
}

#[test]
fn mutable_encodings_and_signatures_match_node() {
    let v = vectors();
    assert_eq!(hex(&mutable::NS_MUTABLE_PUT), v["ns_mutable_put"].as_str().unwrap());
    let kp = Keypair::from_seed(&[0xaa; 32]);
    assert_eq!(hex(&kp.public_key()), v["public_key"].as_str().unwrap());
    assert_eq!(hex(&mutable::mutable_target(&kp.public_key())), v["target"].as_str().unwrap());
    let cases = v["mutable"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let seq = c["seq"].as_u64().unwrap();
        let value = unhex(c["value"].as_str().unwrap());
        let put = MutablePut::sign(kp.public_key(), seq, value.clone(), |m| kp.sign(m));
        assert_eq!(hex(&put.record.signature), c["signature"].as_str().unwrap(), "seq {seq}");
        assert_eq!(hex(&put.encode()), c["put_request"].as_str().unwrap());
        assert_eq!(hex(&put.record.encode()), c["get_response"].as_str().unwrap());
        assert_eq!(hex(&mutable::encode_get_request(seq)), c["get_request"].as_str().unwrap());
        let decoded = MutablePut::decode(&unhex(c["put_request"].as_str().unwrap())).unwrap();
        assert_eq!(decoded, put);
        assert!(decoded.verify());
        let rec = MutableRecord::decode(&unhex(c["get_response"].as_str().unwrap())).unwrap();
        assert!(rec.verify(&kp.public_key()));
        assert!(!rec.verify(&Keypair::from_seed(&[0xbb; 32]).public_key()));
    }
}

#[test]
fn immutable_target_matches_node() {
    let v = vectors();
    let value = unhex(v["immutable"]["value"].as_str().unwrap());
    assert_eq!(hex(&mutable::immutable_target(&value)), v["immutable"]["target"].as_str().unwrap());
}
