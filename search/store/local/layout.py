"""Where the local engine keeps things, and who may write them: generation folders, the
CURRENT pointer, the writer and merge locks, durable file writes.

    index/
      CURRENT              name of the live generation, replaced atomically
      .lock                held by the one writer
      .merge-lock          held by the one merge (which takes .lock only to plan and commit)
      gen-000003/
        meta.sqlite        (WAL) documents, chunks, sentences, manifest, the list of live
                           vector segments, tombstones of deleted chunks (catalogue.py)
        seg-000001.faiss   immutable vector segments (segments.py), ids = chunks.id
        lexical/           the BM25 index (lexical.py), derived from meta.sqlite
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

CURRENT = "CURRENT"
DATABASE = "meta.sqlite"
LOCK = ".lock"
MERGE_LOCK = ".merge-lock"  # held by the one merge running, for its whole length
KEEP_GENERATIONS = 2  # the live one and its predecessor, for readers still holding it

_held: dict[Path, int] = {}  # lock files this process holds, with their depth (re-entrant)
_held_owner: dict[Path, int] = {}  # ... and the thread holding each
_held_lock = threading.Lock()


def rebuild_hint(directory: Path) -> str:
    return f"rebuild it with: evidence-search index --rebuild --index {directory}"


def live_generation(directory: Path) -> str | None:
    try:
        name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def next_generation(directory: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in directory.glob("gen-*")
               if p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def writer_lock(directory: Path) -> contextlib.AbstractContextManager[None]:
    """One writer at a time (any process); a second one waits, and says so. Re-entrant in the
    thread that holds it, so a writer can take it inside a caller's read-check-write."""
    directory.mkdir(parents=True, exist_ok=True)
    return exclusive(directory / LOCK, f"{directory}: another re-index is running; "
                                       "waiting for it to finish")


@contextlib.contextmanager
def exclusive(lock: Path, waiting: str | None = None) -> Iterator[None]:
    """An exclusive flock on `lock` (any process, any thread), saying `waiting` if it waits."""
    key = lock.resolve()
    me = threading.get_ident()
    with _held_lock:
        if _held_owner.get(key) == me:
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_lock:
                _held[key] -= 1
        return
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        with _held_lock:
            _held[key], _held_owner[key] = 1, me
        try:
            yield
        finally:
            with _held_lock:
                del _held[key], _held_owner[key]
            fcntl.flock(handle, fcntl.LOCK_UN)


def try_exclusive(lock: Path) -> contextlib.AbstractContextManager[bool]:
    """The lock if it is free right now (True inside), else False without waiting."""

    @contextlib.contextmanager
    def attempt() -> Iterator[bool]:
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    return attempt()


def merge_running(directory: Path) -> bool:
    """Whether a merge (in any process) holds its lock right now."""
    try:
        with open(directory / MERGE_LOCK, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def collect_garbage(directory: Path) -> None:
    """Keep the live generation and its predecessor (a reader may still hold it); drop older
    ones and builds abandoned by killed writers. Runs under the writer lock."""
    live = live_generation(directory) or ""
    gens = sorted(p.name for p in directory.glob("gen-*") if p.is_dir())
    older = [g for g in gens if g < live]
    keep = {live, *older[len(older) - (KEEP_GENERATIONS - 1):]}
    for name in gens:
        if name not in keep:
            shutil.rmtree(directory / name, ignore_errors=True)


def write_atomic(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync(path.parent)


def fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
