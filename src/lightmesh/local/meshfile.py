"""The mesh file of ``lightmesh up``: services to run locally, validated with line-numbered errors.

```yaml
services:
  - name: web                    # a Kubernetes name; clients call it web:8080 (or web.NAMESPACE:8080)
    namespace: emojivoto         # default: default
    service_account: web         # default: the service's name (its identity)
    port: 8080                   # the port clients call; the app listens on $PORT
    replicas: 2                  # default 1; 0 keeps the service known with no endpoints
    command: python -m myapp --port {port}   # a string (split like a shell) or a list
    protocol: http               # http (detected), h2, grpc or opaque
    env: {LOG_LEVEL: debug}      # extra environment for the app
profiles: []                     # route profiles, passed to the registry (see docs/local.md)
```

:func:`parse_mesh` checks every key (unknown keys are errors) with pydantic and reports
each problem as ``file:line: where: what`` through the controller's YAML document (the
same messages as the registry's). ``{port}`` and ``{service}``/``{namespace}``/``{pod}``
in the command are replaced per instance; the executable must exist on ``PATH``.
"""

from __future__ import annotations

import shlex
import shutil
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lightmesh.controller.yamldoc import Loc, Problem, YamlDocument
from lightmesh.core.names import check_label, check_port

Protocol = Literal["http", "h2", "grpc", "opaque"]
MAX_REPLICAS = 64
PLACEHOLDERS = ("port", "service", "namespace", "pod")


class MeshFileError(ValueError):
    """A mesh file that cannot be used; ``problems`` holds one ``file:line: ...`` line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid mesh file {source}:\n  " + "\n  ".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ServiceSpec(_Model):
    name: str
    namespace: str = "default"
    service_account: str | None = None
    port: int
    replicas: int = Field(1, ge=0, le=MAX_REPLICAS)
    command: list[str] | str
    protocol: Protocol = "http"
    env: dict[str, str] = {}

    def runs_like(self, other: ServiceSpec | None) -> bool:
        """Whether ``other``'s instances run exactly as this one's: only the replica count differs."""
        return other is not None and self.model_copy(update={"replicas": other.replicas}) == other

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_label("service name", value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_label("namespace", value)

    @field_validator("service_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return None if value is None else check_label("service account", value)

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str) -> list[str]:
        argv = shlex.split(value) if isinstance(value, str) else list(value)
        if not argv or not argv[0]:
            raise ValueError("the command is empty")
        for arg in argv:
            _check_placeholders(arg)
        if shutil.which(argv[0]) is None:
            raise ValueError(f"command not found: {argv[0]!r} (not executable, nor on PATH)")
        return argv

    @property
    def account(self) -> str:
        return self.service_account or self.name

    @property
    def key(self) -> str:
        """``name.namespace``: how ``lightmesh scale`` and the output name a service."""
        return f"{self.name}.{self.namespace}"

    def argv(self, **values: str) -> list[str]:
        return [arg.format(**values) for arg in self.command]


class MeshSpec(_Model):
    services: list[ServiceSpec]
    profiles: list[dict[str, Any]] = []

    def service(self, key: str) -> ServiceSpec | None:
        return next((s for s in self.services if s.key == key), None)


def _check_placeholders(arg: str) -> None:
    try:
        arg.format(**dict.fromkeys(PLACEHOLDERS, ""))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{arg!r}: unknown placeholder {exc} (use {{port}}, {{service}}, {{namespace}}, {{pod}}; "
            "write {{ and }} for braces)"
        ) from None


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "top level"


def _conflicts(spec: MeshSpec, reserved_ports: frozenset[int]) -> list[Problem]:
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for i, svc in enumerate(spec.services):
        if seen.setdefault(svc.key, i) != i:
            problems.append((("services", i, "name"), f"service {svc.key} is listed twice"))
        if svc.port in reserved_ports:
            ports = ", ".join(map(str, sorted(reserved_ports)))
            problems.append((("services", i, "port"), f"port {svc.port} is the sidecar's in a pod ({ports})"))
    return problems


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (a typo?)"
    if error["type"] == "model_type":
        return "expected a mapping (key: value lines)"
    if error["type"] == "missing":
        return "required key missing"
    return str(error["msg"]).removeprefix("Value error, ")


def parse_mesh(
    text: str, source: str = "<mesh file>", reserved_ports: frozenset[int] = frozenset()
) -> MeshSpec:
    """Parse and validate a mesh file; raises :class:`MeshFileError` listing every problem.

    ``reserved_ports`` are ports a service may not use (with ``--netns``, the sidecar's)."""
    doc = YamlDocument.parse(text, source)
    if doc.errors:
        raise MeshFileError(source, doc.errors)
    if doc.data is None:
        raise MeshFileError(source, [f"{source}:1: the file is empty; it needs a `services:` list"])
    try:
        spec = MeshSpec.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        problems: list[Problem] = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            # list[str] | str: report the problem once, not once per union member
            if len(loc) > 3 and loc[2] == "command" and loc[3] in ("list[str]", "str"):
                loc = loc[:3]
            problems.append((loc, _message(e)))
        unique = list(dict.fromkeys(doc.describe(problems, _where)))
        raise MeshFileError(source, doc.duplicate_keys + unique) from None
    if problems_ := doc.duplicate_keys + doc.describe(_conflicts(spec, reserved_ports), _where):
        raise MeshFileError(source, problems_)
    return spec
