"""``lightmesh up``: a whole mesh on one machine, without Kubernetes.

The runtime behind ``lightmesh up`` and ``lightmesh demo``: the mesh file model
(:mod:`.meshfile`), the registry it becomes (:mod:`.registry`), each sidecar's settings
(:mod:`.sidecar`), the process supervisor (:mod:`.supervisor`, :mod:`.procs`), the state
file and control socket (:mod:`.state`, :mod:`.control`) and, for ``--netns``, pods on a
bridge (:mod:`.netns`) with Linkerd's proxy-init rules (:mod:`.proxyinit`). It starts the
controller and the proxies as processes and never imports their internals.
"""
