"""Sans-I/O wire code: protocol detection, HTTP/1 parsing and serialization, messages."""
