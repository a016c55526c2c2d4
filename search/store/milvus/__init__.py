"""The Milvus engine: base.Store over pymilvus, for indexes that outgrow one machine.

collections.py (the client, errors, names, manifest, generations, writer lock), view.py
(reading) and writer.py (writing) over one Collections, store.py (base.Store: hands them
out), schema.py (fields and indexes), expressions.py (filters and stems), connection.py
(URIs, connection errors).

    milvus:///srv/evidence/index.db    Milvus Lite: an embedded Milvus started from Python
    http://host:19530                  a Milvus server or cluster (EVIDENCE_SEARCH_MILVUS_TOKEN)

Collections, for a name (EVIDENCE_SEARCH_MILVUS_COLLECTION, default "evidence") and the live
generation g (a rebuild writes g+1 beside g and switches the manifest at commit):

    <name>_manifest        key -> JSON: the Manifest, naming the live generation
    <name>_<g>_chunks      passages: dense vector, BM25 sparse vector (Milvus's BM25 function
                           over `body`), filter fields, sentence vectors
    <name>_<g>_documents   one row per document (written last, removed first: a document is
                           listed only while all its passages are in)
    <name>_<g>_texts       document text in parts (a server caps VARCHAR at 65,535 bytes)
    <name>_<g>_terms       passages per stemmed word, for the rare-word weights ranking uses

Milvus has no multi-row transactions. A write removes a changed document's row, then its old
passages, adds the new ones and records the row last, so a write cut short leaves documents
the next re-index sees as new and redoes; searches meanwhile may see part of a write. Chunk
ids are reserved in the manifest before any is used, so none is ever handed out twice.
Milvus Lite has no English analyzer, so `body` holds Snowball stems computed here (as the local
engine's tantivy index stems) and questions are stemmed the same way.
"""

from search.store.milvus.connection import parse_location, unavailable
from search.store.milvus.expressions import filter_expression, literal, stems
from search.store.milvus.store import MilvusStore

__all__ = ["MilvusStore", "filter_expression", "literal", "parse_location", "stems",
           "unavailable"]
