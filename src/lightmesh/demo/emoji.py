"""The emoji service of the demo: ``python -m lightmesh.demo.emoji --port 8080`` (gRPC, grpclib).

``ListAll`` returns every emoji, ``FindByShortcode`` one (or none). Serves on 127.0.0.1,
where its sidecar forwards; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from grpclib._typing import IServable
from grpclib.server import Server, Stream
from grpclib.utils import graceful_exit

from lightmesh.api.gen import emojivoto_pb2 as pb
from lightmesh.api.gen.emojivoto_grpc import EmojiServiceBase
from lightmesh.demo.emojis import EMOJI


class EmojiService(EmojiServiceBase):
    async def ListAll(self, stream: Stream[pb.ListAllEmojiRequest, pb.ListAllEmojiResponse]) -> None:
        await stream.recv_message()
        emoji = [pb.Emoji(unicode=u, shortcode=s) for s, u in EMOJI.items()]
        await stream.send_message(pb.ListAllEmojiResponse(list=emoji))

    async def FindByShortcode(
        self, stream: Stream[pb.FindByShortcodeRequest, pb.FindByShortcodeResponse]
    ) -> None:
        request = await stream.recv_message()
        assert request is not None
        unicode = EMOJI.get(request.shortcode)
        found = pb.Emoji(unicode=unicode, shortcode=request.shortcode) if unicode else None
        await stream.send_message(pb.FindByShortcodeResponse(emoji=found))


async def serve(services: list[IServable], port: int) -> None:
    server = Server(services)
    with graceful_exit([server]):
        await server.start("127.0.0.1", port)
        await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description="the demo's emoji service (gRPC)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    asyncio.run(serve([EmojiService()], args.port))


if __name__ == "__main__":
    main()
