"""Bringing an index's files into the page cache before searches need them. A search reads a
few hundred scattered rows of the vector files; on a cold cache each is a disk read (at 10M
passages 1,500 re-scored rows took 143 ms cold, 14 ms warm). So a server that opens an index
asks the kernel to read the files ahead, most useful first, while they fit in free memory.

Readahead (posix_fadvise WILLNEED) costs no copy and little CPU: 1.5 GB queued in 0.25 s here.
Linux reads at most max(read_ahead_kb, max_sectors_kb) per call, 128 KB on a common disk, so
the files are advised in steps of that size. A file over the budget is left to the cache.
It runs in a child process: opening and closing the catalogue here would drop this process's
SQLite locks (tests/reliability/test_locks.py), and the page cache is the machine's anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from search.records import Prefetched
from search.store.local import lexical
from search.store.local import segments as seglib
from search.store.local.layout import DATABASE

STEP = 128 << 10  # what one WILLNEED reads at most on a common disk (Linux caps each call)
MEMORY_SHARE = 0.5  # of MemAvailable: the rest stays for the process and other files
# The child: advise each file named on its command line, print the bytes it advised.
ADVISE = f"""
import os, sys
done = 0
for name in sys.argv[1:]:
    try:
        fd = os.open(name, os.O_RDONLY)
    except OSError:
        continue
    try:
        size = os.fstat(fd).st_size
        for offset in range(0, size, {STEP}):
            os.posix_fadvise(fd, offset, {STEP}, os.POSIX_FADV_WILLNEED)
        done += size
    except OSError:
        pass
    finally:
        os.close(fd)
print(done)
"""


def memory_budget(available: int | None = None) -> int:
    """Bytes the read-ahead may bring in: its share of the memory available now (or of
    `available`); 0 without a memory figure (no /proc/meminfo)."""
    return int((available_memory() if available is None else available) * MEMORY_SHARE)


def too_big_to_cache(size: int, available: int | None = None) -> bool:
    """Whether a file of this size is beyond what the read-ahead brings in: its pages are
    mostly on disk. Without a memory figure nothing is read ahead and nothing is said to be."""
    free = available_memory() if available is None else available
    return free > 0 and size > memory_budget(free)


def plan(files: Sequence[tuple[Path, int]], budget: int) -> list[Path]:
    """Files to read ahead, in the order given (most useful first), while their sizes fit
    the budget; a file too large for what is left is passed over for smaller later ones,
    an empty one has nothing to read."""
    chosen, left = [], budget
    for path, size in files:
        if 0 < size <= left:
            chosen.append(path)
            left -= size
    return chosen


def generation_files(path: Path, segments: Iterable[str]) -> list[tuple[Path, int]]:
    """A generation's files with their sizes, most useful first: the approximate indexes
    every vector search reads, the lexical index, the exact rows re-scoring reads, then the
    catalogue (passage text and sentence vectors)."""
    names = list(segments)
    ordered = [path / seglib.files_of(n)[0] for n in names]
    lexical_dir = path / lexical.DIRNAME
    if lexical_dir.is_dir():
        ordered += sorted(lexical_dir.iterdir())
    ordered += [path / seglib.files_of(n)[1] for n in names]
    ordered.append(path / DATABASE)
    out = []
    for file in ordered:
        try:
            out.append((file, file.stat().st_size))
        except OSError:
            continue  # an optional file (flat segments have no exact rows) or one merged away
    return out


def available_memory() -> int:
    """MemAvailable in bytes (0 where /proc/meminfo is missing: nothing is read ahead)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def read_ahead(files: Sequence[tuple[Path, int]], budget: int | None = None) -> Prefetched:
    """Ask the kernel to read these files into the page cache, within the budget (default:
    half of the memory available now). Returns when the reads are queued."""
    chosen = plan(files, memory_budget() if budget is None else budget)
    done = 0
    if chosen and hasattr(os, "posix_fadvise"):  # (Linux and most Unixes)
        try:
            child = subprocess.run([sys.executable, "-I", "-S", "-c", ADVISE,
                                    *map(str, chosen)], capture_output=True, text=True,
                                   timeout=600, check=True)
            done = int(child.stdout.strip() or 0)
        except (OSError, ValueError, subprocess.SubprocessError):
            done = 0  # nothing read ahead: searches read from disk, as without it
    total = sum(size for _, size in files)
    return Prefetched(len(chosen) if done else 0, done,
                      total - sum(s for f, s in files if f in chosen))
