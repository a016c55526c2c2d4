"""Reaching Milvus: store URIs, Milvus Lite's failure modes named, pymilvus errors as one line."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from search.config import milvus_settings
from search.store.base import StoreUnavailable


def parse_location(location: str) -> tuple[str, str | None, str]:
    """(uri for MilvusClient, the Lite file or None, collection name) from a store URI:
    milvus:///abs/file.db, milvus://rel/file.db, http(s)://host:port, each with an optional
    ?collection=NAME."""
    split = urlsplit(location)
    name = (parse_qs(split.query).get("collection") or [milvus_settings().collection])[0]
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", name):
        raise StoreUnavailable(f"{location}: collection name {name!r} must be letters, digits "
                               "and underscores, starting with a letter")
    if split.scheme == "milvus":
        path = split.netloc + split.path
        if not path.endswith(".db"):
            raise StoreUnavailable(f"{location}: a Milvus Lite location names a file ending in "
                                   ".db, e.g. milvus:///srv/evidence/index.db")
        lite = str(Path(path).resolve())
        return lite, lite, name
    return f"{split.scheme}://{split.netloc}", None, name


def unavailable(location: str, lite: str | None, exc: Exception) -> StoreUnavailable:
    """A pymilvus failure to connect, as one line naming the setting and what to do."""
    text = getattr(exc, "message", None) or str(exc)
    code = getattr(exc, "code", None)
    if lite is None and ("auth" in text.lower() or "token" in text.lower()
                         or "password" in text.lower() or code in (1800, 2, 16)
                         and "unauthenticated" in text.lower()):
        return StoreUnavailable(f"{location}: the Milvus server refused the credentials "
                                f"({text}); set EVIDENCE_SEARCH_MILVUS_TOKEN to 'user:password' "
                                "or an API key")
    if lite is None:
        return StoreUnavailable(f"{location}: no Milvus server answers ({text}); check the "
                                "address given to --store / EVIDENCE_SEARCH_STORE and that the "
                                "server is running")
    return StoreUnavailable(f"{location}: Milvus Lite could not open {lite} ({text})")


def precheck_lite(location: str, path: str) -> None:
    """Milvus Lite says only 'Open local milvus failed'; find out which failure it is."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise StoreUnavailable(f"{location}: folder {parent} does not exist; create it first")
    target = Path(path) if Path(path).exists() else parent
    if not os.access(target, os.W_OK):
        raise StoreUnavailable(f"{location}: {target} is not writable (Milvus Lite cannot open "
                               "a store read-only)")
    lock = Path(path) / "LOCK"
    if lock.exists() and not _served_here(path):
        import fcntl

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            raise StoreUnavailable(f"{location}: another process has this Milvus Lite store "
                                   "open (Lite allows one process per file; use a Milvus "
                                   "server to share an index)") from None
        finally:
            os.close(fd)


def _served_here(path: str) -> bool:
    try:
        from milvus_lite import server_manager_instance
    except ImportError:
        return False
    return path in getattr(server_manager_instance, "_servers", {})


def quiet() -> None:
    """pymilvus logs every failed call with a traceback, even when it is handled; gRPC's core
    prints info lines unless told not to (read when gRPC starts)."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # not NONE: Ray started later fails
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
