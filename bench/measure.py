"""/proc sampling: process trees, CPU time (utime+stime) and RSS (VmHWM/VmRSS).

CPU is read in clock ticks (usually 10 ms) from /proc/PID/stat and summed over
the process tree (all threads of each process are included by the kernel).
Memory is read from /proc/PID/status in kB and summed over the tree, which is
what matters for multi-process servers such as nginx (master + worker).
"""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on, or None if gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """True if the PID exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """The root PID and all its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parent_map().items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid_alive(pid):
            tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(root: int) -> float:
    """utime+stime in seconds, summed over the process tree of `root`."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def _status_kb(pid: int, key: str) -> int:
    try:
        lines = (_PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def tree_kb(root: int, key: str) -> int:
    """Sum of a /proc/PID/status field (e.g. VmHWM, VmRSS) over the tree, in kB."""
    return sum(_status_kb(pid, key) for pid in process_tree(root))


def cpu_busy_jiffies() -> dict[str, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat; idle+iowait count as not busy."""
    out = {}
    for line in (_PROC / "stat").read_text().splitlines():
        name, *vals = line.split()
        if name.startswith("cpu") and name != "cpu":
            nums = [int(v) for v in vals[:8]]
            out[name] = (sum(nums) - nums[3] - nums[4], sum(nums))
    return out


def cpu_busy_fraction(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """Fraction of each CPU that was busy between two `cpu_busy_jiffies` samples."""
    out = {}
    for cpu, (busy, total) in after.items():
        b0, t0 = before.get(cpu, (0, 0))
        out[cpu] = round((busy - b0) / (total - t0), 3) if total > t0 else 0.0
    return out
