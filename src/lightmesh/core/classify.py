"""Response classification: success or failure, as Linkerd's ``classification`` label.

HTTP responses fail on 5xx; gRPC responses (a ``grpc-status`` header or trailer)
fail on any non-zero status, and the gRPC status takes precedence when present.
"""

from __future__ import annotations

from typing import Final

SUCCESS: Final = "success"
FAILURE: Final = "failure"


def classify(status: int, grpc_status: int | None = None) -> str:
    if grpc_status is not None:
        return SUCCESS if grpc_status == 0 else FAILURE
    return FAILURE if status >= 500 else SUCCESS
