"""Power of two choices: pick the less loaded of two random endpoints.

The load function is supplied by the caller (the balancer's: peak-EWMA cost), and
randomness is injected so tests are deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def pick(items: Sequence[T], load: Callable[[T], float], rng: random.Random | None = None) -> T:
    """Return one of ``items`` (non-empty) by P2C over ``load``."""
    n = len(items)
    if n == 1:
        return items[0]
    r = rng or random
    i = r.randrange(n)
    j = r.randrange(n - 1)
    if j >= i:
        j += 1
    a, b = items[i], items[j]
    return a if load(a) <= load(b) else b
