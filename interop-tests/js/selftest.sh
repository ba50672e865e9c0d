#!/usr/bin/env bash
# Self-test of the js-libp2p interop peer: js listener <-> js dialer on 127.0.0.1.
# Needs `npm ci` to have been run in this directory. Every process is bounded by
# timeout(1); the listener also by --max-seconds. Prints 'N passed, N failed'.
set -u
cd "$(dirname "$0")"

TMP=$(mktemp -d)
LISTENER=
cleanup() {
  [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

pass=0
fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok   - $name"; else fail=$((fail + 1)); echo "FAIL - $name"; fi
}

# count lines of a JSON-lines file matching a jq-less predicate (node one-liner)
jl() { # file, js expression over `e` (the parsed line); prints the match count
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
    const f = new Function("e", "return (" + process.argv[2] + ")")
    let n = 0
    for (const l of lines) { const e = JSON.parse(l); if (e.impl !== "js-libp2p") process.exit(3); if (f(e)) n++ }
    console.log(n)' "$1" "$2"
}

# --- listener; its stdin is a FIFO we hold open on fd 3 (closing it stops the peer)
mkfifo "$TMP/stdin"
timeout 60 node peer.mjs listen --seed 1 --max-seconds 50 < "$TMP/stdin" > "$TMP/listen.out" 2> "$TMP/listen.err" &
LISTENER=$!
exec 3> "$TMP/stdin"
for _ in $(seq 100); do grep -q '"listening"' "$TMP/listen.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]).addr)' "$TMP/listen.out")
PEER=${ADDR##*/p2p/}
check "seed 1 gives 12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5" \
  test "$PEER" = 12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5
check "listen addr is 127.0.0.1" bash -c "[[ '$ADDR' == /ip4/127.0.0.1/tcp/*/p2p/* ]]"

# --- good dial
timeout 40 node peer.mjs dial "$ADDR" --seed 2 --pings 10 --echo > "$TMP/dial.out" 2> "$TMP/dial.err"
rc=$?
check "dial exits 0" test "$rc" = 0
check "connected line" test "$(jl "$TMP/dial.out" "e.event==='connected' && e.peer_id==='$PEER' && e.remote_addr==='${ADDR%/p2p/*}'")" = 1
check "identify line" test "$(jl "$TMP/dial.out" "e.event==='identify' && e.peer_id==='$PEER' && e.protocols.includes('/rhizome-test/echo/1.0.0') && e.protocols.includes('/ipfs/ping/1.0.0') && typeof e.agent_version==='string'")" = 1
check "10 ping lines" test "$(jl "$TMP/dial.out" "e.event==='ping' && e.rtt_ms>=0 && e.seq>=1 && e.seq<=10")" = 10
check "echo line" test "$(jl "$TMP/dial.out" "e.event==='echo' && e.bytes===100000 && e.ok===true")" = 1
check "done ok" test "$(jl "$TMP/dial.out" "e.event==='done' && e.ok===true")" = 1
check "event order" test "$(node -e 'console.log(require("fs").readFileSync(process.argv[1],"utf8").split("\n").filter(Boolean).map(l=>JSON.parse(l).event).filter((e,i,a)=>a[i-1]!==e).join(","))' "$TMP/dial.out")" = "connected,identify,ping,echo,done"

sleep 0.5
DIALER=12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq # seed 2
check "listener connection line" test "$(jl "$TMP/listen.out" "e.event==='connection' && e.peer_id==='$DIALER' && e.remote_addr.startsWith('/ip4/127.0.0.1/tcp/')")" = 1
check "listener identify line" test "$(jl "$TMP/listen.out" "e.event==='identify' && e.peer_id==='$DIALER'")" = 1

# --- wrong peer id
timeout 40 node peer.mjs dial "${ADDR%/p2p/*}/p2p/$DIALER" --seed 3 > "$TMP/bad.out" 2> "$TMP/bad.err"
rc=$?
check "wrong /p2p id exits 1" test "$rc" = 1
check "wrong /p2p id done ok:false" test "$(jl "$TMP/bad.out" "e.event==='done' && e.ok===false && typeof e.error==='string'")" = 1
check "wrong /p2p id: no connected line" test "$(jl "$TMP/bad.out" "e.event==='connected'")" = 0

# --- bad arguments
timeout 10 node peer.mjs dial /ip4/127.0.0.1/tcp/1 > /dev/null 2>&1
check "no /p2p exits 2" test "$?" = 2
timeout 10 node peer.mjs listen --seed 256 > /dev/null 2>&1
check "bad seed exits 2" test "$?" = 2

# --- listener exits when its stdin closes
exec 3>&-
wait "$LISTENER"
rc=$?
LISTENER=
check "listener exits 0 on stdin close" test "$rc" = 0
check "listener said why" grep -q "exiting: stdin closed" "$TMP/listen.err"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
