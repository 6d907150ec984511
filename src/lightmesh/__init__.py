"""lightmesh: an ultralight service mesh.

The package is layered (imports go downward only, enforced by import-linter):
``cli`` -> ``proxy`` -> ``io`` -> ``protocol`` -> ``core``. ``core`` and ``protocol``
are sans-I/O: they take bytes, events and the current time, and never import
asyncio, socket or ssl.
"""

from __future__ import annotations

__version__ = "0.1.0"

from lightmesh import native  # noqa: F401  (decides, once, whether the compiled hot path may run)
