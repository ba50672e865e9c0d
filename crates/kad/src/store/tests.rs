use super::*;
use rhizome_identity::KeypairExt as _;
use rhizome_node::Keypair;

fn peer(n: u32) -> PeerId {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    Keypair::from_seed(seed).peer_id()
}

fn rec(key: &str, value: &str) -> Record {
    Record::new(key.as_bytes().to_vec(), value.as_bytes().to_vec())
}

const H: Duration = Duration::from_secs(3600);

#[test]
fn limits_are_typed_errors() {
    let config = StoreConfig { max_records: 3, max_value_size: 8, max_key_size: 8, max_records_per_peer: 2, ..Default::default() };
    let mut s = Store::new(config);
    let now = Instant::now();
    assert_eq!(s.put(rec("k", "123456789"), Source::Local, now), Err(StoreError::ValueTooLarge(9)));
    assert_eq!(s.put(rec("123456789", "v"), Source::Local, now), Err(StoreError::KeyTooLong(9)));
    s.put(rec("a", "1"), Source::Remote(peer(1)), now).unwrap();
    s.put(rec("b", "1"), Source::Remote(peer(1)), now).unwrap();
    assert_eq!(s.put(rec("c", "1"), Source::Remote(peer(1)), now), Err(StoreError::PeerQuota(peer(1))));
    // Overwriting its own record is not a new one.
    s.put(rec("a", "2"), Source::Remote(peer(1)), now).unwrap();
    s.put(rec("c", "1"), Source::Remote(peer(2)), now).unwrap();
    assert_eq!(s.put(rec("d", "1"), Source::Local, now), Err(StoreError::Full(3)));
    assert_eq!(s.stats().records, 3);
    // Removing frees the peer's quota.
    s.remove(b"a");
    s.put(rec("e", "1"), Source::Remote(peer(1)), now).unwrap();
}

#[test]
fn remote_writes_do_not_take_over_our_records() {
    let mut s = Store::new(StoreConfig::default());
    let now = Instant::now();
    s.put(rec("k", "ours"), Source::Local, now).unwrap();
    s.put(rec("k", "theirs"), Source::Remote(peer(1)), now).unwrap();
    assert_eq!(s.get(b"k", now).unwrap().value, b"ours");
    assert_eq!(s.get_stored(b"k").unwrap().source, Source::Local);
}

#[test]
fn ttl_expiry_with_an_injected_clock() {
    let mut s = Store::new(StoreConfig::default());
    let t0 = Instant::now();
    s.put(rec("ours", "v"), Source::Local, t0).unwrap();
    let mut short = rec("short", "v");
    short.ttl = Some(H);
    s.put(short, Source::Remote(peer(1)), t0).unwrap();
    let mut long = rec("long", "v");
    long.ttl = Some(1000 * H);
    s.put(long, Source::Remote(peer(1)), t0).unwrap();
    assert_eq!(s.get(b"short", t0 + H / 2).unwrap().ttl, Some(H / 2));
    assert_eq!(s.expire(t0 + H), 1);
    assert!(s.get(b"short", t0 + H).is_none());
    // The sender's TTL is capped at record_ttl (48 h).
    assert!(s.get(b"long", t0 + 47 * H).is_some());
    assert_eq!(s.expire(t0 + 48 * H), 2);
    assert_eq!(s.stats().records, 0);
}

#[test]
fn republishing_schedule() {
    let mut s = Store::new(StoreConfig::default());
    let t0 = Instant::now();
    s.put(rec("ours", "v"), Source::Local, t0).unwrap();
    s.put(rec("theirs", "v"), Source::Remote(peer(1)), t0).unwrap();
    assert!(s.due_republish(t0 + H - Duration::from_secs(1), 64).is_empty());
    // Others' records every hour, ours every 24 h.
    let due = s.due_republish(t0 + H, 64);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].0.key, b"theirs");
    assert_eq!(due[0].0.ttl, Some(47 * H));
    for hour in 2..24 {
        let due = s.due_republish(t0 + hour * H, 64);
        assert_eq!(due.len(), 1, "hour {hour}");
    }
    let due = s.due_republish(t0 + 24 * H, 64);
    assert_eq!(due.len(), 2);
    // Republishing our record renews its lifetime: it outlives the original 48 h.
    assert!(s.get(b"ours", t0 + 50 * H).is_some());
    assert!(s.get(b"theirs", t0 + 48 * H).is_none());
    // Bounded per call.
    let mut s = Store::new(StoreConfig::default());
    for i in 0..10 {
        s.put(rec(&i.to_string(), "v"), Source::Local, t0).unwrap();
    }
    assert_eq!(s.due_republish(t0 + 24 * H, 4).len(), 4);
    assert_eq!(s.due_republish(t0 + 24 * H, 100).len(), 6);
}

#[test]
fn providers_are_bounded_and_expire() {
    let config = StoreConfig { max_providers_per_key: 2, max_provider_keys: 2, max_provided_keys: 1, ..Default::default() };
    let mut s = Store::new(config);
    let t0 = Instant::now();
    let p = |n| Peer { id: peer(n), addrs: vec![] };
    s.add_provider(b"k", p(1), t0).unwrap();
    s.add_provider(b"k", p(2), t0).unwrap();
    s.add_provider(b"k", p(1), t0 + H).unwrap();
    assert_eq!(s.add_provider(b"k", p(3), t0), Err(StoreError::TooManyProviders));
    s.add_provider(b"j", p(1), t0).unwrap();
    assert_eq!(s.add_provider(b"x", p(1), t0), Err(StoreError::Full(2)));
    assert_eq!(s.stats().provider_keys, 2, "a refused key leaves no empty entry");
    assert_eq!(s.providers(b"k", t0).len(), 2);
    // p(2) expires at 48 h, p(1) (refreshed at 1 h) at 49 h.
    assert_eq!(s.providers(b"k", t0 + 48 * H), vec![p(1)]);
    s.expire(t0 + 49 * H);
    assert_eq!(s.stats().provider_keys, 0);
    assert!(s.provider_counts.is_empty(), "per-peer counts follow expiry");
    s.start_providing(b"mine", t0).unwrap();
    assert_eq!(s.start_providing(b"more", t0), Err(StoreError::Full(1)));
    assert!(s.due_reprovide(t0 + 21 * H, 10).is_empty());
    assert_eq!(s.due_reprovide(t0 + 22 * H, 10), vec![b"mine".to_vec()]);
    assert!(s.stop_providing(b"mine"));
}

#[test]
fn flood_from_one_peer_is_bounded() {
    let mut s = Store::new(StoreConfig::default());
    let now = Instant::now();
    let flooder = peer(1);
    let mut refused = 0;
    for i in 0..10_000u32 {
        if s.put(Record::new(i.to_be_bytes().to_vec(), vec![0u8; 1024]), Source::Remote(flooder), now).is_err() {
            refused += 1;
        }
        if s.add_provider(&i.to_be_bytes(), Peer { id: flooder, addrs: vec![] }, now).is_err() {
            refused += 1;
        }
    }
    let flood = s.stats();
    assert_eq!(refused, 2 * 10_000 - flood.records - flood.provider_keys);
    let stats = flood;
    assert_eq!(stats.records, StoreConfig::default().max_records_per_peer);
    assert_eq!(stats.provider_keys, StoreConfig::default().max_provided_per_peer);
    // Others can still store and provide.
    s.put(rec("other", "v"), Source::Remote(peer(2)), now).unwrap();
    s.add_provider(b"other", Peer { id: peer(2), addrs: vec![] }, now).unwrap();
    s.remove(b"other");
    let stats = s.stats();
    assert!(stats.record_bytes <= 128 * 1028);
    assert_eq!(stats.provider_keys, StoreConfig::default().max_provided_per_peer + 1);
}

#[test]
fn cache_ttl_halves_per_bit_of_extra_distance() {
    let t = 48 * H;
    let min = Duration::from_secs(60);
    assert_eq!(cache_ttl(t, min, 240, 240), t);
    assert_eq!(cache_ttl(t, min, 239, 240), t, "closer than the holder: full TTL");
    assert_eq!(cache_ttl(t, min, 241, 240), 24 * H);
    assert_eq!(cache_ttl(t, min, 243, 240), 6 * H);
    assert_eq!(cache_ttl(t, min, 255, 240), min, "floored at the minimum");
    assert_eq!(cache_ttl(Duration::from_secs(30), min, 250, 240), Duration::from_secs(30), "never above the record's TTL");
}

#[test]
fn cached_copy_expires_at_its_distance_ttl() {
    let mut s = Store::new(StoreConfig::default());
    let t0 = Instant::now();
    let ttl = cache_ttl(48 * H, Duration::from_secs(60), 244, 240);
    assert_eq!(ttl, 3 * H);
    let mut copy = rec("cached", "v");
    copy.ttl = Some(ttl);
    s.put(copy, Source::Remote(peer(1)), t0).unwrap();
    assert!(s.get(b"cached", t0 + 3 * H - Duration::from_secs(1)).is_some());
    assert_eq!(s.expire(t0 + 3 * H), 1);
}
