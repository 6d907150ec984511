"""HTTP/2 abuse limits: the numbers (Envoy's defaults) and the accounting, without I/O.

A :class:`FloodGuard` is told about the frames a downstream peer sends and the
frames the proxy sends back; it raises :class:`Flood` when the peer crosses a
line, and the connection then answers GOAWAY ENHANCE_YOUR_CALM and closes:

* more than 1 consecutive DATA frame with no payload and no END_STREAM;
* more than 100 PRIORITY frames per stream opened (``100 * (1 + opened)``);
* WINDOW_UPDATE frames beyond ``5 + 2 * (opened + 10 * data frames sent)``;
* more than 1000 control frames (PING/SETTINGS acks, resets) queued while the
  peer does not read;
* rapid reset (CVE-2023-44487): once 100 streams were opened, more than half of
  them reset by the peer before their response finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ENHANCE_YOUR_CALM: Final = 0xB


@dataclass(frozen=True)
class H2Limits:
    max_concurrent_streams: int = 100
    initial_stream_window: int = 65_535
    connection_window: int = 1 << 20
    max_header_list_size: int = 60 * 1024
    max_header_count: int = 100
    max_empty_frames: int = 1
    max_priority_per_stream: int = 100
    max_control_frames: int = 1000
    max_window_updates_per_data_frame: int = 10
    reset_min_streams: int = 100


class Flood(Exception):
    """The peer crossed an abuse limit; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FloodGuard:
    __slots__ = (
        "control_queued",
        "empty_run",
        "limits",
        "opened",
        "premature_resets",
        "priority_frames",
        "window_updates",
    )

    def __init__(self, limits: H2Limits) -> None:
        self.limits = limits
        self.opened = 0
        self.empty_run = 0
        self.priority_frames = 0
        self.window_updates = 0
        self.control_queued = 0
        self.premature_resets = 0

    def stream_opened(self) -> None:
        self.opened += 1
        self.empty_run = 0

    def data(self, length: int, end_stream: bool) -> None:
        if length or end_stream:
            self.empty_run = 0
            return
        self.empty_run += 1
        if self.empty_run > self.limits.max_empty_frames:
            raise Flood(f"{self.empty_run} consecutive empty DATA frames")

    def priority(self) -> None:
        self.priority_frames += 1
        if self.priority_frames > self.limits.max_priority_per_stream * (1 + self.opened):
            raise Flood(f"{self.priority_frames} PRIORITY frames for {self.opened} streams")

    def window_update(self, data_frames_sent: int) -> None:
        self.window_updates += 1
        per_frame = self.limits.max_window_updates_per_data_frame
        allowed = 5 + 2 * (self.opened + per_frame * data_frames_sent)
        if self.window_updates > allowed:
            raise Flood(f"{self.window_updates} WINDOW_UPDATE frames for {data_frames_sent} DATA frames sent")

    def control_frame_queued(self) -> None:
        self.control_queued += 1
        if self.control_queued > self.limits.max_control_frames:
            limit = self.limits.max_control_frames
            raise Flood(f"over {limit} control frames queued; the peer does not read")

    def output_drained(self) -> None:
        self.control_queued = 0

    def premature_reset(self) -> None:
        self.premature_resets += 1
        if self.opened >= self.limits.reset_min_streams and self.premature_resets * 2 > self.opened:
            raise Flood(f"rapid reset: {self.premature_resets} of {self.opened} streams reset early")
