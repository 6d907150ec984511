"""The tap layer: report matching requests to whoever observes this proxy.

A :class:`~lightmesh.proxy.taphub.TapHub` holds the active observers (one per open
``Tap.Observe`` call). The layer's service is a plain function: while nobody taps
it checks ``hub.observers`` and returns the inner service's awaitable, so an
untapped proxy pays one attribute test and allocates nothing. While someone taps,
requests go through :func:`lightmesh.proxy.tapevents.tapped`, imported then: a proxy
nobody ever tapped never loads the protobuf runtime.
"""

from __future__ import annotations

from collections.abc import Awaitable

from lightmesh.protocol.messages import Response
from lightmesh.proxy.service import Layer, Request, Service
from lightmesh.proxy.taphub import TapHub


def tap_layer(hub: TapHub, direction: str) -> Layer:
    def layer(inner: Service) -> Service:
        def service(request: Request) -> Awaitable[Response]:
            if not hub.observers:
                return inner(request)
            from lightmesh.proxy.tapevents import tapped  # the first tap loads protobuf

            return tapped(hub, direction, inner, request)

        return service

    return layer
