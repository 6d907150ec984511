"""Which ports ``lightmesh up`` hands its instances."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from lightmesh.local import probes


def test_free_ports_come_from_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    ports = [probes.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(probes.LISTEN_PORTS_FROM <= p < low for p in ports)


def test_a_port_something_is_bound_to_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", probes.free_port()))
        taken = busy.getsockname()[1]
        monkeypatch.setattr(probes, "_handed_out", set())
        monkeypatch.setattr(probes, "listen_port_range", lambda: range(taken, taken + 1))
        assert probes.free_port() != taken


def test_without_room_below_the_ephemeral_range_the_kernel_picks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("1024\t65535\n")
    monkeypatch.setattr(probes, "EPHEMERAL_RANGE", ranges)
    assert probes.listen_port_range() == range(0)
    assert probes.free_port() > 0
