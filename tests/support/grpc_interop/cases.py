"""The client test cases of the public gRPC interop spec, run against any ``grpc.Channel``.

Each case is a function ``case(channel, timeout=DEFAULT_TIMEOUT)`` that follows the
spec's procedure (doc/interop-test-descriptions.md in grpc/grpc) and raises
:class:`AssertionError` when what comes back differs from what the spec asserts, a call
that unexpectedly fails included (its gRPC code and details are in the message).
:data:`CASES` maps the spec's case names to the functions.

Every call carries a deadline of ``timeout`` seconds, so a broken hop between client and
server makes a case fail quickly instead of hanging; timeout_on_sleeping_server uses
the spec's own 1 ms deadline. The cancellation and deadline cases also check that the
same channel still completes a call afterwards (a cancelled stream must not take its
connection down), which the spec leaves implicit. Payload bodies are checked to be all
zeros, as the spec allows.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from tests.support.grpc_interop.gen import load

DEFAULT_TIMEOUT = 10.0
SLEEPING_SERVER_TIMEOUT = 0.001  # the spec's deadline for timeout_on_sleeping_server

LARGE_REQUEST_SIZE = 271828
LARGE_RESPONSE_SIZE = 314159
REQUEST_SIZES = (27182, 8, 1828, 45904)
AGGREGATED_REQUEST_SIZE = 74922
RESPONSE_SIZES = (31415, 9, 2653, 58979)

ECHO_INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
ECHO_TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
UNKNOWN = 2  # grpc.StatusCode.UNKNOWN, the code status_code_and_message asks for

Case = Callable[..., None]


class Pipe:
    """A request iterator the test feeds while the call runs (for bidi streaming).

    ``add`` queues a request, ``close`` half-closes the request stream; grpc's
    request-consuming thread blocks in ``__next__`` until one of them happens. Used
    as a context manager it always half-closes, so that thread never outlives a case.
    """

    _CLOSED = object()

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def add(self, request: Any) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(self._CLOSED)

    def __iter__(self) -> Pipe:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._CLOSED:
            self._queue.put(item)  # stay closed for any later next()
            raise StopIteration
        return item

    def __enter__(self) -> Pipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(error: grpc.RpcError) -> str:
    call: Any = error
    return f"{call.code()}: {call.details()!r}"


@contextlib.contextmanager
def _succeeds(what: str) -> Iterator[None]:
    """Turn an unexpected gRPC failure inside the block into an AssertionError naming the call."""
    try:
        yield
    except grpc.RpcError as error:
        raise AssertionError(f"{what} failed: {_describe(error)}") from error


def _expect_status(
    what: str, call: Callable[[], object], code: grpc.StatusCode, details: str | None = None
) -> None:
    """``call()`` must fail with ``code`` (and exactly ``details`` when given)."""
    failed: Any = None
    try:
        call()
    except grpc.RpcError as error:
        failed = error
    if failed is None:
        raise AssertionError(f"{what}: expected {code}, but the call succeeded")
    assert failed.code() == code, f"{what}: expected {code}, got {_describe(failed)}"
    if details is not None:
        assert failed.details() == details, f"{what}: expected details {details!r}, got {failed.details()!r}"


def _stub(channel: grpc.Channel) -> Any:
    return load().test_pb2_grpc.TestServiceStub(channel)


def _zeros(size: int) -> Any:
    return load().messages_pb2.Payload(type=load().messages_pb2.COMPRESSABLE, body=bytes(size))


def _check_payload(what: str, payload: Any, size: int) -> None:
    assert payload.type == load().messages_pb2.COMPRESSABLE, f"{what}: payload type {payload.type}"
    assert len(payload.body) == size, f"{what}: payload of {len(payload.body)} bytes, expected {size}"
    assert payload.body == bytes(size), f"{what}: payload body is not all zeros"


def _streaming_request(response_size: int | None = None, request_size: int | None = None) -> Any:
    msgs = load().messages_pb2
    request = msgs.StreamingOutputCallRequest(response_type=msgs.COMPRESSABLE)
    if response_size is not None:
        request.response_parameters.append(msgs.ResponseParameters(size=response_size))
    if request_size is not None:
        request.payload.CopyFrom(_zeros(request_size))
    return request


def _large_request() -> Any:
    msgs = load().messages_pb2
    return msgs.SimpleRequest(
        response_type=msgs.COMPRESSABLE, response_size=LARGE_RESPONSE_SIZE, payload=_zeros(LARGE_REQUEST_SIZE)
    )


def _channel_still_serves(channel: grpc.Channel, timeout: float) -> None:
    with _succeeds("EmptyCall on the same channel afterwards"):
        _stub(channel).EmptyCall(load().empty_pb2.Empty(), timeout=timeout)


def empty_unary(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with _succeeds("EmptyCall"):
        response = _stub(channel).EmptyCall(load().empty_pb2.Empty(), timeout=timeout)
    assert response is not None, "EmptyCall returned no response"
    assert response == load().empty_pb2.Empty(), f"EmptyCall returned {response!r}"


def large_unary(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with _succeeds("UnaryCall"):
        response = _stub(channel).UnaryCall(_large_request(), timeout=timeout)
    _check_payload("UnaryCall response", response.payload, LARGE_RESPONSE_SIZE)


def client_streaming(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    msgs = load().messages_pb2
    requests = [msgs.StreamingInputCallRequest(payload=_zeros(size)) for size in REQUEST_SIZES]
    with _succeeds("StreamingInputCall"):
        response = _stub(channel).StreamingInputCall(iter(requests), timeout=timeout)
    assert response.aggregated_payload_size == AGGREGATED_REQUEST_SIZE, (
        f"aggregated_payload_size {response.aggregated_payload_size}, expected {AGGREGATED_REQUEST_SIZE}"
    )


def server_streaming(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    msgs = load().messages_pb2
    request = msgs.StreamingOutputCallRequest(
        response_type=msgs.COMPRESSABLE,
        response_parameters=[msgs.ResponseParameters(size=size) for size in RESPONSE_SIZES],
    )
    with _succeeds("StreamingOutputCall"):
        call = _stub(channel).StreamingOutputCall(request, timeout=timeout)
        responses = list(call)
    sizes = tuple(len(response.payload.body) for response in responses)
    assert sizes == RESPONSE_SIZES, f"response sizes {sizes}, expected {RESPONSE_SIZES}"
    for index, response in enumerate(responses):
        _check_payload(f"response {index}", response.payload, RESPONSE_SIZES[index])
    assert call.code() == grpc.StatusCode.OK, f"StreamingOutputCall ended with {call.code()}"


def ping_pong(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with Pipe() as pipe, _succeeds("FullDuplexCall"):
        call = _stub(channel).FullDuplexCall(pipe, timeout=timeout)
        for index, (request_size, response_size) in enumerate(
            zip(REQUEST_SIZES, RESPONSE_SIZES, strict=True)
        ):
            pipe.add(_streaming_request(response_size, request_size))
            response = next(call, None)
            assert response is not None, f"the stream ended before response {index}"
            _check_payload(f"response {index}", response.payload, response_size)
        pipe.close()
        rest = list(call)
    assert not rest, f"{len(rest)} unexpected responses after the half-close"
    assert call.code() == grpc.StatusCode.OK, f"FullDuplexCall ended with {call.code()}"


def empty_stream(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with _succeeds("FullDuplexCall"):
        call = _stub(channel).FullDuplexCall(iter(()), timeout=timeout)
        responses = list(call)
    assert not responses, f"{len(responses)} responses to an empty stream"
    assert call.code() == grpc.StatusCode.OK, f"FullDuplexCall ended with {call.code()}"


def cancel_after_begin(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with Pipe() as pipe:
        future = _stub(channel).StreamingInputCall.future(pipe, timeout=timeout)
        future.cancel()
        assert future.cancelled(), "the call was not cancelled"
        assert future.code() == grpc.StatusCode.CANCELLED, f"the call ended with {future.code()}"
    _channel_still_serves(channel, timeout)


def cancel_after_first_response(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with Pipe() as pipe:
        call = _stub(channel).FullDuplexCall(pipe, timeout=timeout)
        pipe.add(_streaming_request(RESPONSE_SIZES[0], REQUEST_SIZES[0]))
        with _succeeds("FullDuplexCall before the cancel"):
            response = next(call, None)
        assert response is not None, "the stream ended before its first response"
        _check_payload("first response", response.payload, RESPONSE_SIZES[0])
        call.cancel()
        _expect_status("FullDuplexCall after the cancel", lambda: next(call, None), grpc.StatusCode.CANCELLED)
    _channel_still_serves(channel, timeout)


def timeout_on_sleeping_server(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    with Pipe() as pipe:
        call = _stub(channel).FullDuplexCall(pipe, timeout=SLEEPING_SERVER_TIMEOUT)
        pipe.add(_streaming_request(request_size=REQUEST_SIZES[0]))
        _expect_status("FullDuplexCall", lambda: next(call, None), grpc.StatusCode.DEADLINE_EXCEEDED)
    _channel_still_serves(channel, timeout)


def custom_metadata(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    metadata = (ECHO_INITIAL, ECHO_TRAILING)
    stub = _stub(channel)

    with _succeeds("UnaryCall"):
        response, call = stub.UnaryCall.with_call(_large_request(), metadata=metadata, timeout=timeout)
    _check_payload("UnaryCall response", response.payload, LARGE_RESPONSE_SIZE)
    _check_echoed_metadata("UnaryCall", call)

    with _succeeds("FullDuplexCall"):
        stream = stub.FullDuplexCall(
            iter([_streaming_request(LARGE_RESPONSE_SIZE, LARGE_REQUEST_SIZE)]),
            metadata=metadata,
            timeout=timeout,
        )
        responses = list(stream)
    assert len(responses) == 1, f"FullDuplexCall: {len(responses)} responses, expected 1"
    _check_payload("FullDuplexCall response", responses[0].payload, LARGE_RESPONSE_SIZE)
    _check_echoed_metadata("FullDuplexCall", stream)


def _check_echoed_metadata(what: str, call: Any) -> None:
    initial = tuple(call.initial_metadata() or ())
    trailing = tuple(call.trailing_metadata() or ())
    assert ECHO_INITIAL in initial, f"{what}: {ECHO_INITIAL} not in the initial metadata {initial}"
    assert ECHO_TRAILING in trailing, f"{what}: {ECHO_TRAILING} not in the trailing metadata {trailing}"


def _echo_status_request(message: str, streaming: bool) -> Any:
    msgs = load().messages_pb2
    status = msgs.EchoStatus(code=UNKNOWN, message=message)
    if streaming:
        return msgs.StreamingOutputCallRequest(response_type=msgs.COMPRESSABLE, response_status=status)
    return msgs.SimpleRequest(response_type=msgs.COMPRESSABLE, response_status=status)


def status_code_and_message(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    stub = _stub(channel)
    unary = _echo_status_request(STATUS_MESSAGE, streaming=False)
    _expect_status(
        "UnaryCall", lambda: stub.UnaryCall(unary, timeout=timeout), grpc.StatusCode.UNKNOWN, STATUS_MESSAGE
    )
    duplex = _echo_status_request(STATUS_MESSAGE, streaming=True)
    _expect_status(
        "FullDuplexCall",
        lambda: list(stub.FullDuplexCall(iter([duplex]), timeout=timeout)),
        grpc.StatusCode.UNKNOWN,
        STATUS_MESSAGE,
    )


def special_status_message(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    stub = _stub(channel)
    request = _echo_status_request(SPECIAL_STATUS_MESSAGE, streaming=False)
    _expect_status(
        "UnaryCall",
        lambda: stub.UnaryCall(request, timeout=timeout),
        grpc.StatusCode.UNKNOWN,
        SPECIAL_STATUS_MESSAGE,
    )


def unimplemented_service(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    stub = load().test_pb2_grpc.UnimplementedServiceStub(channel)
    empty = load().empty_pb2.Empty()
    _expect_status(
        "UnimplementedService/UnimplementedCall",
        lambda: stub.UnimplementedCall(empty, timeout=timeout),
        grpc.StatusCode.UNIMPLEMENTED,
    )


def unimplemented_method(channel: grpc.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
    stub = _stub(channel)
    empty = load().empty_pb2.Empty()
    _expect_status(
        "TestService/UnimplementedCall",
        lambda: stub.UnimplementedCall(empty, timeout=timeout),
        grpc.StatusCode.UNIMPLEMENTED,
    )


CASES: dict[str, Case] = {
    case.__name__: case
    for case in (
        empty_unary,
        large_unary,
        client_streaming,
        server_streaming,
        ping_pong,
        empty_stream,
        cancel_after_begin,
        cancel_after_first_response,
        timeout_on_sleeping_server,
        custom_metadata,
        status_code_and_message,
        special_status_message,
        unimplemented_service,
        unimplemented_method,
    )
}
