use super::*;
use rhizome_identity::KeypairExt as _;
use rhizome_node::Keypair;
use std::collections::HashMap;

fn peer(n: u32) -> PeerId {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    Keypair::from_seed(seed).peer_id()
}

fn sorted(peers: &[PeerId], target: &Key) -> Vec<PeerId> {
    let mut v = peers.to_vec();
    v.sort_by_key(|p| Key::from_peer(p).distance(target));
    v
}

/// Every peer knows its 8 closest neighbours plus a few random far peers.
fn network(n: u32) -> (Vec<PeerId>, HashMap<PeerId, Vec<PeerId>>) {
    let peers: Vec<PeerId> = (1..=n).map(peer).collect();
    let mut knows = HashMap::new();
    for (i, p) in peers.iter().enumerate() {
        let mut list = sorted(&peers, &Key::from_peer(p));
        list.retain(|x| x != p);
        list.truncate(8);
        list.extend(peers.iter().skip(i % 7).step_by(17).copied());
        knows.insert(*p, list);
    }
    (peers, knows)
}

#[test]
fn finds_the_true_k_closest_with_alpha_in_flight() {
    let (peers, knows) = network(300);
    let target = Key::from_bytes(b"target");
    let now = Instant::now();
    let config = QueryConfig::default();
    let mut q = Query::new(target, None, peers[..3].to_vec(), config, now);
    let mut pending = Vec::new();
    for _ in 0..10_000 {
        loop {
            match q.poll(now) {
                Action::Request(p) => pending.push(p),
                Action::Wait => break,
                Action::Finished => break,
            }
        }
        assert!(pending.len() <= config.alpha, "at most α in flight");
        if q.is_finished() {
            break;
        }
        let p = pending.remove(0);
        q.on_success(&p, knows[&p].iter().copied());
    }
    assert!(q.is_finished());
    let expected: Vec<PeerId> = sorted(&peers, &target).into_iter().take(20).collect();
    assert_eq!(q.closest_succeeded(), expected);
    assert!(q.stats().hops >= 1);
    assert!(q.stats().requests >= 20);
}

#[test]
fn request_timeouts_fail_peers_and_the_query_deadline_ends_it() {
    let now = Instant::now();
    let config = QueryConfig { alpha: 1, request_timeout: Duration::from_secs(10), timeout: Duration::from_secs(25), ..Default::default() };
    let target = Key::from_bytes(b"t");
    let seeds = sorted(&[peer(1), peer(2), peer(3), peer(4)], &target);
    let mut q = Query::new(target, None, seeds.clone(), config, now);
    assert_eq!(q.poll(now), Action::Request(seeds[0]));
    assert_eq!(q.poll(now), Action::Wait);
    assert_eq!(q.next_deadline(), now + Duration::from_secs(10));
    // The first request times out: the next peer is asked.
    assert_eq!(q.poll(now + Duration::from_secs(10)), Action::Request(seeds[1]));
    assert_eq!(q.state(&seeds[0]), Some(PeerState::Failed));
    // A late answer still counts.
    q.on_success(&seeds[0], []);
    assert_eq!(q.state(&seeds[0]), Some(PeerState::Succeeded));
    q.on_failure(&seeds[1]);
    assert_eq!(q.poll(now + Duration::from_secs(11)), Action::Request(seeds[2]));
    // The whole query runs out at 25 s.
    assert_eq!(q.poll(now + Duration::from_secs(25)), Action::Finished);
    assert!(q.stats().timed_out);
    assert_eq!(q.closest_succeeded(), vec![seeds[0]]);
}

#[test]
fn finishes_when_everyone_failed_and_never_asks_itself() {
    let now = Instant::now();
    let me = peer(9);
    let mut q = Query::new(Key::from_bytes(b"x"), Some(me), [me, peer(1)], QueryConfig::default(), now);
    assert_eq!(q.poll(now), Action::Request(peer(1)));
    q.on_success(&peer(1), [me, peer(2)]);
    assert_eq!(q.poll(now), Action::Request(peer(2)));
    q.on_failure(&peer(2));
    assert_eq!(q.poll(now), Action::Finished);
    assert_eq!(q.closest_succeeded(), vec![peer(1)]);
}

#[test]
fn remembered_peers_are_bounded() {
    let now = Instant::now();
    let config = QueryConfig { max_peers: 30, ..Default::default() };
    let mut q = Query::new(Key::from_bytes(b"x"), None, [peer(1)], config, now);
    assert_eq!(q.poll(now), Action::Request(peer(1)));
    q.on_success(&peer(1), (2..1000).map(peer));
    assert!(q.peers.len() <= 30);
    assert_eq!(q.seen.len(), q.peers.len());
}
