from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_JPEG: _ClassVar[FrameEncoding]
    FRAME_ENCODING_PNG: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RAW_RGB24: _ClassVar[FrameEncoding]
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_JPEG: FrameEncoding
FRAME_ENCODING_PNG: FrameEncoding
FRAME_ENCODING_RAW_RGB24: FrameEncoding

class EncodedImage(_message.Message):
    __slots__ = ("encoding", "data", "width", "height")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    encoding: FrameEncoding
    data: bytes
    width: int
    height: int
    def __init__(self, encoding: _Optional[_Union[FrameEncoding, str]] = ..., data: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class FlowField(_message.Message):
    __slots__ = ("grid_width", "grid_height", "frame_width", "frame_height", "scale", "data")
    GRID_WIDTH_FIELD_NUMBER: _ClassVar[int]
    GRID_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FRAME_WIDTH_FIELD_NUMBER: _ClassVar[int]
    FRAME_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    grid_width: int
    grid_height: int
    frame_width: int
    frame_height: int
    scale: float
    data: bytes
    def __init__(self, grid_width: _Optional[int] = ..., grid_height: _Optional[int] = ..., frame_width: _Optional[int] = ..., frame_height: _Optional[int] = ..., scale: _Optional[float] = ..., data: _Optional[bytes] = ...) -> None: ...

class ConfidenceMap(_message.Message):
    __slots__ = ("grid_width", "grid_height", "data")
    GRID_WIDTH_FIELD_NUMBER: _ClassVar[int]
    GRID_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    grid_width: int
    grid_height: int
    data: bytes
    def __init__(self, grid_width: _Optional[int] = ..., grid_height: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("decode_ms", "queue_ms", "compute_ms", "encode_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    queue_ms: float
    compute_ms: float
    encode_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ..., compute_ms: _Optional[float] = ..., encode_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...
