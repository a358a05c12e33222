from protos.mvstylizer.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionConfig(_message.Message):
    __slots__ = ("style", "model", "work_long_side", "output_width", "output_height", "response_encoding", "jpeg_quality", "client_label", "strength", "style_mask")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WORK_LONG_SIDE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_ENCODING_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    CLIENT_LABEL_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    STYLE_MASK_FIELD_NUMBER: _ClassVar[int]
    style: _media_pb2.EncodedImage
    model: str
    work_long_side: int
    output_width: int
    output_height: int
    response_encoding: _media_pb2.FrameEncoding
    jpeg_quality: int
    client_label: str
    strength: float
    style_mask: _media_pb2.EncodedImage
    def __init__(self, style: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ..., model: _Optional[str] = ..., work_long_side: _Optional[int] = ..., output_width: _Optional[int] = ..., output_height: _Optional[int] = ..., response_encoding: _Optional[_Union[_media_pb2.FrameEncoding, str]] = ..., jpeg_quality: _Optional[int] = ..., client_label: _Optional[str] = ..., strength: _Optional[float] = ..., style_mask: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ...) -> None: ...

class KeyFrame(_message.Message):
    __slots__ = ("index", "pts", "image", "mask")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    index: int
    pts: int
    image: _media_pb2.EncodedImage
    mask: _media_pb2.EncodedImage
    def __init__(self, index: _Optional[int] = ..., pts: _Optional[int] = ..., image: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ..., mask: _Optional[_Union[_media_pb2.EncodedImage, _Mapping]] = ...) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("config", "key_frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    KEY_FRAME_FIELD_NUMBER: _ClassVar[int]
    config: SessionConfig
    key_frame: KeyFrame
    def __init__(self, config: _Optional[_Union[SessionConfig, _Mapping]] = ..., key_frame: _Optional[_Union[KeyFrame, _Mapping]] = ...) -> None: ...

class SessionReady(_message.Message):
    __slots__ = ("session_id", "model", "work_long_side", "style_encode_ms", "server_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WORK_LONG_SIDE_FIELD_NUMBER: _ClassVar[int]
    STYLE_ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    model: str
    work_long_side: int
    style_encode_ms: float
    server_id: str
    def __init__(self, session_id: _Optional[str] = ..., model: _Optional[str] = ..., work_long_side: _Optional[int] = ..., style_encode_ms: _Optional[float] = ..., server_id: _Optional[str] = ...) -> None: ...

class StylizedKeyFrame(_message.Message):
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

class StylizeResponse(_message.Message):
    __slots__ = ("ready", "key_frame")
    READY_FIELD_NUMBER: _ClassVar[int]
    KEY_FRAME_FIELD_NUMBER: _ClassVar[int]
    ready: SessionReady
    key_frame: StylizedKeyFrame
    def __init__(self, ready: _Optional[_Union[SessionReady, _Mapping]] = ..., key_frame: _Optional[_Union[StylizedKeyFrame, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "description", "weights", "work_long_side", "is_default")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    WORK_LONG_SIDE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    weights: str
    work_long_side: int
    is_default: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., weights: _Optional[str] = ..., work_long_side: _Optional[int] = ..., is_default: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...
