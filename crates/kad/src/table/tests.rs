use super::*;
use rhizome_identity::KeypairExt as _;
use rhizome_node::Keypair;

fn peer(n: u32) -> PeerId {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    Keypair::from_seed(seed).peer_id()
}

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

fn table() -> (PeerId, Table) {
    let local = peer(0);
    (local, Table::new(Key::from_peer(&local), 20))
}

/// Peers that land in bucket `bucket` of `table`.
fn peers_in_bucket(table: &Table, bucket: usize, n: usize) -> Vec<PeerId> {
    (1..).map(peer).filter(|p| table.local_key().distance(&Key::from_peer(p)).bucket_index() == Some(bucket)).take(n).collect()
}

#[test]
fn insert_update_and_self() {
    let (local, mut t) = table();
    let now = Instant::now();
    assert_eq!(t.insert(local, &[], now), InsertOutcome::SelfEntry);
    assert_eq!(t.insert(peer(1), &[addr(1)], now), InsertOutcome::Inserted);
    assert_eq!(t.insert(peer(1), &[addr(2)], now), InsertOutcome::Updated);
    assert_eq!(t.get(&peer(1)).unwrap().addrs, vec![addr(2), addr(1)]);
    assert_eq!(t.len(), 1);
    let many: Vec<Multiaddr> = (0..20).map(addr).collect();
    t.insert(peer(1), &many, now);
    assert_eq!(t.get(&peer(1)).unwrap().addrs.len(), MAX_ENTRY_ADDRS);
}

#[test]
fn full_bucket_uses_the_replacement_cache() {
    let (_, mut t) = table();
    let now = Instant::now();
    let peers = peers_in_bucket(&t, 255, 20 + 25);
    for p in &peers[..20] {
        assert_eq!(t.insert(*p, &[], now), InsertOutcome::Inserted);
    }
    for p in &peers[20..] {
        assert_eq!(t.insert(*p, &[], now), InsertOutcome::Pending { oldest: peers[0] });
    }
    assert_eq!(t.len(), 20);
    // Refreshing the oldest moves it to the back: the next oldest is reported.
    t.insert(peers[0], &[], now);
    assert_eq!(t.insert(peers[44], &[], now), InsertOutcome::Pending { oldest: peers[1] });
    // A failed entry is replaced by the most recently seen replacement.
    assert!(t.remove(&peers[1]));
    assert!(t.contains(&peers[44]));
    assert_eq!(t.len(), 20);
    // The replacement cache holds at most k: the first 5 pending peers were dropped.
    for p in &peers[2..20] {
        t.remove(p);
    }
    assert!(!t.contains(&peers[20]), "oldest replacements were dropped");
    assert!(t.contains(&peers[26]) && !t.contains(&peers[25]), "the most recent replacements were promoted");
    assert!(!t.remove(&peers[1]));
}

#[test]
fn failures_remove_only_with_a_replacement_or_repeatedly() {
    let (_, mut t) = table();
    let now = Instant::now();
    let peers = peers_in_bucket(&t, 255, 21);
    t.insert(peers[0], &[], now);
    for _ in 0..MAX_FAILURES - 1 {
        assert!(!t.on_failure(&peers[0]));
    }
    // An answer resets the count.
    t.insert(peers[0], &[], now);
    for _ in 0..MAX_FAILURES - 1 {
        assert!(!t.on_failure(&peers[0]));
    }
    assert!(t.on_failure(&peers[0]), "gone after MAX_FAILURES in a row");
    // With a replacement waiting, one failure is enough.
    for p in &peers[..21] {
        t.insert(*p, &[], now);
    }
    assert!(t.on_failure(&peers[1]));
    assert!(t.contains(&peers[20]));
    assert!(!t.on_failure(&peers[1]), "not an entry any more");
}

#[test]
fn closest_matches_brute_force() {
    let (_, mut t) = table();
    let now = Instant::now();
    let all: Vec<PeerId> = (1..400).map(peer).collect();
    for p in &all {
        t.insert(*p, &[], now);
    }
    let in_table: Vec<PeerId> = t.iter().map(|e| e.peer).collect();
    for probe in 0..20u32 {
        let target = Key::from_bytes(&probe.to_be_bytes());
        let mut expected = in_table.clone();
        expected.sort_by_key(|p| Key::from_peer(p).distance(&target));
        expected.truncate(20);
        let got: Vec<PeerId> = t.closest(&target, 20).iter().map(|e| e.peer).collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn buckets_to_refresh_follow_the_clock() {
    let (_, mut t) = table();
    let start = Instant::now();
    let interval = Duration::from_secs(600);
    let p = peers_in_bucket(&t, 255, 1)[0];
    t.insert(p, &[], start);
    assert_eq!(t.buckets_to_refresh(start, interval), vec![255, 254]);
    let in_255 = Key::from_peer(&peers_in_bucket(&t, 255, 2)[1]);
    t.mark_refreshed(&in_255, start);
    assert_eq!(t.buckets_to_refresh(start + Duration::from_secs(599), interval), vec![254]);
    assert_eq!(t.buckets_to_refresh(start + interval, interval), vec![255, 254]);
    assert!(t.heap_estimate() > 0);
}

/// A peer id from 32 arbitrary bytes (an Ed25519 identity multihash; the key is not checked).
fn arbitrary_peer(bytes: [u8; 32]) -> PeerId {
    let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    id.extend_from_slice(&bytes);
    PeerId::from_bytes(&id).unwrap()
}

proptest::proptest! {
    #[test]
    fn invariants_hold_under_random_inserts_and_removals(
        ops in proptest::collection::vec((proptest::array::uniform32(0u8..4), proptest::bool::weighted(0.8)), 1..300)
    ) {
        let (local, mut t) = table();
        let now = Instant::now();
        let mut inserted = std::collections::HashSet::new();
        for (bytes, insert) in ops {
            let p = arbitrary_peer(bytes);
            if insert {
                t.insert(p, &[], now);
                inserted.insert(p);
            } else {
                t.remove(&p);
            }
        }
        let entries: Vec<PeerId> = t.iter().map(|e| e.peer).collect();
        proptest::prop_assert_eq!(entries.len(), t.len());
        proptest::prop_assert!(!entries.contains(&local));
        let unique: std::collections::HashSet<_> = entries.iter().collect();
        proptest::prop_assert_eq!(unique.len(), entries.len());
        proptest::prop_assert!(entries.iter().all(|p| inserted.contains(p)));
        for (bucket, size) in t.bucket_sizes() {
            proptest::prop_assert!(size <= 20, "bucket {} holds {}", bucket, size);
        }
        let target = Key::from_bytes(b"t");
        let closest = t.closest(&target, 20);
        proptest::prop_assert!(closest.windows(2).all(|w| w[0].key.distance(&target) <= w[1].key.distance(&target)));
    }
}
