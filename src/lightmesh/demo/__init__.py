"""Bundled demo applications for ``lightmesh demo``."""
