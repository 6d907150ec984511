"""Keep hypothesis failure reports readable under ``filterwarnings = error``.

When a property fails, hypothesis imports libcst to suggest a patch, and that import
emits a DeprecationWarning (from mypy_extensions) which the warning filter turns into
an INTERNALERROR hiding the failure. Importing the module once here, with that warning
silenced, makes the later import a no-op.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:  # libcst not installed: hypothesis skips the patch
        pass
