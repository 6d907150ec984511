"""The destination scale bench's load generator: many ``Destination.Get`` streams, timestamped.

Run by ``destination_scale.py`` as its own process (so its CPU is counted apart from the
controller's)::

    python bench/dscale_client.py --addr 127.0.0.1:P --services 100 --streams 1000 \
        --per-conn 10 --out events.json --deadline 600

Stream ``i`` asks for service ``i % services`` and rides connection ``i // per-conn``
(grpclib ``Channel``s: one HTTP/2 connection each, like a proxy holding several
subscriptions). Every message gets ``time.monotonic()`` on receipt, a clock shared by
every process on the host, so the writer's change times and these receipt times compare.
The first message of a stream is its initial state; each later one is recorded per
address as ``[stream, kind, ipv4, t]`` (kind 0 add, 1 remove, 2 no_endpoints).

Control is line-based on stdin/stdout: the client prints ``ready {json}`` once every
stream has its initial state; ``go`` starts the event-loop lag probe (a 10 ms ticker,
so a saturated client shows as lag), ``count`` answers ``count N`` (address events so
far), ``stop`` writes ``--out`` and exits. ``--deadline`` bounds the whole process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from grpclib.client import Channel

from bench.dscale_registry import service_key
from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.api.gen.destination_grpc import DestinationStub

TICK = 0.01
KINDS = {"add": 0, "remove": 1, "no_endpoints": 2}


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.events: list[tuple[int, int, int, float]] = []
        self.initial: dict[int, tuple[float, int]] = {}  # stream -> (seconds to state, addresses)
        self.errors: list[str] = []
        self.lags: list[float] = []
        self.all_ready = asyncio.Event()
        self.probing = False

    async def follow(self, idx: int, stub: DestinationStub) -> None:
        request = pb.GetDestination(scheme="k8s", path=service_key(idx % self.args.services))
        opened = time.monotonic()
        try:
            async with stub.Get.open() as stream:
                await stream.send_message(request, end=True)
                while (message := await stream.recv_message()) is not None:
                    self.record(idx, opened, message, time.monotonic())
            self.errors.append(f"stream {idx} ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"stream {idx}: {exc!r}")

    def record(self, idx: int, opened: float, message: pb.Update, t: float) -> None:
        kind = message.WhichOneof("update")
        if idx not in self.initial:
            self.initial[idx] = (t - opened, len(message.add.addrs) if kind == "add" else 0)
            if len(self.initial) == self.args.streams:
                self.all_ready.set()
        elif kind == "add":
            self.events.extend((idx, 0, a.addr.ip.ipv4, t) for a in message.add.addrs)
        elif kind == "remove":
            self.events.extend((idx, 1, a.ip.ipv4, t) for a in message.remove.addrs)
        else:
            self.events.append((idx, KINDS["no_endpoints"], 0, t))

    async def probe(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(TICK)
            if self.probing:
                self.lags.append(time.monotonic() - before - TICK)

    async def control(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        announce = asyncio.create_task(self.announce())
        try:
            while line := (await reader.readline()).decode().strip():
                if line == "go":
                    self.probing = True
                elif line == "count":
                    say(f"count {len(self.events)} errors {len(self.errors)}")
                elif line == "stop":
                    return
        finally:
            announce.cancel()

    async def announce(self) -> None:
        await self.all_ready.wait()
        times = sorted(t for t, _ in self.initial.values())
        sizes = sorted(n for _, n in self.initial.values())
        say("ready " + json.dumps({"subscribe_s": times, "initial_min": sizes[0], "initial_max": sizes[-1]}))

    def dump(self) -> None:
        doc = {"events": self.events, "errors": self.errors[:100], "error_count": len(self.errors)}
        doc["lag_s"] = self.lags
        Path(self.args.out).write_text(json.dumps(doc))


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def amain(args: argparse.Namespace) -> None:
    host, port = args.addr.rsplit(":", 1)
    client = Client(args)
    conns = -(-args.streams // args.per_conn)
    channels = [Channel(host, int(port)) for _ in range(conns)]
    tasks = [asyncio.create_task(client.probe())]
    tasks += [
        asyncio.create_task(client.follow(i, DestinationStub(channels[i // args.per_conn])))
        for i in range(args.streams)
    ]
    try:
        async with asyncio.timeout(args.deadline):
            await client.control()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            channel.close()
        client.dump()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--services", type=int, required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--per-conn", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--deadline", type=float, default=600.0)
    args = ap.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(amain(args))
    else:
        uvloop.run(amain(args))


if __name__ == "__main__":
    main()
