"""The gRPC API between proxies and the controller.

``proto/*.proto`` defines it; :mod:`lightmesh.api.gen` holds the generated protobuf
messages (``destination_pb2``, typed by ``destination_pb2.pyi``) and grpclib service
stubs (``destination_grpc``). Regenerate with ``scripts/gen_proto.sh``; a test fails when
the committed code is stale.
"""
