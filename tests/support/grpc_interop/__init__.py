"""gRPC interop test support: the grpc.testing protos, a grpcio test server and the spec's client cases.

* :mod:`.gen`: generates the ``*_pb2``/``*_pb2_grpc`` modules from ``protos/`` into a
  cache directory outside the source tree at test time.
* :mod:`.server`: :class:`~.server.InteropServer`, the TestService server.
* :mod:`.cases`: the spec's client test cases, ``CASES`` by name.
"""

from __future__ import annotations
