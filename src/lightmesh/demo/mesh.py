"""The mesh file of ``lightmesh demo``: the emojivoto-like app, with its route profiles.

``web`` (HTTP/1.1 + JSON) calls ``emoji`` (two replicas) and ``voting`` over gRPC;
``vote-bot`` loads ``web``. ``voting``'s ``Vote`` fails at ``failure_rate`` (that is what
its server side shows); its profile marks that route retryable within a retry budget, so what
``web`` gets (the route's effective success) is higher. :func:`demo_mesh` returns the file
for a given Python (the one running ``lightmesh demo``, so the demo works from any virtualenv).
"""

from __future__ import annotations

import shlex

NAMESPACE = "emojivoto"
FAILURE_RATE = 0.25
RATE = 10.0

TEMPLATE = """\
# lightmesh demo: an emojivoto-like app run by `lightmesh up` (see docs/local.md)
services:
  - name: web
    namespace: emojivoto
    port: 80
    command: {py} -m lightmesh.demo.web --port {{port}} --emoji emoji:8080 --voting voting:8080
  - name: emoji
    namespace: emojivoto
    port: 8080
    replicas: 2
    protocol: grpc
    command: {py} -m lightmesh.demo.emoji --port {{port}}
  - name: voting
    namespace: emojivoto
    port: 8080
    protocol: grpc
    command: {py} -m lightmesh.demo.voting --port {{port}} --failure-rate {failure_rate}
  - name: vote-bot
    namespace: emojivoto
    port: 8080
    command: {py} -m lightmesh.demo.votebot --port {{port}} --web web:80 --rate {rate}
profiles:
  - name: voting
    namespace: emojivoto
    retryBudget: {{retryRatio: 0.2, minRetriesPerSecond: 10, ttl: 10s}}
    routes:
      - name: Vote
        condition: {{method: POST, path: /emojivoto.v1.VotingService/Vote}}
        isRetryable: true
        retryLimit: 3
        timeout: 5s
      - name: Results
        condition: {{method: POST, path: /emojivoto.v1.VotingService/Results}}
  - name: web
    namespace: emojivoto
    routes:
      - name: GET /api/list
        condition: {{method: GET, pathRegex: '/api/list'}}
      - name: GET /api/vote
        condition: {{method: GET, pathRegex: '/api/vote'}}
      - name: GET /api/leaderboard
        condition: {{method: GET, pathRegex: '/api/leaderboard'}}
"""


def demo_mesh(python: str, failure_rate: float = FAILURE_RATE, rate: float = RATE) -> str:
    return TEMPLATE.format(py=shlex.quote(python), failure_rate=f"{failure_rate:g}", rate=f"{rate:g}")
