"""What a Destination.Get client is sent as a service's endpoints change (EndpointView)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightmesh.controller.endpoints import Add, Endpoint, EndpointView, NoEndpoints, Remove, Service, Update
from lightmesh.core.addr import SocketAddr
from lightmesh.core.names import ServiceName

NAME = ServiceName("web", "default", 80)
A = Endpoint(SocketAddr("10.0.0.1", 80))
B = Endpoint(SocketAddr("10.0.0.2", 80))
C = Endpoint(SocketAddr("10.0.0.3", 80))


def service(*endpoints: Endpoint) -> Service:
    return Service(NAME, {e.addr: e for e in endpoints})


def test_the_first_answer_is_add_with_every_endpoint_in_address_order() -> None:
    assert EndpointView().update(service(B, A)) == [Add((A, B))]


def test_the_first_answer_for_a_service_without_endpoints_is_no_endpoints_exists() -> None:
    assert EndpointView().update(service()) == [NoEndpoints(exists=True)]


def test_the_first_answer_for_an_unknown_service_is_no_endpoints_not_exists() -> None:
    assert EndpointView().update(None) == [NoEndpoints(exists=False)]


def test_changes_send_adds_before_removes_and_only_the_differences() -> None:
    view = EndpointView()
    view.update(service(A, B))
    assert view.update(service(B, C)) == [Add((C,)), Remove((A.addr,))]
    assert view.update(service(B, C)) == []
    assert view.update(service(C)) == [Remove((B.addr,))]
    assert view.update(service(A, C)) == [Add((A,))]


def test_changed_metadata_is_sent_again_as_an_add() -> None:
    view = EndpointView()
    view.update(service(A, B))
    heavier = Endpoint(A.addr, weight=20, labels=(("pod", "a"),), identity="a.ns", protocol="h2")
    assert view.update(service(heavier, B)) == [Add((heavier,))]


def test_losing_every_endpoint_sends_no_endpoints_once() -> None:
    view = EndpointView()
    view.update(service(A))
    assert view.update(service()) == [NoEndpoints(exists=True)]
    assert view.update(service()) == []
    assert view.update(None) == [NoEndpoints(exists=False)]  # then deleted
    assert view.update(None) == []
    assert view.update(service()) == [NoEndpoints(exists=True)]  # created again, empty
    assert view.update(service(B)) == [Add((B,))]


def test_a_deleted_service_sends_no_endpoints_not_exists() -> None:
    view = EndpointView()
    view.update(service(A, B))
    assert view.update(None) == [NoEndpoints(exists=False)]


def test_no_endpoints_is_never_sent_before_an_add_for_a_service_with_endpoints() -> None:
    updates = EndpointView().update(service(A))
    assert not any(isinstance(u, NoEndpoints) for u in updates)


def _apply(held: dict[SocketAddr, Endpoint], updates: list[Update]) -> None:
    for update in updates:
        if isinstance(update, Add):
            held.update((e.addr, e) for e in update.endpoints)
        elif isinstance(update, Remove):
            for addr in update.addrs:
                del held[addr]  # only addresses the client holds are removed
        else:
            held.clear()


_endpoint = st.builds(
    Endpoint,
    st.builds(SocketAddr, st.sampled_from(["10.0.0.1", "10.0.0.2", "fd00::1"]), st.sampled_from([80, 81])),
    st.sampled_from([1, 10_000]),
)
_state = st.one_of(st.none(), st.lists(_endpoint).map(lambda es: service(*es)))


@given(st.lists(_state, min_size=1, max_size=8))
def test_a_client_applying_the_updates_always_holds_the_current_endpoints(
    states: list[Service | None],
) -> None:
    view, held = EndpointView(), dict[SocketAddr, Endpoint]()
    for i, state in enumerate(states):
        updates = view.update(state)
        if i == 0:
            assert len(updates) == 1  # one message answers at once
        _apply(held, updates)
        assert held == (dict(state.endpoints) if state else {})
