"""The one Service signature every proxy behaviour shares.

A :data:`Service` is ``async (Request) -> Response``; a :data:`Layer` wraps a
service and returns one with the same signature. Stacks are folds of layers, so a
new behaviour is a new layer plus one line where a stack is assembled::

    svc = stack(endpoint, errors_layer(), metrics_layer(table))

applies ``errors_layer`` first (innermost) and ``metrics_layer`` last (outermost).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from lightmesh.io.context import Service  # defined where the server calls it
from lightmesh.protocol.messages import Request, Response

Layer = Callable[[Service], Service]

__all__ = ["Layer", "Request", "Response", "Service", "stack"]


def stack(inner: Service, *layers: Layer) -> Service:
    """Wrap ``inner`` with ``layers``, the first listed being closest to ``inner``."""
    return reduce(lambda service, layer: layer(service), layers, inner)
