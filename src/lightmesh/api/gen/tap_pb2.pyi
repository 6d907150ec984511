from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObserveRequest(_message.Message):
    __slots__ = ("limit", "match", "max_rps")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_RPS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    match: Match
    max_rps: float
    def __init__(self, limit: _Optional[int] = ..., match: _Optional[_Union[Match, _Mapping]] = ..., max_rps: _Optional[float] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("all", "any", "source", "destination", "http", "source_label", "destination_label")
    class Seq(_message.Message):
        __slots__ = ("matches",)
        MATCHES_FIELD_NUMBER: _ClassVar[int]
        matches: _containers.RepeatedCompositeFieldContainer[Match]
        def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...
    class Label(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Tcp(_message.Message):
        __slots__ = ("netmask", "ports")
        class Netmask(_message.Message):
            __slots__ = ("ip", "mask")
            IP_FIELD_NUMBER: _ClassVar[int]
            MASK_FIELD_NUMBER: _ClassVar[int]
            ip: str
            mask: int
            def __init__(self, ip: _Optional[str] = ..., mask: _Optional[int] = ...) -> None: ...
        class PortRange(_message.Message):
            __slots__ = ("min", "max")
            MIN_FIELD_NUMBER: _ClassVar[int]
            MAX_FIELD_NUMBER: _ClassVar[int]
            min: int
            max: int
            def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...
        NETMASK_FIELD_NUMBER: _ClassVar[int]
        PORTS_FIELD_NUMBER: _ClassVar[int]
        netmask: Match.Tcp.Netmask
        ports: Match.Tcp.PortRange
        def __init__(self, netmask: _Optional[_Union[Match.Tcp.Netmask, _Mapping]] = ..., ports: _Optional[_Union[Match.Tcp.PortRange, _Mapping]] = ...) -> None: ...
    class Http(_message.Message):
        __slots__ = ("scheme", "method", "authority", "path")
        class StringMatch(_message.Message):
            __slots__ = ("exact", "prefix")
            EXACT_FIELD_NUMBER: _ClassVar[int]
            PREFIX_FIELD_NUMBER: _ClassVar[int]
            exact: str
            prefix: str
            def __init__(self, exact: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...
        SCHEME_FIELD_NUMBER: _ClassVar[int]
        METHOD_FIELD_NUMBER: _ClassVar[int]
        AUTHORITY_FIELD_NUMBER: _ClassVar[int]
        PATH_FIELD_NUMBER: _ClassVar[int]
        scheme: str
        method: str
        authority: Match.Http.StringMatch
        path: Match.Http.StringMatch
        def __init__(self, scheme: _Optional[str] = ..., method: _Optional[str] = ..., authority: _Optional[_Union[Match.Http.StringMatch, _Mapping]] = ..., path: _Optional[_Union[Match.Http.StringMatch, _Mapping]] = ...) -> None: ...
    ALL_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    NOT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LABEL_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_LABEL_FIELD_NUMBER: _ClassVar[int]
    all: Match.Seq
    any: Match.Seq
    source: Match.Tcp
    destination: Match.Tcp
    http: Match.Http
    source_label: Match.Label
    destination_label: Match.Label
    def __init__(self, all: _Optional[_Union[Match.Seq, _Mapping]] = ..., any: _Optional[_Union[Match.Seq, _Mapping]] = ..., source: _Optional[_Union[Match.Tcp, _Mapping]] = ..., destination: _Optional[_Union[Match.Tcp, _Mapping]] = ..., http: _Optional[_Union[Match.Http, _Mapping]] = ..., source_label: _Optional[_Union[Match.Label, _Mapping]] = ..., destination_label: _Optional[_Union[Match.Label, _Mapping]] = ..., **kwargs) -> None: ...

class TcpAddress(_message.Message):
    __slots__ = ("ip", "port")
    IP_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    ip: str
    port: int
    def __init__(self, ip: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: bytes
    def __init__(self, name: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...

class TapEvent(_message.Message):
    __slots__ = ("source", "source_meta", "destination", "destination_meta", "proxy_direction", "http", "tls", "proxy")
    class ProxyDirection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[TapEvent.ProxyDirection]
        INBOUND: _ClassVar[TapEvent.ProxyDirection]
        OUTBOUND: _ClassVar[TapEvent.ProxyDirection]
    UNKNOWN: TapEvent.ProxyDirection
    INBOUND: TapEvent.ProxyDirection
    OUTBOUND: TapEvent.ProxyDirection
    class SourceMetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class DestinationMetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class Http(_message.Message):
        __slots__ = ("request_init", "response_init", "response_end")
        class StreamId(_message.Message):
            __slots__ = ("base", "stream")
            BASE_FIELD_NUMBER: _ClassVar[int]
            STREAM_FIELD_NUMBER: _ClassVar[int]
            base: int
            stream: int
            def __init__(self, base: _Optional[int] = ..., stream: _Optional[int] = ...) -> None: ...
        class RequestInit(_message.Message):
            __slots__ = ("id", "method", "scheme", "authority", "path", "headers")
            ID_FIELD_NUMBER: _ClassVar[int]
            METHOD_FIELD_NUMBER: _ClassVar[int]
            SCHEME_FIELD_NUMBER: _ClassVar[int]
            AUTHORITY_FIELD_NUMBER: _ClassVar[int]
            PATH_FIELD_NUMBER: _ClassVar[int]
            HEADERS_FIELD_NUMBER: _ClassVar[int]
            id: TapEvent.Http.StreamId
            method: str
            scheme: str
            authority: str
            path: str
            headers: _containers.RepeatedCompositeFieldContainer[Header]
            def __init__(self, id: _Optional[_Union[TapEvent.Http.StreamId, _Mapping]] = ..., method: _Optional[str] = ..., scheme: _Optional[str] = ..., authority: _Optional[str] = ..., path: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ...) -> None: ...
        class ResponseInit(_message.Message):
            __slots__ = ("id", "since_request_init_us", "http_status", "headers")
            ID_FIELD_NUMBER: _ClassVar[int]
            SINCE_REQUEST_INIT_US_FIELD_NUMBER: _ClassVar[int]
            HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
            HEADERS_FIELD_NUMBER: _ClassVar[int]
            id: TapEvent.Http.StreamId
            since_request_init_us: int
            http_status: int
            headers: _containers.RepeatedCompositeFieldContainer[Header]
            def __init__(self, id: _Optional[_Union[TapEvent.Http.StreamId, _Mapping]] = ..., since_request_init_us: _Optional[int] = ..., http_status: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ...) -> None: ...
        class ResponseEnd(_message.Message):
            __slots__ = ("id", "since_request_init_us", "since_response_init_us", "response_bytes", "eos", "trailers", "http_status")
            ID_FIELD_NUMBER: _ClassVar[int]
            SINCE_REQUEST_INIT_US_FIELD_NUMBER: _ClassVar[int]
            SINCE_RESPONSE_INIT_US_FIELD_NUMBER: _ClassVar[int]
            RESPONSE_BYTES_FIELD_NUMBER: _ClassVar[int]
            EOS_FIELD_NUMBER: _ClassVar[int]
            TRAILERS_FIELD_NUMBER: _ClassVar[int]
            HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
            id: TapEvent.Http.StreamId
            since_request_init_us: int
            since_response_init_us: int
            response_bytes: int
            eos: TapEvent.Http.Eos
            trailers: _containers.RepeatedCompositeFieldContainer[Header]
            http_status: int
            def __init__(self, id: _Optional[_Union[TapEvent.Http.StreamId, _Mapping]] = ..., since_request_init_us: _Optional[int] = ..., since_response_init_us: _Optional[int] = ..., response_bytes: _Optional[int] = ..., eos: _Optional[_Union[TapEvent.Http.Eos, _Mapping]] = ..., trailers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., http_status: _Optional[int] = ...) -> None: ...
        class Eos(_message.Message):
            __slots__ = ("grpc_status_code", "reset_error_code", "error")
            GRPC_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
            RESET_ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
            ERROR_FIELD_NUMBER: _ClassVar[int]
            grpc_status_code: int
            reset_error_code: int
            error: str
            def __init__(self, grpc_status_code: _Optional[int] = ..., reset_error_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...
        REQUEST_INIT_FIELD_NUMBER: _ClassVar[int]
        RESPONSE_INIT_FIELD_NUMBER: _ClassVar[int]
        RESPONSE_END_FIELD_NUMBER: _ClassVar[int]
        request_init: TapEvent.Http.RequestInit
        response_init: TapEvent.Http.ResponseInit
        response_end: TapEvent.Http.ResponseEnd
        def __init__(self, request_init: _Optional[_Union[TapEvent.Http.RequestInit, _Mapping]] = ..., response_init: _Optional[_Union[TapEvent.Http.ResponseInit, _Mapping]] = ..., response_end: _Optional[_Union[TapEvent.Http.ResponseEnd, _Mapping]] = ...) -> None: ...
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_META_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_META_FIELD_NUMBER: _ClassVar[int]
    PROXY_DIRECTION_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    PROXY_FIELD_NUMBER: _ClassVar[int]
    source: TcpAddress
    source_meta: _containers.ScalarMap[str, str]
    destination: TcpAddress
    destination_meta: _containers.ScalarMap[str, str]
    proxy_direction: TapEvent.ProxyDirection
    http: TapEvent.Http
    tls: bool
    proxy: str
    def __init__(self, source: _Optional[_Union[TcpAddress, _Mapping]] = ..., source_meta: _Optional[_Mapping[str, str]] = ..., destination: _Optional[_Union[TcpAddress, _Mapping]] = ..., destination_meta: _Optional[_Mapping[str, str]] = ..., proxy_direction: _Optional[_Union[TapEvent.ProxyDirection, str]] = ..., http: _Optional[_Union[TapEvent.Http, _Mapping]] = ..., tls: _Optional[bool] = ..., proxy: _Optional[str] = ...) -> None: ...
