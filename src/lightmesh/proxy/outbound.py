"""The outbound side (app -> mesh): route each request to a destination and balance it.

The destination is the original destination when iptables redirected the
connection, else the request's authority (absolute-form URI, else ``Host``; port 80
when missing). Each distinct authority gets a :class:`Destination` that caches its
endpoints in a :class:`~lightmesh.proxy.balance.Balancer`. Where they come from:

* a name in the static map: those endpoints;
* else, with a controller configured, a live :class:`~lightmesh.proxy.discovery.Watch`
  (the controller's first answer is awaited up to the fail-fast timeout); when the
  controller says the service does not exist, DNS as below;
* else DNS (or an IP literal), refreshed every ``dns_ttl`` in the background,
  keeping the last answer when a refresh fails.

Endpoints the controller gives an identity are reached over mutual TLS when this
proxy has one (:class:`~lightmesh.proxy.endpoint.Connector`); their series carry it
as ``server_id``.

A destination with no endpoints holds requests (at most ``MAX_WAITING``) for up to
the fail-fast timeout; if none arrive it fails fast: 503 at once until endpoints
return. Destinations unused for ``IDLE_EVICT`` seconds are dropped (their
subscriptions closed). A destination that resolves to this proxy's own listeners
is a routing loop and is refused with 503 rather than recursing.

A destination fed by the controller also follows the service's profile
(:class:`~lightmesh.proxy.discovery.ProfileWatch`). With routes, its requests go first
through the route layers (route match and metrics, request timeout, fault injection,
retries within the service's budget), which come back to the router to send each
attempt; without, a request costs one attribute check more. Each outcome is reported to
the balancer for failure accrual (a 5xx head or an endpoint failure).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

from lightmesh.core.addr import SocketAddr, is_ip, normalize_authority
from lightmesh.core.budget import RetryBudget
from lightmesh.core.errors import ENDPOINT_FAILURES, BadRequest, NoDestination, ProxyError, Unavailable
from lightmesh.core.routes import Budget, Profile
from lightmesh.proxy import orig_proto
from lightmesh.proxy.balance import Balancer
from lightmesh.proxy.endpoint import Connector
from lightmesh.proxy.layers.deadline import forward_deadline
from lightmesh.proxy.layers.fault import fault_layer
from lightmesh.proxy.layers.retry import retry_layer
from lightmesh.proxy.layers.route import RouteCall, route_layer
from lightmesh.proxy.layers.timeout import timeout_layer
from lightmesh.proxy.resolve import Resolver
from lightmesh.proxy.routestats import RouteTable
from lightmesh.proxy.service import Request, Response, Service, stack

if TYPE_CHECKING:
    from lightmesh.proxy.discovery import DestinationClient, Endpoint, ProfileWatch, Watch

log: Final = logging.getLogger(__name__)
MAX_DESTINATIONS: Final = 10_000
MAX_WAITING: Final = 10_000
IDLE_EVICT: Final = 60.0


class Destination:
    __slots__ = (
        "balancer",
        "budget",
        "failing_fast",
        "loop_error",
        "name",
        "profile_watch",
        "ready",
        "refresh",
        "routes",
        "used",
        "waiting",
        "watch",
    )

    def __init__(self, name: str, balancer: Balancer) -> None:
        self.name = name
        self.balancer = balancer
        self.loop_error: ProxyError | None = None
        self.refresh: asyncio.TimerHandle | None = None
        self.watch: Watch | None = None
        self.profile_watch: ProfileWatch | None = None
        self.routes: Service | None = None  # the route layers, when the service has a profile
        self.budget: RetryBudget | None = None
        self.used = True  # a request came since the last eviction sweep
        self.ready: asyncio.Event | None = None  # set when endpoints arrive
        self.waiting = 0
        self.failing_fast = False

    def close(self) -> None:
        if self.refresh is not None:
            self.refresh.cancel()
        if self.watch is not None:
            self.watch.close()
        if self.profile_watch is not None:
            self.profile_watch.close()
        self.balancer.close()


class OutboundRouter:
    """The outbound logical stage: :meth:`route` is the Service."""

    def __init__(
        self,
        resolver: Resolver,
        connector: Connector,
        own_addrs: set[SocketAddr],
        dns_ttl: float = 5.0,
        discovery: DestinationClient | None = None,
        failfast: float = 3.0,
        route_table: RouteTable | None = None,
    ) -> None:
        self.resolver = resolver
        self.route_table = route_table if route_table is not None else RouteTable()
        self.rng = random.Random()
        self.connector = connector
        self.own_addrs = own_addrs
        self.dns_ttl = dns_ttl
        self.discovery = discovery
        self.failfast = failfast
        self.loop = asyncio.get_running_loop()
        self._evictor = self.loop.call_later(IDLE_EVICT, self._evict)
        self.destinations: OrderedDict[tuple[bytes | None, SocketAddr | None], Destination] = OrderedDict()
        self._building: dict[tuple[bytes | None, SocketAddr | None], asyncio.Future[Destination]] = {}

    async def route(self, request: Request) -> Response:
        """Send ``request`` to an endpoint of its destination (the stack holds this bound method)."""
        conn = request.conn
        orig = SocketAddr(*conn.orig_dst) if conn is not None and conn.redirected and conn.orig_dst else None
        key = (request.authority, orig)
        dest = self.destinations.get(key)
        if dest is None:
            dest = await self._destination(key)
        if dest.loop_error is not None:
            raise dest.loop_error
        dest.used = True
        balancer = dest.balancer
        if not balancer.pools:
            await self._wait_for_endpoints(dest)
        request.dst = dest.name
        call = request.route
        if call is None:
            if dest.routes is not None:
                return await dest.routes(request)  # the route layers come back here to send
        else:
            assert isinstance(call, RouteCall)
        if request.deadline is not None:
            forward_deadline(request, self.loop.time())
        if request.version == b"2" or (balancer.meshed and orig_proto.can_upgrade(request)):
            h2 = balancer.pick_h2(None if call is None else call.avoid)
            addr = h2.addr
            _routed(request, balancer, addr)
            try:
                if request.version == b"2":
                    response = await self.connector.send_http2(h2, request)
                else:
                    orig_proto.upgrade(request)
                    response = await h2.send(request)
                    orig_proto.downgrade_response(response)
            except BaseException as exc:
                _failed(balancer, addr, exc, call)
                raise
        else:
            pool = balancer.pick(None if call is None else call.avoid)
            addr = pool.addr
            _routed(request, balancer, addr)
            if request.method == b"CONNECT":
                return await self.connector.tunnel(addr)
            try:
                response = await pool.send(request)
            except BaseException as exc:
                _failed(balancer, addr, exc, call)
                raise
        if call is not None:
            call.last = addr
        if response.status >= 500:
            balancer.failed(addr)
        elif balancer.health:
            balancer.succeeded(addr)
        return response

    async def _destination(self, key: tuple[bytes | None, SocketAddr | None]) -> Destination:
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Destination] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            dest = await self._build(*key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._building[key]
        future.set_result(dest)
        self.destinations[key] = dest
        if len(self.destinations) > MAX_DESTINATIONS:
            _, old = self.destinations.popitem(last=False)
            old.close()
        return dest

    async def _build(self, authority: bytes | None, orig: SocketAddr | None) -> Destination:
        if orig is not None and authority is not None and self.discovery is not None:
            # redirected, but the Host names a service the controller knows: route to the service
            # (its endpoints, identities and profile), as Linkerd 2 does; else to the original address
            watched = await self._logical(authority)
            if watched is not None:
                return watched
        if orig is not None:
            name = str(orig)
            addrs = [orig]
        elif authority is None:
            raise NoDestination("request has no Host header or absolute-form URI to route by")
        else:
            try:
                name = normalize_authority(authority)
            except ValueError as exc:
                raise BadRequest(f"invalid authority: {exc}") from None
            if self.discovery is not None and not self.resolver.is_static(name):
                watched = await self._watch(name, authority)
                if watched is not None:
                    return watched
            addrs = await self.resolver.resolve(name)
        dest = Destination(name, Balancer(self.connector, authority, name))
        dest.balancer.update(addrs)
        self._check_loop(dest)
        if orig is None and not self.resolver.is_static(name):
            self._schedule_refresh(dest)
        return dest

    async def _logical(self, authority: bytes) -> Destination | None:
        try:
            name = normalize_authority(authority)
        except ValueError:
            return None
        if self.resolver.is_static(name) or is_ip(name.rsplit(":", 1)[0].strip("[]")):
            return None
        try:
            return await self._watch(name, authority)
        except Unavailable:  # the controller does not answer: the original address still does
            return None

    async def _watch(self, name: str, authority: bytes) -> Destination | None:
        """A destination fed by the controller, or ``None`` when the service does not exist."""
        assert self.discovery is not None
        watch = self.discovery.watch(name)
        profile = self.discovery.watch_profile(name)
        try:
            async with asyncio.timeout(self.failfast):
                await watch.answered.wait()
                if watch.exists is not False:
                    await profile.answered.wait()
        except TimeoutError:
            if not watch.answered.is_set():
                watch.close()
                profile.close()
                raise Unavailable(
                    f"controller {self.discovery.addr} did not answer for {name} within {self.failfast:.0f}s"
                ) from None
        if watch.exists is False:
            watch.close()
            profile.close()
            return None
        dest = Destination(name, Balancer(self.connector, authority, name))
        dest.watch = watch
        dest.profile_watch = profile
        watch.listener = lambda w: self._endpoints_changed(dest, w)
        profile.listener = lambda p: self._profile_changed(dest, p.profile)
        self._endpoints_changed(dest, watch)
        self._profile_changed(dest, profile.profile)
        return dest

    def _profile_changed(self, dest: Destination, profile: Profile | None) -> None:
        """Put the route layers in front of the destination, or take them away."""
        if profile is None:
            dest.routes = None
            return
        b = profile.budget
        budget = dest.budget
        if budget is None or (budget.ratio, budget.min_per_second, budget.ttl) != (*_budget_params(b),):
            budget = dest.budget = RetryBudget(*_budget_params(b))
        layers = [retry_layer(budget)]  # a layer no route needs is left out: one frame less each
        if any(route.fault is not None for route in profile.routes):
            layers.append(fault_layer(self.rng))
        timed = (r.timeout is not None or r.idle_timeout is not None for r in profile.routes)
        if profile.allow_overrides or any(timed):
            layers.append(timeout_layer())
        layers.append(route_layer(profile, dest.name, self.route_table))
        dest.routes = stack(self.route, *layers)

    def _endpoints_changed(self, dest: Destination, watch: Watch) -> None:
        addrs = watch.addrs
        dest.balancer.meshed = bool(addrs) and all(ep.h2 for ep in watch.endpoints.values())
        dest.balancer.labels = {ep.addr: self._labels(ep) for ep in watch.endpoints.values()}
        if addrs != dest.balancer.addrs:
            dest.balancer.update(addrs)
            self._check_loop(dest)
        if addrs:
            dest.failing_fast = False
            if dest.ready is not None:
                dest.ready.set()
                dest.ready = None

    def _labels(self, ep: Endpoint) -> tuple[tuple[str, str], ...]:
        """The endpoint's ``dst_*`` labels, and ``server_id`` (last) when it is reached over mTLS."""
        labels = tuple(sorted((f"dst_{key}", value) for key, value in ep.labels.items()))
        mtls = self.connector.tls_source is not None and ep.identity is not None
        self.connector.set_identity(ep.addr, ep.identity if mtls else None)
        if mtls:
            assert ep.identity is not None
            labels += (("server_id", ep.identity),)
        return labels

    async def _wait_for_endpoints(self, dest: Destination) -> None:
        """Hold a request for endpoints up to the fail-fast timeout; then fail fast until they come."""
        if dest.failing_fast:
            raise Unavailable(f"no endpoints for {dest.name} (failing fast until some are available)")
        if dest.waiting >= MAX_WAITING:
            raise Unavailable(f"no endpoints for {dest.name} and {MAX_WAITING} requests already waiting")
        if dest.ready is None:
            dest.ready = asyncio.Event()
        ready = dest.ready
        dest.waiting += 1
        try:
            async with asyncio.timeout(self.failfast):
                await ready.wait()
        except TimeoutError:
            dest.failing_fast = True
            raise Unavailable(f"no endpoints for {dest.name} within {self.failfast:.0f}s") from None
        finally:
            dest.waiting -= 1

    def _evict(self) -> None:
        """Every ``IDLE_EVICT`` seconds: drop the destinations no request used since the last time."""
        for key, dest in list(self.destinations.items()):
            if not dest.used and not dest.waiting:
                del self.destinations[key]
                dest.close()
            dest.used = False
        self._evictor = self.loop.call_later(IDLE_EVICT, self._evict)

    def _check_loop(self, dest: Destination) -> None:
        looping = [a for a in dest.balancer.addrs if self._is_own(a)]
        dest.loop_error = (
            Unavailable(f"routing loop: {dest.name} resolves to this proxy ({looping[0]})")
            if looping
            else None
        )

    def _is_own(self, addr: SocketAddr) -> bool:
        for own in self.own_addrs:
            if own.port == addr.port and (own.host == addr.host or own.host in ("0.0.0.0", "::")):
                return True
        return False

    def _schedule_refresh(self, dest: Destination) -> None:
        loop = asyncio.get_running_loop()
        dest.refresh = loop.call_later(self.dns_ttl, lambda: loop.create_task(self._refresh(dest)))

    async def _refresh(self, dest: Destination) -> None:
        try:
            addrs = await self.resolver.resolve(dest.name)
        except ProxyError as exc:
            log.warning(
                "refreshing %s failed, keeping %d endpoints: %s",
                dest.name,
                len(dest.balancer.pools),
                exc.reason,
            )
        else:
            if addrs != dest.balancer.addrs:
                dest.balancer.update(addrs)
                self._check_loop(dest)
        if any(d is dest for d in self.destinations.values()):
            self._schedule_refresh(dest)

    def balancers(self) -> list[Balancer]:
        """Every destination's balancer (for the endpoint state metrics)."""
        return [dest.balancer for dest in self.destinations.values()]

    def close(self) -> None:
        self._evictor.cancel()
        for dest in self.destinations.values():
            dest.close()
        if self.discovery is not None:
            self.discovery.close()


def _routed(request: Request, balancer: Balancer, addr: SocketAddr) -> None:
    """The balancer picked ``addr``: label the request with it (endpoint labels from the
    controller), tell whoever listens (tap)."""
    if balancer.labels:
        request.dst_labels = balancer.labels.get(addr, ())
    if request.on_routed is not None:
        request.on_routed(request, addr)


def _failed(balancer: Balancer, addr: SocketAddr, exc: BaseException, call: RouteCall | None) -> None:
    """Tell the balancer how a request that raised ended for its endpoint."""
    if call is not None:
        call.last = addr
    if isinstance(exc, ENDPOINT_FAILURES):
        balancer.failed(addr)
    else:
        balancer.released(addr)


def _budget_params(budget: Budget) -> tuple[float, float, float]:
    return budget.ratio, budget.min_per_second, budget.ttl
