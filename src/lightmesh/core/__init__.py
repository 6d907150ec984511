"""Pure decisions without I/O: addresses, errors, classification, balancing, latency buckets."""
