"""Extract untrusted PDFs in a child process with a time and a memory limit, so one
pathological file (a decompression bomb, a reference loop, a huge page) cannot hang or
exhaust the indexer: it is skipped with a reason and the rest of the corpus indexes.

The child is `python -m search.ingest.sandbox` speaking length-prefixed JSON over its pipes; it is
started once and replaced whenever a file times out or kills it.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from search.config import limits
from search.ingest.errors import LoadError


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(struct.pack(">Q", len(payload)) + payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    size = struct.unpack(">Q", head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


class Extractor:
    """A worker process for PDF extraction; see the module docstring."""

    def __init__(self, timeout: float | None = None, memory_mb: int | None = None) -> None:
        bounds = limits()
        timeout = bounds.pdf_timeout if timeout is None else timeout
        memory_mb = bounds.pdf_memory_mb if memory_mb is None else memory_mb
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "search.ingest.sandbox", str(self.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def pdf_pages(self, path: Path, data: bytes) -> tuple[list[str], str | None]:

        with self._lock:
            proc = self._process if self._process and self._process.poll() is None \
                else self._start()
            assert proc.stdin is not None and proc.stdout is not None
            reply: dict[str, Any] = {}

            def exchange() -> None:
                try:
                    _send(proc.stdin, str(path).encode("utf-8", "surrogateescape"))
                    _send(proc.stdin, data)
                    reply.update(json.loads(_receive(proc.stdout)))
                except (EOFError, OSError, ValueError):
                    pass  # the worker died: reported below from its exit status

            worker = threading.Thread(target=exchange, daemon=True)
            worker.start()
            worker.join(self.timeout)
            if worker.is_alive():
                self._stop()
                worker.join(5)
                raise LoadError(path, f"extraction took over {self.timeout:.0f} s (limit); "
                                      "skipped")
            if not reply:
                code = proc.poll()
                self._stop()
                why = "ran out of memory" if code in (None, 1, -9) else f"exit {code}"
                raise LoadError(path, f"extraction failed ({why}; limit {self.memory_mb} MB); "
                                      "skipped")
            if reply["status"] == "error":
                raise LoadError(path, reply["reason"])
            return reply["pages"], reply["title"]

    def close(self) -> None:
        with self._lock:
            self._stop()


_default: Extractor | None = None
_default_lock = threading.Lock()


def default_extractor() -> Extractor:
    global _default
    with _default_lock:
        if _default is None:
            _default = Extractor()
        return _default


def _serve(memory_mb: int) -> None:
    """The child: read (path, bytes) requests, answer with pages or a reason."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from search.ingest.pdf import pdf_pages_unsandboxed

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            path = _receive(stdin).decode("utf-8", "surrogateescape")
            data = _receive(stdin)
        except EOFError:
            return
        try:
            pages, title = pdf_pages_unsandboxed(Path(path), data)
            reply = {"status": "ok", "pages": pages, "title": title}
        except LoadError as exc:
            reply = {"status": "error", "reason": exc.reason}
        except MemoryError:
            reply = {"status": "error",
                     "reason": f"needs more than {memory_mb} MB to extract (limit); skipped"}
        except Exception as exc:  # anything pypdf throws must not end the worker
            reply = {"status": "error",
                     "reason": f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})"}
        _send(stdout, json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else limits().pdf_memory_mb)
