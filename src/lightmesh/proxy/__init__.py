"""The data plane assembled: stacks of layers over the I/O package, config, admin, main."""
