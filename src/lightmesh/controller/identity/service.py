"""``lightmesh.identity.Identity/Certify`` (grpclib): sign a proxy's CSR for the identity its token proves.

For each call: the token is validated (:class:`~.tokens.TokenValidator`), the identity
it proves is built from the workload and this controller's namespace and trust
domain, the request must name exactly that identity, and the CSR must ask for exactly
it (:func:`.pki.parse_csr`). The leaf is signed by the current issuer
(:class:`~.store.IssuerFiles`, re-read when its files change). Failures end the call
with UNAUTHENTICATED (bad token), PERMISSION_DENIED (the token proves another
identity), INVALID_ARGUMENT (bad CSR or name) or UNAVAILABLE (no usable issuer), each
with a message saying why; every outcome is logged and counted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable

from grpclib import GRPCError, Status
from grpclib.server import Stream

from lightmesh.api.gen import identity_pb2 as pb
from lightmesh.api.gen.identity_grpc import IdentityBase
from lightmesh.controller.identity.pki import Issuer, PkiError
from lightmesh.controller.identity.store import IssuerFiles
from lightmesh.controller.identity.tokens import InvalidToken, TokenValidator
from lightmesh.core.identity import identity_name

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IdentityService(IdentityBase):
    def __init__(self, issuer: IssuerFiles, tokens: TokenValidator, clock: Clock = utc_now) -> None:
        self.issuer = issuer
        self.tokens = tokens
        self.clock = clock
        self.outcomes: Counter[str] = Counter({"ok": 0})  # identity_certify_total{outcome}
        self.on_issuer: Callable[[Issuer], None] = _ignore  # told the issuer each call used

    async def Certify(self, stream: Stream[pb.CertifyRequest, pb.CertifyResponse]) -> None:
        request = await stream.recv_message()
        assert request is not None
        try:
            response = await self.certify(request)
        except GRPCError as exc:
            self.outcomes[exc.status.name.lower()] += 1
            log.warning("certify %r refused: %s", request.identity, exc.message)
            raise
        self.outcomes["ok"] += 1
        await stream.send_message(response)

    async def certify(self, request: pb.CertifyRequest) -> pb.CertifyResponse:
        try:
            workload = await self.tokens.validate(request.token)
        except InvalidToken as exc:
            raise GRPCError(Status.UNAUTHENTICATED, f"invalid token: {exc}") from None
        config = self.issuer.config
        try:
            proven = identity_name(
                workload.service_account, workload.namespace, config.controller_namespace, config.trust_domain
            )
        except ValueError as exc:
            raise GRPCError(Status.PERMISSION_DENIED, f"the token's workload has no valid identity: {exc}")
        if request.identity != proven:
            raise GRPCError(
                Status.PERMISSION_DENIED, f"the token proves {proven!r}, not {request.identity!r}"
            )
        now = self.clock()
        try:
            issuer = self.issuer.load(now)
        except (OSError, PkiError) as exc:
            raise GRPCError(Status.UNAVAILABLE, f"no usable issuer: {exc}") from None
        self.on_issuer(issuer)
        if now >= issuer.not_after:
            raise GRPCError(Status.UNAVAILABLE, f"the issuer expired at {issuer.not_after.isoformat()}")
        try:
            leaf, chain, valid_until = issuer.certify(proven, request.certificate_signing_request, now)
        except PkiError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None
        response = pb.CertifyResponse(leaf_certificate=leaf, intermediate_certificates=chain)
        response.valid_until.FromDatetime(valid_until)
        log.info("certified %s until %s", proven, valid_until.isoformat())
        return response


def _ignore(issuer: Issuer) -> None:
    pass
