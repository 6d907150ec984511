"""A grpcio ``grpc.testing.TestService`` server with the behaviour of the public interop spec.

:class:`InteropServer` serves the test service on ``127.0.0.1`` (port 0 by default: the
bound port is :attr:`InteropServer.port`) from a thread pool, and is a context manager::

    with InteropServer() as server:
        channel = grpc.insecure_channel(server.addr)

Server features (names as in the spec): EmptyCall, UnaryCall, StreamingInputCall,
StreamingOutputCall, FullDuplexCall, HalfDuplexCall, Echo Status (``response_status``
ends the call with that code and message), Echo Metadata (``x-grpc-test-echo-initial``
comes back as initial metadata, ``x-grpc-test-echo-trailing-bin`` as trailing metadata),
and ResponseParameters' ``size`` and ``interval_us``.

``TestService/UnimplementedCall`` and the whole ``grpc.testing.UnimplementedService`` are
deliberately not registered, so gRPC itself answers them with UNIMPLEMENTED (a
trailers-only response), as a real interop server does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from typing import Any

import grpc

from tests.support.grpc_interop.gen import load

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
_STATUS_BY_NUMBER = {status.value[0]: status for status in grpc.StatusCode}


def _echo_metadata(context: grpc.ServicerContext) -> None:
    """Echo Metadata: send the echo keys back as initial and trailing metadata."""
    received = dict(context.invocation_metadata())
    if ECHO_INITIAL_KEY in received:
        context.send_initial_metadata(((ECHO_INITIAL_KEY, received[ECHO_INITIAL_KEY]),))
    if ECHO_TRAILING_KEY in received:
        context.set_trailing_metadata(((ECHO_TRAILING_KEY, received[ECHO_TRAILING_KEY]),))


def _echo_status(request: Any, context: grpc.ServicerContext) -> None:
    """Echo Status: end the call with the requested code and message (never returns then)."""
    if request.HasField("response_status") and request.response_status.code != 0:
        code = _STATUS_BY_NUMBER.get(request.response_status.code, grpc.StatusCode.UNKNOWN)
        context.abort(code, request.response_status.message)


def _check_payload_type(payload_type: int, context: grpc.ServicerContext) -> None:
    pb = load()
    if payload_type != pb.messages_pb2.COMPRESSABLE:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported response_type {payload_type}")


class TestService:
    """The servicer: one method per implemented RPC of ``grpc.testing.TestService``."""

    __test__ = False  # not a pytest test class

    def EmptyCall(self, request: Any, context: grpc.ServicerContext) -> Any:
        return load().empty_pb2.Empty()

    def UnaryCall(self, request: Any, context: grpc.ServicerContext) -> Any:
        pb = load()
        _echo_metadata(context)
        _echo_status(request, context)
        _check_payload_type(request.response_type, context)
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        payload = pb.messages_pb2.Payload(type=request.response_type, body=bytes(request.response_size))
        return pb.messages_pb2.SimpleResponse(payload=payload)

    def StreamingInputCall(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Any:
        size = sum(len(request.payload.body) for request in request_iterator)
        return load().messages_pb2.StreamingInputCallResponse(aggregated_payload_size=size)

    def StreamingOutputCall(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        _echo_metadata(context)
        _echo_status(request, context)
        yield from self._respond(request, context, _cancelled(context))

    def FullDuplexCall(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        _echo_metadata(context)
        cancelled = _cancelled(context)
        for request in request_iterator:
            _echo_status(request, context)
            yield from self._respond(request, context, cancelled)

    def HalfDuplexCall(self, request_iterator: Iterable[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        _echo_metadata(context)
        cancelled = _cancelled(context)
        requests = list(request_iterator)  # buffer everything until the client half-closes
        for request in requests:
            _echo_status(request, context)
            yield from self._respond(request, context, cancelled)

    def _respond(
        self, request: Any, context: grpc.ServicerContext, cancelled: threading.Event
    ) -> Iterator[Any]:
        """One response per ResponseParameters, each after its ``interval_us`` (the spec's own delay)."""
        pb = load()
        _check_payload_type(request.response_type, context)
        for params in request.response_parameters:
            if params.interval_us and cancelled.wait(params.interval_us / 1_000_000):
                return  # the call ended while waiting: nobody will read the rest
            payload = pb.messages_pb2.Payload(type=request.response_type, body=bytes(params.size))
            yield pb.messages_pb2.StreamingOutputCallResponse(payload=payload)


def _cancelled(context: grpc.ServicerContext) -> threading.Event:
    """An event set when the call terminates (cancelled, deadline or done), for interruptible waits."""
    event = threading.Event()
    context.add_callback(event.set)
    return event


def _handlers(service: TestService) -> grpc.GenericRpcHandler:
    pb = load()
    empty, msgs = pb.empty_pb2.Empty, pb.messages_pb2

    def codec(request: Any, response: Any) -> dict[str, Any]:
        return {"request_deserializer": request.FromString, "response_serializer": response.SerializeToString}

    duplex = codec(msgs.StreamingOutputCallRequest, msgs.StreamingOutputCallResponse)
    return grpc.method_handlers_generic_handler(
        "grpc.testing.TestService",
        {
            "EmptyCall": grpc.unary_unary_rpc_method_handler(service.EmptyCall, **codec(empty, empty)),
            "UnaryCall": grpc.unary_unary_rpc_method_handler(
                service.UnaryCall, **codec(msgs.SimpleRequest, msgs.SimpleResponse)
            ),
            "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
                service.StreamingInputCall,
                **codec(msgs.StreamingInputCallRequest, msgs.StreamingInputCallResponse),
            ),
            "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(
                service.StreamingOutputCall, **duplex
            ),
            "FullDuplexCall": grpc.stream_stream_rpc_method_handler(service.FullDuplexCall, **duplex),
            "HalfDuplexCall": grpc.stream_stream_rpc_method_handler(service.HalfDuplexCall, **duplex),
            # UnimplementedCall: deliberately absent (see the module docstring)
        },
    )


class InteropServer:
    """The interop test server on ``127.0.0.1:port`` (``port=0``: any free port)."""

    def __init__(self, port: int = 0, max_workers: int = 32) -> None:
        # Threads, not asyncio: a handler blocked on a stream the client abandoned (a
        # proxy that loses a RST_STREAM) holds only its own thread until stop().
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc-interop"),
            options=[("grpc.so_reuseport", 0)],
        )
        self.server.add_generic_rpc_handlers((_handlers(TestService()),))
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        if self.port == 0:
            raise RuntimeError(f"could not bind 127.0.0.1:{port}")

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> InteropServer:
        self.server.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop serving; calls still in flight are cancelled (after ``grace`` seconds if given)."""
        self.server.stop(grace).wait(timeout=10)

    def __enter__(self) -> InteropServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
