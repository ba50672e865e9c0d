#!/usr/bin/env python3
"""py-libp2p Kademlia peer for Rhizome's kad interop test (interop-tests/tests/kad.rs).

    .venv/bin/python kad_peer.py

Starts a py-libp2p 0.8.1 host on 127.0.0.1 (TCP, /noise, /yamux/1.0.0; see peer.py)
with KadDHT in server mode, a permissive `/rhizome/` record namespace and no subnet
diversity cap (every test peer is on 127.0.0.1). Prints
    {"event":"listening","peer_id":…,"addr":…}
then answers JSON commands on stdin, one JSON line each, with the command's "id":
    dial {addr}  · table · closest {peer} · put {key, value (hex)} · get {key}
    provide {mh (hex multihash)} · providers {mh}
Errors come back as {"id":…,"error":"…"}. It exits when stdin closes.
"""

from __future__ import annotations

import json
import sys

import peer  # also points sys.stdout at stderr; JSON goes through peer._OUT
from peer import make_host, make_keypair


def out(obj) -> None:
    peer._OUT.write(json.dumps(obj) + "\n")
    peer._OUT.flush()


async def run(dht, host, cmd):
    import multiaddr
    import trio
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import info_from_p2p_addr

    name = cmd["cmd"]
    with trio.fail_after(15):
        if name == "dial":
            info = info_from_p2p_addr(multiaddr.Multiaddr(cmd["addr"]))
            await host.connect(info)
            await dht.routing_table.add_peer(info)
            return {"ok": True}
        if name == "table":
            return {"peers": [p.to_base58() for p in dht.routing_table.get_peer_ids()]}
        if name == "closest":
            target = ID.from_base58(cmd["peer"])
            peers = await dht.peer_routing.find_closest_peers_network(target.to_bytes())
            return {"peers": [p.to_base58() for p in peers]}
        if name == "put":
            await dht.put_value(bytes.fromhex(cmd["key"]).decode(), bytes.fromhex(cmd["value"]))
            return {"ok": True}
        if name == "get":
            value = await dht.get_value(bytes.fromhex(cmd["key"]).decode())
            return {"value": None if value is None else value.hex()}
        if name == "provide":
            return {"ok": await dht.provide(cmd["mh"])}
        if name == "providers":
            found = await dht.find_providers(cmd["mh"])
            return {"providers": [p.peer_id.to_base58() for p in found]}
    raise ValueError(f"unknown command {name}")


async def main() -> None:
    import multiaddr
    import trio
    from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
    from libp2p.records.validator import BlankValidator, NamespacedValidator
    from libp2p.tools.anyio_service import background_trio_service

    host = make_host(make_keypair(None))
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        validator = NamespacedValidator({"rhizome": BlankValidator()})
        dht = KadDHT(host, DHTMode.SERVER, validator=validator, validator_changed=True, max_peers_per_subnet=0)
        async with background_trio_service(dht):
            addr = host.get_addrs()[0]
            out({"event": "listening", "peer_id": host.get_id().to_base58(), "addr": str(addr)})
            stdin = trio.wrap_file(sys.stdin)

            async def handle(cmd):
                try:
                    out({"id": cmd.get("id"), **(await run(dht, host, cmd))})
                except BaseException as exc:  # noqa: BLE001 - reported to the test
                    out({"id": cmd.get("id"), "error": f"{type(exc).__name__}: {exc}"})

            async with trio.open_nursery() as nursery:
                while True:
                    line = await stdin.readline()
                    if not line:
                        break
                    nursery.start_soon(handle, json.loads(line))
                nursery.cancel_scope.cancel()


if __name__ == "__main__":
    import trio

    trio.run(main)
