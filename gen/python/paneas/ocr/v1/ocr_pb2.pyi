from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Engine(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGINE_UNSPECIFIED: _ClassVar[Engine]
    ENGINE_TESSERACT: _ClassVar[Engine]
    ENGINE_RAPIDOCR: _ClassVar[Engine]

class TextLayerPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_LAYER_POLICY_UNSPECIFIED: _ClassVar[TextLayerPolicy]
    TEXT_LAYER_POLICY_AUTO: _ClassVar[TextLayerPolicy]
    TEXT_LAYER_POLICY_FORCE_OCR: _ClassVar[TextLayerPolicy]

class TextSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_SOURCE_UNSPECIFIED: _ClassVar[TextSource]
    TEXT_SOURCE_OCR: _ClassVar[TextSource]
    TEXT_SOURCE_PDF_TEXT_LAYER: _ClassVar[TextSource]
ENGINE_UNSPECIFIED: Engine
ENGINE_TESSERACT: Engine
ENGINE_RAPIDOCR: Engine
TEXT_LAYER_POLICY_UNSPECIFIED: TextLayerPolicy
TEXT_LAYER_POLICY_AUTO: TextLayerPolicy
TEXT_LAYER_POLICY_FORCE_OCR: TextLayerPolicy
TEXT_SOURCE_UNSPECIFIED: TextSource
TEXT_SOURCE_OCR: TextSource
TEXT_SOURCE_PDF_TEXT_LAYER: TextSource

class RecognizeRequest(_message.Message):
    __slots__ = ("content", "mime_type", "languages", "engine", "pages", "dpi", "text_layer_policy", "password")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    DPI_FIELD_NUMBER: _ClassVar[int]
    TEXT_LAYER_POLICY_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    mime_type: str
    languages: _containers.RepeatedScalarFieldContainer[str]
    engine: Engine
    pages: str
    dpi: int
    text_layer_policy: TextLayerPolicy
    password: str
    def __init__(self, content: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., languages: _Optional[_Iterable[str]] = ..., engine: _Optional[_Union[Engine, str]] = ..., pages: _Optional[str] = ..., dpi: _Optional[int] = ..., text_layer_policy: _Optional[_Union[TextLayerPolicy, str]] = ..., password: _Optional[str] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("pages", "text", "mime_type", "document_page_count")
    PAGES_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_PAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    pages: _containers.RepeatedCompositeFieldContainer[Page]
    text: str
    mime_type: str
    document_page_count: int
    def __init__(self, pages: _Optional[_Iterable[_Union[Page, _Mapping]]] = ..., text: _Optional[str] = ..., mime_type: _Optional[str] = ..., document_page_count: _Optional[int] = ...) -> None: ...

class Page(_message.Message):
    __slots__ = ("page_number", "width", "height", "source", "engine", "text", "confidence", "blocks", "processing_seconds")
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    page_number: int
    width: int
    height: int
    source: TextSource
    engine: Engine
    text: str
    confidence: float
    blocks: _containers.RepeatedCompositeFieldContainer[Block]
    processing_seconds: float
    def __init__(self, page_number: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., source: _Optional[_Union[TextSource, str]] = ..., engine: _Optional[_Union[Engine, str]] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ..., blocks: _Optional[_Iterable[_Union[Block, _Mapping]]] = ..., processing_seconds: _Optional[float] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("bounding_box", "text", "confidence", "lines")
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    bounding_box: BoundingBox
    text: str
    confidence: float
    lines: _containers.RepeatedCompositeFieldContainer[Line]
    def __init__(self, bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ..., lines: _Optional[_Iterable[_Union[Line, _Mapping]]] = ...) -> None: ...

class Line(_message.Message):
    __slots__ = ("bounding_box", "text", "confidence", "words")
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    bounding_box: BoundingBox
    text: str
    confidence: float
    words: _containers.RepeatedCompositeFieldContainer[Word]
    def __init__(self, bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ..., words: _Optional[_Iterable[_Union[Word, _Mapping]]] = ...) -> None: ...

class Word(_message.Message):
    __slots__ = ("bounding_box", "text", "confidence")
    BOUNDING_BOX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    bounding_box: BoundingBox
    text: str
    confidence: float
    def __init__(self, bounding_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("left", "top", "width", "height")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    left: int
    top: int
    width: int
    height: int
    def __init__(self, left: _Optional[int] = ..., top: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ListEnginesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEnginesResponse(_message.Message):
    __slots__ = ("engines", "default_engine")
    ENGINES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ENGINE_FIELD_NUMBER: _ClassVar[int]
    engines: _containers.RepeatedCompositeFieldContainer[EngineInfo]
    default_engine: Engine
    def __init__(self, engines: _Optional[_Iterable[_Union[EngineInfo, _Mapping]]] = ..., default_engine: _Optional[_Union[Engine, str]] = ...) -> None: ...

class EngineInfo(_message.Message):
    __slots__ = ("engine", "languages", "ready")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    engine: Engine
    languages: _containers.RepeatedScalarFieldContainer[str]
    ready: bool
    def __init__(self, engine: _Optional[_Union[Engine, str]] = ..., languages: _Optional[_Iterable[str]] = ..., ready: _Optional[bool] = ...) -> None: ...
