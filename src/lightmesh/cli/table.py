"""Plain-text tables the way ``linkerd`` prints them (pure).

Columns are separated by three spaces; the leading name columns (``left``) are
left-aligned and every other column is right-aligned, like Go's tabwriter with
``AlignRight`` in Linkerd's CLI. No trailing spaces.
"""

from __future__ import annotations

from collections.abc import Sequence

GAP = "   "


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(GAP.join(cells).rstrip())
    return "\n".join(lines) + "\n"
