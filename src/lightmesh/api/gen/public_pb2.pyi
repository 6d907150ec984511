from lightmesh.api.gen import tap_pb2 as _tap_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VersionResponse(_message.Message):
    __slots__ = ("version", "build")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    version: str
    build: str
    def __init__(self, version: _Optional[str] = ..., build: _Optional[str] = ...) -> None: ...

class ProxyInfo(_message.Message):
    __slots__ = ("namespace", "service", "pod", "admin_addr", "tap_addr", "identity", "version", "started_unix")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    ADMIN_ADDR_FIELD_NUMBER: _ClassVar[int]
    TAP_ADDR_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    service: str
    pod: str
    admin_addr: str
    tap_addr: str
    identity: str
    version: str
    started_unix: float
    def __init__(self, namespace: _Optional[str] = ..., service: _Optional[str] = ..., pod: _Optional[str] = ..., admin_addr: _Optional[str] = ..., tap_addr: _Optional[str] = ..., identity: _Optional[str] = ..., version: _Optional[str] = ..., started_unix: _Optional[float] = ...) -> None: ...

class AnnounceReply(_message.Message):
    __slots__ = ("controller_version",)
    CONTROLLER_VERSION_FIELD_NUMBER: _ClassVar[int]
    controller_version: str
    def __init__(self, controller_version: _Optional[str] = ...) -> None: ...

class ListProxiesRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class ListProxiesResponse(_message.Message):
    __slots__ = ("proxies", "services")
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    proxies: _containers.RepeatedCompositeFieldContainer[ProxyInfo]
    services: _containers.RepeatedCompositeFieldContainer[ServiceEndpoints]
    def __init__(self, proxies: _Optional[_Iterable[_Union[ProxyInfo, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceEndpoints, _Mapping]]] = ...) -> None: ...

class ServiceEndpoints(_message.Message):
    __slots__ = ("namespace", "name", "endpoints")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    endpoints: int
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., endpoints: _Optional[int] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("namespace", "type", "name")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    type: str
    name: str
    def __init__(self, namespace: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class TapRequest(_message.Message):
    __slots__ = ("target", "observe")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OBSERVE_FIELD_NUMBER: _ClassVar[int]
    target: Resource
    observe: _tap_pb2.ObserveRequest
    def __init__(self, target: _Optional[_Union[Resource, _Mapping]] = ..., observe: _Optional[_Union[_tap_pb2.ObserveRequest, _Mapping]] = ...) -> None: ...
