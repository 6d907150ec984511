"""The controller's identity service: a certificate authority for workload identities.

:mod:`.pki` holds the pure certificate logic, :mod:`.store` the identity directory's
files, :mod:`.tokens` token validation and :mod:`.service` the ``Identity.Certify``
gRPC service.
"""
