"""Throughput of the emulator alone: keep-alive connections, small JSON and thumbnails.

Usage::

    python tests/benchmarks/emulator_bench.py [--connections 32] [--processes 2]
        [--duration 5] [--preset demo] [--target 3000]

For each scenario it starts a fresh emulator *process* (``python -m
harvester.emulator``), then drives it from ``--processes`` client processes
that share ``--connections`` keep-alive connections. The clients are raw
asyncio sockets sending pre-built requests and parsing only the status line and
Content-Length, so the client side costs far less than the server side and the
figure measures the emulator. It prints one table row per scenario and exits 1
if a scenario serving the app stays under ``--target`` requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing as mp
import signal
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from harvester.emulator import spawn_emulator

DEMO_IMAGES = [9762957 + i for i in range(8)]


@dataclass(frozen=True)
class Scenario:
    name: str
    paths: tuple[str, ...]
    counts_for_target: bool = True


SCENARIOS = (
    Scenario("control (no app)", ("/__emulator__/health",), counts_for_target=False),
    Scenario(
        "json: webclient/api",
        ("/webclient/api/plates/?id=2302", "/webclient/api/annotations/?type=map&screen=2302"),
    ),
    Scenario("json: api/v0 screen", ("/api/v0/m/screens/2302/",)),
    Scenario("json: plate grid", ("/webgateway/plate/7361/0/", "/webgateway/plate/7368/0/")),
    Scenario("json: imgData", tuple(f"/webgateway/imgData/{i}/" for i in DEMO_IMAGES)),
    Scenario(
        "thumbnail 96",
        tuple(f"/webgateway/render_thumbnail/{i}/96/" for i in DEMO_IMAGES),
    ),
)


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending the next request once an answer is complete."""

    def __init__(self, requests: list[bytes], done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.deadline = 0.0
        self.done = done
        self.i = 0
        self.buf = b""
        self.need = -1  # bytes of body still missing, -1 = reading head
        self.ok = 0
        self.bad = 0
        self.bytes = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def begin(self, deadline: float) -> None:
        self.deadline = deadline
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.transport.write(self.requests[self.i % len(self.requests)])
        self.i += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end]
                self.buf = self.buf[end + 4 :]
                status = head[9:12]
                if status == b"200":
                    self.ok += 1
                else:
                    self.bad += 1
                start = head.lower().find(b"content-length:")
                self.need = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(self.buf) < self.need:
                return
            self.bytes += self.need
            self.buf = self.buf[self.need :]
            self.need = -1
            if time.monotonic() >= self.deadline:
                assert self.transport is not None
                self.transport.close()
                if not self.done.done():
                    self.done.set_result(None)
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _client(
    host: str, port: int, paths: tuple[str, ...], conns: int, start_at: float, duration: float
) -> tuple[int, int, int]:
    loop = asyncio.get_running_loop()
    requests = [
        f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: bench\r\n\r\n".encode()
        for p in paths
    ]
    # Connect first, then start together at the shared wall-clock instant.
    protos: list[_Conn] = []
    futures: list[asyncio.Future[None]] = []
    for _ in range(conns):
        fut: asyncio.Future[None] = loop.create_future()
        _, proto = await loop.create_connection(functools.partial(_Conn, requests, fut), host, port)
        protos.append(proto)
        futures.append(fut)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + duration
    for proto in protos:
        proto.begin(deadline)
    await asyncio.wait_for(asyncio.gather(*futures), duration + 30)
    return (
        sum(p.ok for p in protos),
        sum(p.bad for p in protos),
        sum(p.bytes for p in protos),
    )


def _client_process(
    url: str,
    paths: tuple[str, ...],
    conns: int,
    start_at: float,
    duration: float,
    out: mp.Queue[tuple[int, int, int]],
) -> None:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    out.put(asyncio.run(_client(parts.hostname, parts.port, paths, conns, start_at, duration)))


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> tuple[float, int, int, int]:
    proc, url = spawn_emulator(["--preset", args.preset, "--port", "0"])
    try:
        ctx = mp.get_context("fork")
        queue: mp.Queue[tuple[int, int, int]] = ctx.Queue()
        per = [args.connections // args.processes] * args.processes
        per[0] += args.connections - sum(per)
        # Warm-up: fill caches (thumbnails, route tables) outside the measured window.
        warm = ctx.Process(
            target=_client_process, args=(url, scenario.paths, 4, time.time(), 0.5, queue)
        )
        warm.start()
        warm.join()
        queue.get()
        start_at = time.time() + 1.0
        workers = [
            ctx.Process(
                target=_client_process,
                args=(url, scenario.paths, n, start_at, args.duration, queue),
            )
            for n in per
        ]
        for w in workers:
            w.start()
        results = [queue.get(timeout=args.duration + 60) for _ in workers]
        for w in workers:
            w.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    ok = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    size = sum(r[2] for r in results)
    return (ok + bad) / args.duration, ok, bad, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--target", type=float, default=3000.0)
    args = parser.parse_args(argv)
    print(
        f"emulator benchmark: {args.connections} keep-alive connections from "
        f"{args.processes} client processes, {args.duration:g} s per scenario"
    )
    header = f"{'scenario':<22} {'req/s':>8} {'200':>8} {'non-200':>8} {'avg bytes':>10}  verdict"
    print(header)
    print("-" * len(header))
    failed = False
    for scenario in SCENARIOS:
        rate, ok, bad, size = run_scenario(scenario, args)
        avg = size / max(1, ok + bad)
        if not scenario.counts_for_target:
            verdict = "baseline"
        elif bad:
            verdict = "NOT 200"
            failed = True
        elif rate >= args.target:
            verdict = f">= {args.target:g} ok"
        else:
            verdict = f"< {args.target:g} SLOW"
            failed = True
        print(f"{scenario.name:<22} {rate:>8.0f} {ok:>8} {bad:>8} {avg:>10.0f}  {verdict}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
