"""The web front end of the demo: ``python -m lightmesh.demo.web --port 80`` (HTTP/1.1 + JSON).

Routes (GET): ``/api/list`` (the emoji, from the emoji service), ``/api/vote?choice=:joy:``
(checks the emoji, then votes: 200, 404 for an unknown emoji, 500 when the vote fails),
``/api/leaderboard`` (the results with their emoji), ``/`` (what to try). The gRPC calls
run on one asyncio loop in a background thread (grpclib, through the sidecar as
:mod:`lightmesh.demo.wiring` says); requests are served by threads (keep-alive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
from collections.abc import Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from grpclib.exceptions import GRPCError, StreamTerminatedError

from lightmesh.api.gen import emojivoto_pb2 as pb
from lightmesh.api.gen.emojivoto_grpc import EmojiServiceStub, VotingServiceStub
from lightmesh.demo.wiring import grpc_channel

T = TypeVar("T")
CALL_TIMEOUT = 5.0


class Backends:
    """The gRPC clients, on their own event loop thread."""

    def __init__(self, emoji: str, voting: str) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="grpc").start()
        self.emoji = self.call(self._stub(EmojiServiceStub, emoji))
        self.voting = self.call(self._stub(VotingServiceStub, voting))

    @staticmethod
    async def _stub(cls: Any, target: str) -> Any:
        return cls(grpc_channel(target))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT + 1)


class WebHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "emojivoto-web/1"
    backends: Backends

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data, ensure_ascii=False).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        routes = {
            "/api/list": self._list,
            "/api/vote": lambda: self._vote(query.get("choice", [""])[0]),
            "/api/leaderboard": self._leaderboard,
            "/": self._index,
        }
        route = routes.get(url.path)
        if route is None:
            self._json(404, {"error": f"no route {url.path}; try /api/list, /api/vote?choice=:joy:"})
            return
        try:
            route()
        except (GRPCError, StreamTerminatedError, OSError, TimeoutError) as exc:
            message = exc.message if isinstance(exc, GRPCError) else str(exc) or type(exc).__name__
            self._json(500, {"error": message})

    def _list(self) -> None:
        reply = self.backends.call(
            self.backends.emoji.ListAll(pb.ListAllEmojiRequest(), timeout=CALL_TIMEOUT)
        )
        self._json(200, [{"shortcode": e.shortcode, "unicode": e.unicode} for e in reply.list])

    def _vote(self, choice: str) -> None:
        call = self.backends.call
        found = call(
            self.backends.emoji.FindByShortcode(
                pb.FindByShortcodeRequest(shortcode=choice), timeout=CALL_TIMEOUT
            )
        )
        if not found.HasField("emoji"):
            self._json(404, {"error": f"no emoji {choice!r}"})
            return
        call(self.backends.voting.Vote(pb.VoteRequest(shortcode=choice), timeout=CALL_TIMEOUT))
        self._json(200, {"voted": choice, "unicode": found.emoji.unicode})

    def _leaderboard(self) -> None:
        call = self.backends.call
        results = call(self.backends.voting.Results(pb.ResultsRequest(), timeout=CALL_TIMEOUT)).results
        emoji = {
            e.shortcode: e.unicode
            for e in call(self.backends.emoji.ListAll(pb.ListAllEmojiRequest(), timeout=CALL_TIMEOUT)).list
        }
        self._json(
            200,
            [
                {"shortcode": r.shortcode, "unicode": emoji.get(r.shortcode, "?"), "votes": r.votes}
                for r in results
            ],
        )

    def _index(self) -> None:
        self._json(200, {"try": ["/api/list", "/api/vote?choice=:joy:", "/api/leaderboard"]})


def main() -> None:
    parser = argparse.ArgumentParser(description="the demo's web front end (HTTP/1.1 + JSON)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "80")))
    parser.add_argument("--emoji", default="emoji:8080", help="the emoji service (name:port)")
    parser.add_argument("--voting", default="voting:8080", help="the voting service (name:port)")
    args = parser.parse_args()
    WebHandler.backends = Backends(args.emoji, args.voting)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), WebHandler)
    server.daemon_threads = True
    import signal

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
