"""The only data-plane package that touches asyncio and sockets: listeners, detection,
HTTP/1 server and client connections, pools, TCP relays and body streams."""
