"""One module per proxy behaviour, each a :data:`~lightmesh.proxy.service.Layer`."""
