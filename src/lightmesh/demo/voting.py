"""The voting service of the demo: ``python -m lightmesh.demo.voting --port 8080 --failure-rate 0.25``.

``Vote`` counts a vote, except for a ``--failure-rate`` share of calls, which fail with
``UNAVAILABLE``: deterministically (an error accumulator, not a coin), so the share of
failures over any run is the configured rate, give or take one call. ``Results`` returns
the counts, most voted first, and never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from lightmesh.api.gen import emojivoto_pb2 as pb
from lightmesh.api.gen.emojivoto_grpc import VotingServiceBase
from lightmesh.demo.emoji import serve


class VotingService(VotingServiceBase):
    def __init__(self, failure_rate: float) -> None:
        self.failure_rate = failure_rate
        self.votes: Counter[str] = Counter()
        self._debt = 0.0

    def should_fail(self) -> bool:
        self._debt += self.failure_rate
        if self._debt >= 1.0 - 1e-9:
            self._debt -= 1.0
            return True
        return False

    async def Vote(self, stream: Stream[pb.VoteRequest, pb.VoteResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        if self.should_fail():
            raise GRPCError(
                Status.UNAVAILABLE, f"the ballot box is jammed (failure rate {self.failure_rate:g})"
            )
        self.votes[request.shortcode] += 1
        await stream.send_message(pb.VoteResponse())

    async def Results(self, stream: Stream[pb.ResultsRequest, pb.ResultsResponse]) -> None:
        await stream.recv_message()
        results = [pb.VotingResult(shortcode=s, votes=n) for s, n in self.votes.most_common()]
        await stream.send_message(pb.ResultsResponse(results=results))


def failure_rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be from 0 to 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description="the demo's voting service (gRPC)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument(
        "--failure-rate", type=failure_rate, default=0.25, help="share of Vote calls that fail"
    )
    args = parser.parse_args()
    asyncio.run(serve([VotingService(args.failure_rate)], args.port))


if __name__ == "__main__":
    main()
