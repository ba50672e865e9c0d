#!/usr/bin/env python3
"""py-libp2p interop peer for the Rhizome interop tests.

Implements the command-line contract of ../PEERS.md:

    peer.py listen [--seed N] [--port P] [--max-seconds S]
    peer.py dial MULTIADDR [--seed N] [--timeout SECS] [--pings N] [--echo]
                 [--perf UPLOAD_BYTES DOWNLOAD_BYTES]

Transport stack: TCP + /noise + /yamux/1.0.0 only, bound to 127.0.0.1.
/perf/1.0.0 is py-libp2p's own `libp2p.perf.PerfService` (server and client).
stdout carries JSON lines only; every diagnostic goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

_T0 = time.monotonic()  # process start: --timeout bounds the whole run

# Everything the library (or anything else) might print goes to stderr: stdout
# is reserved for the JSON lines written through _OUT below.
_OUT = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
sys.stdout = sys.stderr

IMPL = "py-libp2p"
PING_PROTOCOL = "/ipfs/ping/1.0.0"
IDENTIFY_PROTOCOL = "/ipfs/id/1.0.0"
ECHO_PROTOCOL = "/rhizome-test/echo/1.0.0"
PING_SIZE = 32
ECHO_SIZE = 100_000
MAX_IDENTIFY_SIZE = 1 << 20  # refuse absurd identify length prefixes


def emit(event: str, **fields: Any) -> None:
    line = {"event": event, "impl": IMPL}
    line.update(fields)
    _OUT.write(json.dumps(line, separators=(",", ":")) + "\n")
    _OUT.flush()


def log(msg: str) -> None:
    print(f"[py-peer] {msg}", file=sys.stderr, flush=True)


class BadArgs(Exception):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    def seed_type(text: str) -> int:
        value = int(text)
        if not 0 <= value <= 255:
            raise argparse.ArgumentTypeError("seed must be in 0..255")
        return value

    def nonneg_int(text: str) -> int:
        value = int(text)
        if value < 0:
            raise argparse.ArgumentTypeError("must be >= 0")
        return value

    def port_type(text: str) -> int:
        value = int(text)
        if not 0 <= value <= 65535:
            raise argparse.ArgumentTypeError("port must be in 0..65535")
        return value

    def pos_float(text: str) -> float:
        value = float(text)
        if not value > 0:
            raise argparse.ArgumentTypeError("must be > 0")
        return value

    parser = argparse.ArgumentParser(prog="peer.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    lp = sub.add_parser("listen")
    lp.add_argument("--seed", type=seed_type, default=None)
    lp.add_argument("--port", type=port_type, default=0)
    lp.add_argument("--max-seconds", type=pos_float, default=120.0)

    dp = sub.add_parser("dial")
    dp.add_argument("multiaddr")
    dp.add_argument("--seed", type=seed_type, default=None)
    dp.add_argument("--timeout", type=pos_float, default=30.0)
    dp.add_argument("--pings", type=nonneg_int, default=1)
    dp.add_argument("--echo", action="store_true")
    dp.add_argument(
        "--perf", type=nonneg_int, nargs=2, default=None, metavar=("UPLOAD_BYTES", "DOWNLOAD_BYTES")
    )

    return parser.parse_args(argv)  # exits 2 on bad arguments


# --- libp2p imports are deferred so that `--help` / bad args stay fast ---------


def make_keypair(seed: int | None):
    from libp2p.crypto.ed25519 import create_new_key_pair

    if seed is None:
        return create_new_key_pair()
    return create_new_key_pair(bytes([seed]) * 32)


def make_host(key_pair):
    """A host speaking exactly TCP + /noise + /yamux/1.0.0, with no discovery."""
    from libp2p import new_host
    from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
    from libp2p.custom_types import TProtocol
    from libp2p.security.noise.transport import (
        PROTOCOL_ID as NOISE_PROTOCOL_ID,
        Transport as NoiseTransport,
    )
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID, Yamux
    from libp2p.transport.tcp.tcp import TCP

    noise = NoiseTransport(key_pair, noise_privkey=new_x25519().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={TProtocol(NOISE_PROTOCOL_ID): noise},
        muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        transports=[TCP()],
        enable_mDNS=False,
        enable_upnp=False,
        bootstrap=None,
    )

    # The swarm's AutoConnector re-dials peers it knows from the peerstore
    # (e.g. addresses learnt through identify) whenever it is below its
    # low-watermark. This peer must never dial anything but the address it
    # was given, so switch it off before the swarm starts.
    network = host.get_network()
    auto = getattr(network, "auto_connector", None)
    if auto is not None:

        async def _disabled(*_a: Any, **_k: Any) -> None:
            return None

        auto.start = _disabled
        auto.maybe_connect = _disabled
        auto.run_background_task = _disabled
        auto._started = False

    # One dial attempt only: a failed dial (e.g. wrong /p2p id) must fail,
    # not be retried with backoff.
    from libp2p.network.config import RetryConfig

    if hasattr(network, "retry_config"):
        network.retry_config = RetryConfig(max_retries=0)

    # BasicHost also identifies every new connection on its own (a background
    # task that only feeds the peerstore). This peer does that explicitly,
    # with one /ipfs/id/1.0.0 stream per connection whose answer it reports,
    # so turn the library's duplicate request off.
    host._schedule_identify = lambda *_a, **_k: None
    return host


def conn_remote_addr(conn) -> str | None:
    """Remote transport multiaddr of a swarm connection, without /p2p."""
    muxed = getattr(conn, "muxed_conn", None)
    for obj in (muxed, getattr(muxed, "secured_conn", None)):
        getter = getattr(obj, "get_remote_address", None)
        if getter is None:
            continue
        try:
            remote = getter()
        except Exception:
            remote = None
        if remote:
            host, port = remote[0], remote[1]
            if host.lower().startswith("::ffff:"):
                host = host[7:]
            proto = "ip6" if ":" in host else "ip4"
            return f"/{proto}/{host}/tcp/{port}"
    try:
        addrs = conn.get_transport_addresses()
        if addrs:
            return str(addrs[0])
    except Exception:
        pass
    return None


async def read_exact(stream, n: int) -> bytes:
    """Read exactly n bytes (no retry cap, unlike libp2p.io.utils.read_exactly)."""
    from libp2p.network.stream.exceptions import StreamEOF

    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(n - len(buf))
        except StreamEOF:
            chunk = b""
        if not chunk:
            raise EOFError(f"stream ended after {len(buf)} of {n} bytes")
        buf.extend(chunk)
    return bytes(buf)


async def read_uvarint(stream) -> int:
    value = 0
    for shift in range(0, 64, 7):
        byte = (await read_exact(stream, 1))[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise ValueError("uvarint too long")


async def request_identify(host, peer_id) -> dict[str, Any]:
    """Open /ipfs/id/1.0.0 to `peer_id`, read the uvarint-length-prefixed
    Identify protobuf and return the fields the contract reports."""
    from libp2p.custom_types import TProtocol
    from libp2p.identity.identify.pb.identify_pb2 import Identify
    from multiaddr import Multiaddr

    stream = await host.new_stream(peer_id, [TProtocol(IDENTIFY_PROTOCOL)])
    try:
        length = await read_uvarint(stream)
        if length > MAX_IDENTIFY_SIZE:
            raise ValueError(f"identify message too large ({length} bytes)")
        data = await read_exact(stream, length)
    finally:
        try:
            await stream.close()
        except Exception:
            pass

    msg = Identify()
    msg.ParseFromString(data)

    def ma(raw: bytes) -> str:
        try:
            return str(Multiaddr(raw))
        except Exception:
            return "0x" + raw.hex()

    observed = ma(msg.observed_addr) if msg.observed_addr else None
    return {
        "peer_id": str(peer_id),
        "agent_version": msg.agent_version,
        "protocol_version": msg.protocol_version,
        "protocols": list(msg.protocols),
        "listen_addrs": [ma(a) for a in msg.listen_addrs],
        "observed_addr": observed,
    }


def make_identify_handler(host, served: "trio.Event | None" = None):
    """/ipfs/id/1.0.0 responder: one uvarint-length-prefixed Identify message.

    Same message as py-libp2p's own handler (identity/identify/identify.py),
    minus its up-to-0.5 s wait for a non-empty listen-address list, which
    delays every answer from a peer that does not listen (our dialer).
    `served` is set once a response has been written."""
    from libp2p.identity.identify.identify import (
        _mk_identify_protobuf,
        _remote_address_to_multiaddr,
    )
    from libp2p.utils import varint

    async def handle_identify(stream) -> None:
        try:
            observed = None
            try:
                observed = _remote_address_to_multiaddr(stream.get_remote_address())
            except Exception:
                observed = None
            body = _mk_identify_protobuf(host, observed).SerializeToString()
            await stream.write(varint.encode_uvarint(len(body)) + body)
            if served is not None:
                served.set()
        except Exception as exc:  # noqa: BLE001
            log(f"identify responder: {type(exc).__name__}: {exc}")
        finally:
            try:
                await stream.close()
            except Exception:
                pass

    return handle_identify


async def echo_handler(stream) -> None:
    """/rhizome-test/echo/1.0.0: copy bytes back until the remote half-closes."""
    from libp2p.network.stream.exceptions import StreamEOF

    try:
        while True:
            try:
                chunk = await stream.read(65536)
            except StreamEOF:
                break
            if not chunk:
                break
            await stream.write(chunk)
        await stream.close()
    except Exception as exc:  # noqa: BLE001
        log(f"echo handler: {type(exc).__name__}: {exc}")
        try:
            await stream.reset()
        except Exception:
            pass


class _CountingStream:
    """A stream seen through PerfService's server handler: counts the bytes it
    reads and writes, and whether it ended with close() (success) or reset()."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.read_bytes = 0
        self.written_bytes = 0
        self.closed_ok = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def read(self, n: int | None = None) -> bytes:
        data = await self._stream.read(n)
        self.read_bytes += len(data or b"")
        return data

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)
        self.written_bytes += len(data)

    async def close(self) -> None:
        await self._stream.close()
        self.closed_ok = True

    async def reset(self) -> None:
        self.closed_ok = False
        await self._stream.reset()


async def start_perf(host):
    """Serves /perf/1.0.0 with py-libp2p's PerfService; its handler runs on a
    counting view of each stream so that a `perf_served` line can report what
    it received (the 8-byte length header not counted) and sent."""
    from libp2p.perf import PROTOCOL_NAME, PerfService

    service = PerfService(host)
    await service.start()

    async def handler(stream) -> None:
        counted = _CountingStream(stream)
        await service._handle_message(counted)  # the library's own server logic
        if counted.closed_ok:
            peer = stream.muxed_conn.peer_id
            emit(
                "perf_served",
                peer_id=str(peer),
                received_bytes=max(counted.read_bytes - 8, 0),
                sent_bytes=counted.written_bytes,
            )
        else:
            log("perf: a stream failed (reset by the server handler)")

    host.set_stream_handler(PROTOCOL_NAME, handler)
    return service


async def run_perf(service, target, upload: int, download: int) -> dict[str, Any]:
    """PerfService.measure_performance; returns its `final` report's fields."""
    final = None
    async for out in service.measure_performance(target, upload, download):
        if out["type"] == "final":
            final = out
    if final is None:
        raise RuntimeError("perf: no final report")
    return {
        "upload_bytes": final["upload_bytes"],
        "download_bytes": final["download_bytes"],
        "total_seconds": final["time_seconds"],
    }


async def watch_stdin(cancel_scope) -> None:
    """Cancel `cancel_scope` when stdin reaches EOF (or errors)."""
    import trio

    try:
        fd = os.dup(0)
    except OSError:
        return  # no stdin at all: nothing to watch
    stream = trio.lowlevel.FdStream(fd)
    try:
        while True:
            data = await stream.receive_some(4096)
            if not data:
                break
    except Exception as exc:  # noqa: BLE001
        log(f"stdin: {type(exc).__name__}: {exc}")
    log("stdin closed, exiting")
    cancel_scope.cancel()


async def watch_signals(cancel_scope) -> None:
    import trio

    # trio restores the handlers found on entry when the receiver closes; make
    # those no-ops so that a repeated signal during shutdown (timeout(1), for
    # one, signals both the child and its process group) cannot kill the
    # process with 128+signum instead of the clean exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_a: None)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log(f"signal {signum}, exiting")
            cancel_scope.cancel()
            return


def exit_watchdog(code: int, seconds: float = 3.0) -> None:
    """Graceful shutdown is best effort: exit hard if it takes too long."""
    import threading

    def _exit() -> None:
        log(f"shutdown took more than {seconds:g}s, exiting hard")
        _OUT.flush()
        os._exit(code)

    timer = threading.Timer(seconds, _exit)
    timer.daemon = True
    timer.start()


# --- listen ---------------------------------------------------------------------


async def run_listen(args: argparse.Namespace) -> int:
    import multiaddr
    import trio
    from libp2p.abc import INotifee

    key_pair = make_keypair(args.seed)
    host = make_host(key_pair)
    host.set_stream_handler(IDENTIFY_PROTOCOL, make_identify_handler(host))
    host.set_stream_handler(ECHO_PROTOCOL, echo_handler)

    new_conns_send, new_conns_recv = trio.open_memory_channel(1000)

    class ConnNotifee(INotifee):
        async def opened_stream(self, network, stream) -> None:
            return None

        async def closed_stream(self, network, stream) -> None:
            return None

        async def connected(self, network, conn) -> None:
            try:
                new_conns_send.send_nowait(conn)
            except Exception as exc:  # noqa: BLE001
                log(f"notifee: {exc}")

        async def disconnected(self, network, conn) -> None:
            return None

        async def listen(self, network, maddr) -> None:
            return None

        async def listen_close(self, network, maddr) -> None:
            return None

    host.get_network().register_notifee(ConnNotifee())

    listen_addr = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{args.port}")
    deadline = trio.current_time() + args.max_seconds

    async def identify_inbound(conn) -> None:
        peer_id = conn.muxed_conn.peer_id
        started = getattr(conn, "event_started", None)
        if started is not None:
            with trio.move_on_after(10):
                await started.wait()
        try:
            with trio.fail_after(20):
                fields = await request_identify(host, peer_id)
            emit("identify", **fields)
        except Exception as exc:  # noqa: BLE001
            log(f"identify of {peer_id} failed: {type(exc).__name__}: {exc}")

    async def handle_connections(nursery) -> None:
        async for conn in new_conns_recv:
            try:
                peer_id = conn.muxed_conn.peer_id
            except Exception:
                continue
            emit("connection", peer_id=str(peer_id), remote_addr=conn_remote_addr(conn))
            nursery.start_soon(identify_inbound, conn)

    async with host.run(listen_addrs=[listen_addr]):
        await start_perf(host)
        peer_id = host.get_id()
        addrs = [str(a) for a in host.get_addrs()]
        addr = next((a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/")), addrs[0])
        emit("listening", peer_id=str(peer_id), addr=addr)
        with trio.move_on_at(deadline):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_stdin, nursery.cancel_scope)
                nursery.start_soon(watch_signals, nursery.cancel_scope)
                nursery.start_soon(handle_connections, nursery)
        # Leave the host context with a bounded, best-effort shutdown.
        exit_watchdog(0)
        with trio.move_on_after(2):
            await host.close()
    return 0


# --- dial -----------------------------------------------------------------------


async def run_dial(args: argparse.Namespace, target, remote_id) -> int:
    import trio
    from libp2p.custom_types import TProtocol
    from libp2p.peer.peerinfo import PeerInfo

    key_pair = make_keypair(args.seed)
    host = make_host(key_pair)
    identify_served = trio.Event()
    host.set_stream_handler(IDENTIFY_PROTOCOL, make_identify_handler(host, identify_served))
    host.set_stream_handler(ECHO_PROTOCOL, echo_handler)
    step = "connect"
    result: dict[str, Any] = {"ok": False, "error": "not run"}

    async def steps() -> None:
        nonlocal step
        from multiaddr.protocols import P_P2P

        transport_addr = target.decapsulate_code(P_P2P)  # strip /p2p/<id>
        await host.connect(PeerInfo(remote_id, [transport_addr]))
        conns = host.get_network().get_connections(remote_id)
        if not conns:
            raise RuntimeError("no connection after dial")
        conn = conns[0]
        authenticated = conn.muxed_conn.peer_id
        if authenticated != remote_id:
            raise RuntimeError(
                f"authenticated peer id {authenticated} differs from expected {remote_id}"
            )
        emit(
            "connected",
            peer_id=str(authenticated),
            remote_addr=conn_remote_addr(conn) or str(transport_addr),
        )

        step = "identify"
        emit("identify", **(await request_identify(host, remote_id)))

        if args.pings > 0:
            step = "ping"
            stream = await host.new_stream(remote_id, [TProtocol(PING_PROTOCOL)])
            try:
                for seq in range(args.pings):
                    payload = os.urandom(PING_SIZE)
                    t0 = time.perf_counter()
                    await stream.write(payload)
                    pong = await read_exact(stream, PING_SIZE)
                    rtt_ms = (time.perf_counter() - t0) * 1000.0
                    if pong != payload:
                        raise RuntimeError(f"ping {seq}: echoed payload differs from what was sent")
                    emit("ping", peer_id=str(remote_id), rtt_ms=round(rtt_ms, 3), seq=seq)
            finally:
                try:
                    await stream.close()
                except Exception:
                    pass

        if args.echo:
            step = "echo"
            stream = await host.new_stream(remote_id, [TProtocol(ECHO_PROTOCOL)])
            payload = os.urandom(ECHO_SIZE)
            received = bytearray()

            async def writer() -> None:
                view = memoryview(payload)
                for off in range(0, ECHO_SIZE, 16384):
                    await stream.write(bytes(view[off : off + 16384]))
                await stream.close_write()

            async def reader() -> None:
                from libp2p.network.stream.exceptions import StreamEOF

                while True:
                    try:
                        chunk = await stream.read(65536)
                    except StreamEOF:
                        break
                    if not chunk:
                        break
                    received.extend(chunk)
                    if len(received) > ECHO_SIZE:
                        raise RuntimeError(f"echo: got more than {ECHO_SIZE} bytes back")

            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(writer)
                    nursery.start_soon(reader)
            finally:
                try:
                    await stream.close()
                except Exception:
                    pass
            if len(received) != ECHO_SIZE:
                raise RuntimeError(f"echo: got {len(received)} bytes back, sent {ECHO_SIZE}")
            if bytes(received) != payload:
                raise RuntimeError(f"echo: the {ECHO_SIZE} bytes echoed back differ from those sent")
            emit("echo", peer_id=str(remote_id), bytes=ECHO_SIZE, ok=True)

        if args.perf is not None:
            step = "perf"
            upload, download = args.perf
            report = await run_perf(perf, target, upload, download)
            if (report["upload_bytes"], report["download_bytes"]) != (upload, download):
                raise RuntimeError(f"perf: moved {report}, asked for {upload} up, {download} down")
            emit("perf", ok=True, peer_id=str(remote_id), **report)

        step = "done"
        # Every peer identifies each new connection: stay connected (briefly)
        # until the remote's identify request has been answered, so that a
        # listener gets to report us even when all our steps were quick.
        with trio.move_on_after(2):
            await identify_served.wait()

    async with host.run(listen_addrs=[]):
        perf = await start_perf(host)
        try:
            # --timeout counts from process start (imports take ~1 s) and
            # keeps ~0.5 s for printing `done` and shutting down.
            budget = args.timeout - (time.monotonic() - _T0) - 0.5
            with trio.fail_after(max(budget, 0.1)):
                await steps()
            result = {"ok": True}
        except trio.TooSlowError:
            result = {"ok": False, "error": f"{step}: timed out (--timeout {args.timeout:g}s)"}
        except BaseException as exc:  # noqa: BLE001 (includes ExceptionGroup)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            result = {"ok": False, "error": f"{step}: {describe(exc)}"}
        emit("done", **result)
        exit_watchdog(0 if result.get("ok") else 1)
        with trio.move_on_after(2):
            await host.close()
    return 0 if result.get("ok") else 1


def describe(exc: BaseException) -> str:
    """Flatten an exception and its causes (and py-libp2p MultiError members)
    into one line, outermost first, so the root cause (e.g. the peer-id
    mismatch from the Noise handshake) is visible."""
    parts: list[str] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(parts) < 10:
        seen.add(id(cur))
        if isinstance(cur, BaseExceptionGroup) and cur.exceptions:
            cur = cur.exceptions[0]
            continue
        members = getattr(cur, "errors", None)
        if isinstance(members, (list, tuple)) and members and isinstance(members[0], BaseException):
            cur = members[-1]
            continue
        text = " ".join(str(cur).split())
        parts.append(f"{type(cur).__name__}: {text}" if text else type(cur).__name__)
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    import trio

    if args.cmd == "listen":
        code = trio.run(run_listen, args)
    else:
        from libp2p.peer.id import ID
        from multiaddr import Multiaddr

        try:
            target = Multiaddr(args.multiaddr)
            p2p = target.value_for_protocol("p2p")
            if not p2p:
                raise BadArgs("multiaddr has no /p2p/<peer id>")
            remote_id = ID.from_base58(str(p2p))
            ip4 = target.value_for_protocol("ip4")
            tcp = target.value_for_protocol("tcp")
            if not ip4 or not tcp:
                raise BadArgs("only /ip4/<addr>/tcp/<port>/p2p/<id> is supported")
        except Exception as exc:  # noqa: BLE001
            log(f"bad multiaddr {args.multiaddr!r}: {exc}")
            emit("done", ok=False, error=f"bad multiaddr {args.multiaddr!r}: {exc}")
            return 2
        code = trio.run(run_dial, args, target, remote_id)
    return code


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    _OUT.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: background library tasks/threads must not be
    # able to keep the process alive or print after we are done.
    os._exit(rc)
