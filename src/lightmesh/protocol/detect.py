"""Protocol detection from the first bytes a client sends.

``detect(prefix)`` returns the protocol, or ``None`` while the bytes seen so far
are consistent with more than one answer. Rules, in order:

* HTTP/2 with prior knowledge: the 24-byte connection preface.
* TLS: a handshake record header (``0x16 0x03 0x00..0x04``).
* HTTP/1: a request line ``METHOD SP target SP HTTP/1.x CRLF``, or a standard
  method (``GET``, ``POST``, ...) followed by a space: such a client speaks HTTP
  even when the rest of its request line is malformed, and it gets a 400 from the
  HTTP parser rather than having its bytes relayed (and a slow request line is
  subject to the header read timeout, not the detection timeout). A valid but
  unfinished request line needs more bytes; past ``MAX_REQUEST_LINE`` it is
  HTTP/1 (the HTTP parser then answers for the oversized line).
* Anything else is opaque TCP.
"""

from __future__ import annotations

import enum
import re

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_REQUEST_LINE = 16 * 1024


class Protocol(enum.Enum):
    HTTP1 = "http/1"
    HTTP2 = "h2"
    TLS = "tls"
    OPAQUE = "opaque"


_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_METHOD_SP = re.compile(rb"(?:GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) ")
_REQUEST_LINE = re.compile(rb"(%s{1,32}) [^\x00-\x20\x7f]+ HTTP/1\.[01]\r?\n" % _TOKEN)
# A prefix of a request line that could still become one.
_PARTIAL = re.compile(
    rb"%s{1,32}(?: (?:[^\x00-\x20\x7f]+(?: (?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[01]\r?)?)?)?)?)?)?)?)?)?)?)?\Z"
    % _TOKEN
)


def detect(prefix: bytes) -> Protocol | None:
    """Classify a connection by its first bytes; ``None`` means "send more"."""
    if not prefix:
        return None
    if prefix[:1] == b"P" and PREFACE.startswith(prefix[:24]):
        if len(prefix) >= len(PREFACE):
            return Protocol.HTTP2
        return None if _REQUEST_LINE.match(prefix) is None else Protocol.HTTP1
    if prefix[0] == 0x16:
        if len(prefix) < 3:
            return None
        return Protocol.TLS if prefix[1] == 0x03 and prefix[2] <= 0x04 else Protocol.OPAQUE
    if _REQUEST_LINE.match(prefix) or _METHOD_SP.match(prefix):
        return Protocol.HTTP1
    # Only the first MAX_REQUEST_LINE + 1 bytes decide, so more bytes never change an answer.
    head = prefix[: MAX_REQUEST_LINE + 1]
    if b"\n" in head or not _PARTIAL.match(head):
        return Protocol.OPAQUE  # a full line that is not a request line, or an impossible prefix
    return Protocol.HTTP1 if len(head) > MAX_REQUEST_LINE else None
