"""Power of two choices over a caller-supplied load, deterministic with a seeded Random."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lightmesh.core.p2c import pick


def test_one_item_is_picked_without_randomness() -> None:
    class NoRandom(random.Random):
        def randrange(self, *args: object, **kwargs: object) -> int:
            raise AssertionError("randomness used for a single item")

    assert pick(["only"], lambda _: 0.0, NoRandom()) == "only"


def test_of_two_items_the_less_loaded_is_always_picked() -> None:
    load = {"busy": 10.0, "idle": 1.0}
    rng = random.Random(7)
    assert {pick(["busy", "idle"], load.__getitem__, rng) for _ in range(100)} == {"idle"}


def test_the_most_loaded_of_many_is_never_picked() -> None:
    load = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    rng = random.Random(1)
    picks = Counter(pick(list(load), load.__getitem__, rng) for _ in range(2000))
    assert picks["d"] == 0
    assert picks["a"] > picks["b"] > picks["c"] > 0


def test_same_seed_gives_the_same_picks() -> None:
    items = list(range(10))
    load = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]
    rng_a, rng_b = random.Random(42), random.Random(42)
    assert [pick(items, load.__getitem__, rng_a) for _ in range(50)] == [
        pick(items, load.__getitem__, rng_b) for _ in range(50)
    ]


def test_empty_items_are_an_error() -> None:
    with pytest.raises(ValueError):
        pick([], lambda _: 0.0, random.Random(0))
