"""The local engine, split by job: layout and locks, catalogue (SQLite), segments (FAISS),
lexical (tantivy), reader, writer, merge; engine.LocalStore ties them together."""

from search.store.local.engine import LocalStore

__all__ = ["LocalStore"]
