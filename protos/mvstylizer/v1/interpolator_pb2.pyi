from protos.mvstylizer.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InterpolationMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERPOLATION_MODE_UNSPECIFIED: _ClassVar[InterpolationMode]
    INTERPOLATION_MODE_OFFLINE: _ClassVar[InterpolationMode]
    INTERPOLATION_MODE_LIVE: _ClassVar[InterpolationMode]
INTERPOLATION_MODE_UNSPECIFIED: InterpolationMode
INTERPOLATION_MODE_OFFLINE: InterpolationMode
INTERPOLATION_MODE_LIVE: InterpolationMode

class InterpolatorConfig(_message.Message):
    __slots__ = ("mode", "width", "height", "output_encoding", "jpeg_quality", "exact_keys")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    EXACT_KEYS_FIELD_NUMBER: _ClassVar[int]
    mode: InterpolationMode
    width: int
    height: int
    output_encoding: _media_pb2.FrameEncoding
    jpeg_quality: int
    exact_keys: bool
    def __init__(self, mode: _Optional[_Union[InterpolationMode, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., output_encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., exact_keys: _Optional[bool] = ...) -> None: ...

class StylizedKey(_message.Message):
    __slots__ = ("index", "stylized", "original")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STYLIZED_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    index: int
    stylized: _media_pb2.EncodedImage
    original: _media_pb2.EncodedImage
    def __init__(self, index: _Optional[int] = ..., stylized: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ..., original: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ...) -> None: ...

class FrameRequest(_message.Message):
    __slots__ = ("index", "pts", "prev_key", "next_key", "flow_to_prev", "flow_to_next", "confidence_prev", "confidence_next", "original")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    PREV_KEY_FIELD_NUMBER: _ClassVar[int]
    NEXT_KEY_FIELD_NUMBER: _ClassVar[int]
    FLOW_TO_PREV_FIELD_NUMBER: _ClassVar[int]
    FLOW_TO_NEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_PREV_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_NEXT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts: int
    prev_key: int
    next_key: int
    flow_to_prev: _media_pb2.FlowField
    flow_to_next: _media_pb2.FlowField
    confidence_prev: _media_pb2.ConfidenceMap
    confidence_next: _media_pb2.ConfidenceMap
    original: _media_pb2.EncodedImage
    def __init__(self, index: _Optional[int] = ..., pts: _Optional[int] = ..., prev_key: _Optional[int] = ..., next_key: _Optional[int] = ..., flow_to_prev: _Optional[_Union[_media_pb2.FlowField, _Mapping]] = ..., flow_to_next: _Optional[_Union[_media_pb2.FlowField, _Mapping]] = ..., confidence_prev: _Optional[_Union[_media_pb2.ConfidenceMap, _Mapping]] = ..., confidence_next: _Optional[_Union[_media_pb2.ConfidenceMap, _Mapping]] = ..., original: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ...) -> None: ...

class InterpolateRequest(_message.Message):
    __slots__ = ("config", "key", "frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    config: InterpolatorConfig
    key: StylizedKey
    frame: FrameRequest
    def __init__(self, config: _Optional[_Union[InterpolatorConfig, _Mapping]] = ..., key: _Optional[_Union[StylizedKey, _Mapping]] = ..., frame: _Optional[_Union[FrameRequest, _Mapping]] = ...) -> None: ...

class OutputFrame(_message.Message):
    __slots__ = ("index", "pts", "image", "timings")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts: int
    image: _media_pb2.EncodedImage
    timings: _media_pb2.Timings
    def __init__(self, index: _Optional[int] = ..., pts: _Optional[int] = ..., image: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ..., timings: _Optional[_Union[_media_pb2.Timings, _Mapping]] = ...) -> None: ...

class InterpolateResponse(_message.Message):
    __slots__ = ("frame",)
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: OutputFrame
    def __init__(self, frame: _Optional[_Union[OutputFrame, _Mapping]] = ...) -> None: ...
