"""The lightmesh controller: the control plane proxies ask for service discovery.

* :mod:`~lightmesh.controller.main`: the process (``lightmesh controller``);
* :mod:`~lightmesh.controller.destination`: the Destination gRPC service (grpclib);
* :mod:`~lightmesh.controller.directory`: the services known now, watched by streams;
* :mod:`~lightmesh.controller.sources`: discovery sources feeding the directory (file,
  kubernetes); :mod:`~lightmesh.controller.kubeobjects`,
  :mod:`~lightmesh.controller.kubemapping`, :mod:`~lightmesh.controller.kubestate`: the
  Kubernetes objects, their mapping to services and the source's state (sans-I/O);
* :mod:`~lightmesh.controller.registry`, :mod:`~lightmesh.controller.yamldoc`: the file
  registry format; :mod:`~lightmesh.controller.endpoints`: endpoint sets and their diffs;
  :mod:`~lightmesh.controller.translate`: to protobuf (all sans-I/O);
* :mod:`~lightmesh.controller.admin`, :mod:`~lightmesh.controller.metrics`: the admin port.

It may import ``core``, ``protocol`` and ``api`` but never the data plane (``proxy``,
``io``), and the data plane never imports it (import-linter contracts in pyproject.toml).
"""
