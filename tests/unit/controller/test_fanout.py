"""Shared fan-out: each change of a service is diffed once and encoded once for all its streams.

The directory hands every stream at the same version of a service the same ``Delta``; the
destination service encodes a delta once (``EncodedUpdate``) and sends those bytes on every
stream. A stream that fell behind catches up in one step to the latest state, and a new
stream's first message is the full current state; what each client holds after applying
its messages is always the service's current endpoints, as with a per-stream EndpointView.
The destination tests run their own event loop with fake grpclib streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from grpclib.encoding.proto import ProtoCodec
from hypothesis import given
from hypothesis import strategies as st

from lightmesh.api.gen import destination_pb2 as pb
from lightmesh.controller.destination import GET, NOT_A_SERVICE, DestinationService
from lightmesh.controller.directory import Cursor, Directory
from lightmesh.controller.endpoints import Add, Endpoint, EndpointView, NoEndpoints, Remove, Service, Update
from lightmesh.controller.metrics import ControllerStats
from lightmesh.controller.translate import EncodedUpdate, update_message
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

NAME = ServiceName("web", "default", 80)
KEY = str(NAME)
A, B, C = (Endpoint(SocketAddr(f"10.0.0.{i}", 80)) for i in (1, 2, 3))


def svc(*endpoints: Endpoint) -> Service:
    return Service(NAME, {e.addr: e for e in endpoints})


def synced(*endpoints: Endpoint) -> Directory:
    directory = Directory()
    directory.replace_all({KEY: svc(*endpoints)})
    return directory


def test_streams_at_the_same_version_share_one_delta() -> None:
    directory = synced(A, B)
    cursors = [Cursor() for _ in range(3)]
    directory.watch(KEY, lambda: None)
    first = [directory.catch_up(KEY, c) for c in cursors]
    assert first[0] is first[1] is first[2]
    assert first[0] is not None and first[0].updates == (Add((A, B)),)
    directory.set_service(KEY, svc(B, C))
    deltas = [directory.catch_up(KEY, c) for c in cursors]
    assert deltas[0] is deltas[1] is deltas[2]
    assert deltas[0] is not None and deltas[0].updates == (Add((C,)), Remove((A.addr,)))
    assert [directory.catch_up(KEY, c) for c in cursors] == [None, None, None]  # up to date


def test_a_stream_behind_gets_the_latest_state_in_one_delta_not_every_change() -> None:
    directory = synced(A)
    directory.watch(KEY, lambda: None)
    slow, fast = Cursor(), Cursor()
    directory.catch_up(KEY, slow)
    directory.catch_up(KEY, fast)
    for state in (svc(A, B), svc(A, B, C), svc(B, C)):
        directory.set_service(KEY, state)
        directory.catch_up(KEY, fast)
    delta = directory.catch_up(KEY, slow)
    assert delta is not None and delta.updates == (Add((B, C)), Remove((A.addr,)))
    directory.set_service(KEY, svc(A))
    directory.set_service(KEY, svc(B, C))  # back to what the slow stream holds
    delta = directory.catch_up(KEY, slow)
    assert delta is not None and delta.updates == ()


def test_nothing_is_answered_before_the_first_sync_then_the_full_state() -> None:
    directory = Directory()
    woken: list[int] = []
    directory.watch(KEY, lambda: woken.append(1))
    cursor = Cursor()
    directory.set_service(KEY, svc(A))
    assert directory.catch_up(KEY, cursor) is None
    directory.mark_synced()
    assert woken == [1, 1]
    delta = directory.catch_up(KEY, cursor)
    assert delta is not None and delta.updates == (Add((A,)),)


def _apply(held: dict[SocketAddr, Endpoint], updates: tuple[Update, ...]) -> None:
    for update in updates:
        if isinstance(update, Add):
            held.update((e.addr, e) for e in update.endpoints)
        elif isinstance(update, Remove):
            for addr in update.addrs:
                del held[addr]
        else:
            held.clear()


_endpoint = st.builds(Endpoint, st.sampled_from([A.addr, B.addr, C.addr]), st.sampled_from([1, 10_000]))
_state = st.one_of(st.none(), st.lists(_endpoint).map(lambda es: svc(*es)))
_step = st.one_of(_state.map(lambda s: ("set", s)), st.integers(0, 3).map(lambda i: ("catch_up", i)))


@given(st.lists(_step, max_size=25))
def test_shared_deltas_are_what_each_stream_would_compute_alone(steps: list[tuple[str, Any]]) -> None:
    directory = synced(A)
    cursors = [Cursor() for _ in range(4)]
    views = [EndpointView() for _ in range(4)]
    held: list[dict[SocketAddr, Endpoint]] = [{} for _ in range(4)]
    for _ in cursors:
        directory.watch(KEY, lambda: None)
    for kind, arg in [*steps, *(("catch_up", i) for i in range(4))]:
        if kind == "set":
            directory.set_service(KEY, arg)
            continue
        delta = directory.catch_up(KEY, cursors[arg])
        alone = views[arg].update(directory.get(KEY))
        assert (delta.updates if delta else ()) == tuple(alone)
        _apply(held[arg], delta.updates if delta else ())
        current = directory.get(KEY)
        assert held[arg] == (dict(current.endpoints) if current else {})


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` in a loop of its own, leaving the thread's current loop (pytest's) alone."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(main)


class FakeStream:
    """A grpclib server stream: one request, then records what is sent; ``gate`` can hold sends."""

    def __init__(self, path: str = "web.default:80") -> None:
        self.request: pb.GetDestination | None = pb.GetDestination(scheme="k8s", path=path)
        self.sent: list[EncodedUpdate] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def recv_message(self) -> pb.GetDestination | None:
        request, self.request = self.request, None
        return request

    async def send_message(self, message: EncodedUpdate) -> None:
        await self.gate.wait()
        self.sent.append(message)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_streams_of_a_service_send_the_same_encoded_messages() -> None:
    run(_streams_of_a_service_send_the_same_encoded_messages())


async def _streams_of_a_service_send_the_same_encoded_messages() -> None:
    directory = synced(A, B)
    service = DestinationService(directory, ControllerStats())
    streams = [FakeStream() for _ in range(3)]
    tasks = [asyncio.create_task(service.Get(s)) for s in streams]  # type: ignore[arg-type]
    await settle()
    directory.set_service(KEY, svc(B, C))
    await settle()
    for stream in streams[1:]:
        assert [id(m) for m in stream.sent] == [id(m) for m in streams[0].sent]  # the very same objects
    add_all, add_c, remove_a = streams[0].sent
    assert pb.Update.FromString(add_all.data) == update_message(Add((A, B)), NAME)
    assert (add_c.kind, remove_a.kind) == ("add", "remove")
    assert pb.Update.FromString(remove_a.data) == update_message(Remove((A.addr,)), NAME)
    assert service.stats.updates["get", "add"] == 6
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_slow_stream_gets_the_latest_state_once_it_can_send_again() -> None:
    run(_a_slow_stream_gets_the_latest_state_once_it_can_send_again())


async def _a_slow_stream_gets_the_latest_state_once_it_can_send_again() -> None:
    directory = synced(A)
    service = DestinationService(directory, ControllerStats())
    slow, fast = FakeStream(), FakeStream()
    tasks = [asyncio.create_task(service.Get(s)) for s in (slow, fast)]  # type: ignore[arg-type]
    await settle()
    slow.gate.clear()
    for state in (svc(A, B), svc(A, B, C), svc(A, B), svc(B)):  # the slow one is stuck sending add B
        directory.set_service(KEY, state)
        await settle()
    slow.gate.set()
    await settle()
    decoded = [pb.Update.FromString(m.data) for m in slow.sent]
    assert decoded == [update_message(u, NAME) for u in (Add((A,)), Add((B,)), Remove((A.addr,)))]
    assert [m.kind for m in fast.sent] == ["add", "add", "add", "remove", "remove"]  # every change
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_name_outside_the_cluster_gets_no_endpoints_not_exists_at_once() -> None:
    run(_a_name_outside_the_cluster_gets_no_endpoints_not_exists_at_once())


async def _a_name_outside_the_cluster_gets_no_endpoints_not_exists_at_once() -> None:
    service = DestinationService(synced(A), ControllerStats())
    stream = FakeStream("web.example.org:80")
    task = asyncio.create_task(service.Get(stream))  # type: ignore[arg-type]
    await settle()
    assert stream.sent == [NOT_A_SERVICE]
    assert pb.Update.FromString(NOT_A_SERVICE.data) == update_message(NoEndpoints(exists=False), None)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_an_endpoint_address_gets_that_endpoint_and_follows_it() -> None:
    run(_an_endpoint_address_gets_that_endpoint_and_follows_it())


async def _an_endpoint_address_gets_that_endpoint_and_follows_it() -> None:
    meshed = Endpoint(A.addr, identity="web.default.serviceaccount.identity.lightmesh.cluster.local")
    directory = synced(meshed, B)
    service = DestinationService(directory, ControllerStats())
    streams = [FakeStream("10.0.0.1:80"), FakeStream("10.0.0.9:80"), FakeStream("[::ffff:a00:1]:80")]
    tasks = [asyncio.create_task(service.Get(s)) for s in streams]  # type: ignore[arg-type]
    await settle()
    decoded = [[pb.Update.FromString(m.data) for m in s.sent] for s in streams]
    assert decoded[0] == [update_message(Add((meshed,)), None)]
    assert decoded[0][0].add.addrs[0].tls_identity.dns_like_identity.name == meshed.identity
    assert decoded[1] == [update_message(NoEndpoints(exists=False), None)]  # no service lists it
    assert decoded[2] == [update_message(NoEndpoints(exists=False), None)]
    directory.set_service(KEY, svc(B))  # the pod is gone
    await settle()
    assert pb.Update.FromString(streams[0].sent[-1].data) == update_message(NoEndpoints(exists=False), None)
    assert len(streams[1].sent) == 1  # not told about others' changes
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_get_is_declared_with_encoded_updates_which_grpclib_sends_as_they_are() -> None:
    handler = DestinationService(Directory(), ControllerStats()).__mapping__()[GET]
    assert handler.reply_type is EncodedUpdate
    assert ProtoCodec().encode(NOT_A_SERVICE, handler.reply_type) == NOT_A_SERVICE.data
