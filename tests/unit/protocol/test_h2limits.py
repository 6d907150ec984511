"""HTTP/2 abuse accounting: each limit trips just past its threshold and not before."""

from __future__ import annotations

import pytest

from lightmesh.protocol.h2limits import Flood, FloodGuard, H2Limits


def guard() -> FloodGuard:
    return FloodGuard(H2Limits())


def test_one_empty_data_frame_is_allowed_two_in_a_row_are_a_flood() -> None:
    g = guard()
    g.data(0, end_stream=False)
    with pytest.raises(Flood, match="empty DATA"):
        g.data(0, end_stream=False)


def test_empty_frames_separated_by_real_data_or_end_stream_are_fine() -> None:
    g = guard()
    for _ in range(50):
        g.data(0, end_stream=False)
        g.data(10, end_stream=False)
        g.data(0, end_stream=True)


def test_priority_frames_are_allowed_100_per_stream_opened() -> None:
    g = guard()
    g.stream_opened()
    for _ in range(200):
        g.priority()
    with pytest.raises(Flood, match="PRIORITY"):
        g.priority()


def test_window_updates_are_bounded_by_data_frames_sent() -> None:
    g = guard()
    g.stream_opened()
    for _ in range(5 + 2 * (1 + 10 * 3)):
        g.window_update(3)
    with pytest.raises(Flood, match="WINDOW_UPDATE"):
        g.window_update(3)


def test_control_frames_queued_while_the_peer_does_not_read_are_capped() -> None:
    g = guard()
    for _ in range(1000):
        g.control_frame_queued()
    g.output_drained()
    for _ in range(1000):
        g.control_frame_queued()
    with pytest.raises(Flood, match="control frames"):
        g.control_frame_queued()


def test_rapid_reset_trips_once_over_half_of_100_streams_reset_early() -> None:
    g = guard()
    for _ in range(100):
        g.stream_opened()
    for _ in range(50):
        g.premature_reset()
    with pytest.raises(Flood, match="rapid reset"):
        g.premature_reset()


def test_early_resets_on_few_streams_are_tolerated() -> None:
    g = guard()
    for _ in range(99):
        g.stream_opened()
        g.premature_reset()
