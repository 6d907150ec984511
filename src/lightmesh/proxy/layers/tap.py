"""The tap layer: report matching requests to whoever observes this proxy.

A :class:`~lightmesh.proxy.taphub.TapHub` holds the active observers (one per open
``Tap.Observe`` call). The proxy serves each side's stack without this layer while
nobody taps, and the same stack behind it while someone does (:func:`serve_tapped`
swaps them when the first observer arrives and when the last one leaves): an untapped
proxy pays nothing for tap. A request keeps the stack it started in, so the swaps never
touch requests in flight. Requests through the layer go through
:func:`lightmesh.proxy.tapevents.tapped`, imported then: a proxy nobody ever tapped
never loads the protobuf runtime. The layer's service is a plain function: with no
observer (the last one left) it returns the inner service's awaitable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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


def serve_tapped(hub: TapHub, direction: str, plain: Service, serve: Callable[[Service], None]) -> None:
    """Have ``serve`` install ``plain`` now (or tapped, if someone taps already), ``plain``
    behind the tap layer when the first observer arrives, ``plain`` again after the last."""
    tapped = tap_layer(hub, direction)(plain)

    def swap(tapping: bool) -> None:
        serve(tapped if tapping else plain)

    hub.watchers.append(swap)
    swap(bool(hub.observers))
