use super::*;

const TOPIC: [u8; 32] = [0xaa; 32];

fn core(local: u8, limits: Limits) -> SwarmCore {
    let limits = Limits { backoffs: Backoffs { jitter: Duration::ZERO, ..limits.backoffs }, ..limits };
    let mut c = SwarmCore::new([local; 32], limits, [0.0; 4]);
    c.join_topic(TOPIC);
    c
}

fn connects(c: &mut SwarmCore) -> Vec<(ConnId, [u8; 32])> {
    let mut out = Vec::new();
    while let Some(a) = c.poll_action() {
        if let Action::Connect { id, public_key, .. } = a {
            out.push((id, public_key));
        }
    }
    out
}

#[test]
fn discovered_peers_are_connected_at_most_max_parallel_at_a_time() {
    let mut c = core(1, Limits::default());
    let now = Instant::now();
    for k in 10..15u8 {
        c.peer_discovered([k; 32], None, TOPIC, now);
    }
    let first = connects(&mut c);
    assert_eq!(first.len(), 3);
    assert_eq!(c.connecting(), 3);
    assert!(!c.is_flushed());
    // One attempt opens: the next queued peer is tried.
    assert!(c.client_opened(first[0].0, now));
    assert_eq!(connects(&mut c).len(), 1);
    // Ourselves and an already connected peer are not queued again.
    c.peer_discovered([1; 32], None, TOPIC, now);
    c.peer_discovered(first[0].1, None, TOPIC, now);
    assert!(connects(&mut c).is_empty());
}

#[test]
fn a_failed_attempt_is_retried_after_the_backoff() {
    let mut c = core(1, Limits::default());
    let t0 = Instant::now();
    c.peer_discovered([9; 32], Some(vec!["127.0.0.1:1".parse().unwrap()]), TOPIC, t0);
    let [(id, _)] = connects(&mut c)[..] else { panic!("one attempt") };
    c.closed(id, t0);
    let p = c.peer(&[9; 32]).unwrap();
    assert_eq!(p.attempts, 1);
    assert!(p.waiting);
    // Unproven, one attempt: the medium timer (5 s period, fires at 6.6 s).
    c.tick(t0 + Duration::from_secs(4));
    assert!(connects(&mut c).is_empty());
    c.tick(t0 + Duration::from_millis(6600));
    let again = connects(&mut c);
    assert_eq!(again.len(), 1);
    assert_eq!(c.peer(&[9; 32]).unwrap().priority, Priority::VeryHigh);
    assert_eq!(c.stats().client_attempted, 2);
}

#[test]
fn peers_of_a_left_topic_are_not_retried_and_forgotten() {
    let mut c = core(1, Limits::default());
    let t0 = Instant::now();
    c.peer_discovered([9; 32], None, TOPIC, t0);
    let [(id, _)] = connects(&mut c)[..] else { panic!() };
    c.leave_topic(&TOPIC);
    c.closed(id, t0);
    assert!(c.peer(&[9; 32]).is_none());
    c.tick(t0 + Duration::from_secs(60));
    assert!(connects(&mut c).is_empty());
}

#[test]
fn max_peers_bounds_connections_of_both_directions() {
    let mut c = core(1, Limits { max_peers: 2, ..Limits::default() });
    let now = Instant::now();
    assert!(matches!(c.incoming([5; 32], false, |_| false, now), Incoming::Accept(_)));
    for k in 10..14u8 {
        c.peer_discovered([k; 32], None, TOPIC, now);
    }
    let out = connects(&mut c);
    assert_eq!(out.len(), 1, "one inbound + one outbound = max_peers");
    assert!(!c.is_flushed(), "an attempt is in flight");
    assert!(c.client_opened(out[0].0, now));
    assert!(connects(&mut c).is_empty());
    assert!(c.is_flushed(), "the limit is reached: nothing more will be tried");
}

#[test]
fn max_server_connections_refuses_inbound() {
    let mut c = core(1, Limits { max_server_connections: 1, ..Limits::default() });
    let now = Instant::now();
    assert!(matches!(c.incoming([5; 32], false, |_| false, now), Incoming::Accept(_)));
    assert_eq!(c.incoming([6; 32], false, |_| false, now), Incoming::Refused);
}

#[test]
fn duplicate_rule_matches_node() {
    // Greater key = expected initiator.
    assert!(keep_new(false, &[1; 32], &[2; 32], false), "the remote (greater) initiated: keep");
    assert!(!keep_new(false, &[2; 32], &[1; 32], false), "we are the expected initiator: drop the inbound one");
    assert!(keep_new(false, &[2; 32], &[1; 32], true));
    assert!(keep_new(true, &[2; 32], &[1; 32], false), "an established existing connection is outdated");
}

#[test]
fn simultaneous_connects_resolve_to_the_greater_keys_outbound_connection() {
    let now = Instant::now();
    // We have the smaller key: the remote's outbound (our inbound) wins, our attempt is closed.
    let mut small = core(1, Limits::default());
    small.peer_discovered([2; 32], None, TOPIC, now);
    let [(ours, _)] = connects(&mut small)[..] else { panic!() };
    let Incoming::Replace { id, replaced } = small.incoming([2; 32], false, |_| false, now) else { panic!("replace") };
    assert_eq!(replaced, ours);
    assert_eq!(small.poll_action(), Some(Action::Close { id: ours }));
    assert!(!small.client_opened(ours, now), "the replaced attempt is not wanted any more");
    assert_eq!(small.connecting(), 0);
    small.closed(ours, now); // the shell's late report is ignored
    assert!(small.is_connected(&[2; 32]));
    small.closed(id, now);
    assert!(!small.is_connected(&[2; 32]));

    // We have the greater key: our outbound wins, the inbound duplicate is dropped.
    let mut big = core(2, Limits::default());
    big.peer_discovered([1; 32], None, TOPIC, now);
    let [(ours, _)] = connects(&mut big)[..] else { panic!() };
    assert_eq!(big.incoming([1; 32], false, |_| false, now), Incoming::Duplicate { existing: ours });
    assert!(big.client_opened(ours, now));

    // Unless our connection already carried data both ways: then the remote lost it.
    assert!(matches!(big.incoming([1; 32], false, |id| id == ours, now), Incoming::Replace { replaced, .. } if replaced == ours));
}

#[test]
fn firewall_and_bans() {
    let mut c = core(1, Limits::default());
    let now = Instant::now();
    assert_eq!(c.incoming([1; 32], false, |_| false, now), Incoming::Refused, "ourselves");
    c.set_firewall(Some(Arc::new(|k: &[u8; 32]| k[0] == 66)));
    assert_eq!(c.incoming([66; 32], false, |_| false, now), Incoming::Refused);
    assert_eq!(c.poll_action(), Some(Action::Banned { public_key: [66; 32] }));
    assert!(c.peer(&[66; 32]).unwrap().banned);
    c.peer_discovered([66; 32], None, TOPIC, now);
    assert!(connects(&mut c).is_empty(), "banned peers are not connected to");
    c.ban([7; 32], true);
    assert_eq!(c.incoming([7; 32], false, |_| false, now), Incoming::Refused);
    c.ban([7; 32], false);
    assert!(matches!(c.incoming([7; 32], false, |_| false, now), Incoming::Accept(_)));
    assert_eq!(c.stats().banned_peers, 2);
}

#[test]
fn explicit_peers_back_off_by_attempts_and_are_kept() {
    let mut c = core(1, Limits::default());
    let t0 = Instant::now();
    assert!(c.join_peer([4; 32], t0));
    assert!(!c.join_peer([1; 32], t0), "not ourselves");
    let [(id, _)] = connects(&mut c)[..] else { panic!() };
    c.closed(id, t0);
    assert!(c.peer(&[4; 32]).is_some(), "explicit peers are kept");
    // Within `attempts` seconds of the disconnect, no new attempt.
    c.tick(t0 + Duration::from_millis(500));
    assert!(connects(&mut c).is_empty());
    c.tick(t0 + Duration::from_millis(6600));
    assert_eq!(connects(&mut c).len(), 1);
    c.leave_peer(&[4; 32]);
    assert!(c.peer(&[4; 32]).is_some(), "still connecting");
}

#[test]
fn known_peers_are_bounded() {
    let mut c = core(1, Limits { max_known_peers: 4, max_parallel: 0, ..Limits::default() });
    let now = Instant::now();
    for k in 10..40u8 {
        c.peer_discovered([k; 32], None, TOPIC, now);
    }
    assert_eq!(c.peer_count(), 4);
    c.destroy();
    assert_eq!(c.incoming([10; 32], false, |_| false, now), Incoming::Refused);
}
