"""The Milvus engine's collections: their fields and indexes, and the limits they impose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from search.config import milvus_settings

FORMAT_VERSION = 1
TEXT_MAX = 65535  # characters in Lite; a server counts bytes, so passages stay well below
PART_CHARS = 16000  # a document text part: at most 4 bytes a character, under 65,535 bytes
BATCH = 256  # rows per insert
LIMIT = 16384  # a server's cap on top-k and query limits
RESERVE = 1_000_000  # chunk ids a writer reserves in the manifest before it inserts any
BM25_PARAMS = {"params": {"bm25_k1": 1.2, "bm25_b": 0.75}}  # nested: Lite ignores flat ones
KINDS = ("chunks", "documents", "texts", "terms")  # the collections of one generation


def aux(client: Any, key: str, fields: Sequence[tuple[str, str, dict]]) -> tuple[Any, Any]:
    """A collection keyed by text. Every collection needs a vector field: a 2-d placeholder
    (servers refuse 1-d)."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(key, DataType.VARCHAR, is_primary=True, max_length=1024)
    for name, kind, options in fields:
        schema.add_field(name, getattr(DataType, kind), **options)
    schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
    params = client.prepare_index_params()
    params.add_index(field_name="_v", index_type="FLAT", metric_type="L2")
    return schema, params


def chunks(client: Any, dimension: int, lite: bool) -> tuple[Any, Any]:
    """Passages: dense vector, BM25 sparse vector from `body`, filter and citation fields."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for name, length in (("doc_id", 1024), ("path", 2048), ("title", 2048),
                         ("title_lc", 2048), ("section", 8192), ("section_lc", 8192),
                         ("date", 64), ("text", TEXT_MAX), ("spans", TEXT_MAX),
                         ("sentences", TEXT_MAX)):
        schema.add_field(name, DataType.VARCHAR, max_length=length)
    for name in ("ordinal", "start_char", "end_char"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("page_start", DataType.INT64, nullable=True)
    schema.add_field("page_end", DataType.INT64, nullable=True)
    schema.add_field("body", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_function(Function(name="body_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["body"], output_field_names=["sparse"]))
    params = client.prepare_index_params()
    # Exact search on Milvus Lite (its HNSW lost results under selective filters); a server
    # takes EVIDENCE_SEARCH_MILVUS_INDEX (default AUTOINDEX, its own choice).
    kind = milvus_settings().index or ("FLAT" if lite else "AUTOINDEX")
    params.add_index(field_name="dense", index_type=kind, metric_type="IP")
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX",
                     metric_type="BM25", params=BM25_PARAMS)
    return schema, params


def collections(client: Any, dimension: int, lite: bool) -> dict[str, tuple[Any, Any]]:
    """Schema and index parameters of each collection of a generation."""
    v = "VARCHAR"
    return {
        "chunks": chunks(client, dimension, lite),
        "documents": aux(client, "doc_id", [
            ("path", v, {"max_length": 2048}), ("title", v, {"max_length": 2048}),
            ("sha256", v, {"max_length": 64}), ("page_count", "INT64", {}),
            ("chunks", "INT64", {}), ("meta", "JSON", {})]),
        "texts": aux(client, "key", [
            ("doc_id", v, {"max_length": 1024}), ("part", "INT64", {}),
            ("text", v, {"max_length": TEXT_MAX})]),
        "terms": aux(client, "term", [("df", "INT64", {})]),
    }
