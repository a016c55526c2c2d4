"""Extract (and OCR) untrusted PDFs in a child process with a time and a memory limit, so one
pathological file (a decompression bomb, a reference loop, a huge page) cannot hang or
exhaust the indexer: it is skipped with a reason and the rest of the corpus indexes.

The child is `python -m search.ingest.sandbox` speaking length-prefixed JSON over its pipes; it is
started once and replaced whenever a file times out or kills it. Scanned pages are read in
batches, each under its own time limit, so a long scan neither hits the PDF limit nor hangs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from search.config import Limits, limits
from search.ingest import ocr
from search.ingest.errors import LoadError
from search.ingest.pdf import PdfHeading


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


@dataclass
class PdfText:
    """What extraction gives back: page texts (OCR'd where scanned), the title, which pages
    (1-based) came from OCR, notes on pages that could not be read, the printed page labels
    (empty when the PDF has none) and the lines its type shows to be headings."""

    pages: list[str]
    title: str | None
    ocr_pages: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    headings: list[PdfHeading] = field(default_factory=list)


OcrProgress = Callable[[int, int], None]  # (scanned pages read, scanned pages to read)


class Extractor:
    """A worker process for PDF extraction and OCR; see the module docstring."""

    def __init__(self, timeout: float | None = None, memory_mb: int | None = None) -> None:
        bounds = limits()
        timeout = bounds.pdf_timeout if timeout is None else timeout
        memory_mb = bounds.pdf_memory_mb if memory_mb is None else memory_mb
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._loaded: str | None = None  # the PDF the worker holds open for OCR

    def _start(self) -> subprocess.Popen[bytes]:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "search.ingest.sandbox", str(self.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._loaded = None
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        self._process = None
        self._loaded = None

    def _ask(self, path: Path, header: dict[str, Any], data: bytes, timeout: float,
             what: str) -> dict[str, Any]:
        """One request to the worker, bounded by `timeout`; a worker that overruns or dies
        is replaced and the request fails with a LoadError saying which."""
        proc = self._process if self._process and self._process.poll() is None \
            else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        reply: dict[str, Any] = {}

        def exchange() -> None:
            try:
                _send(proc.stdin, json.dumps({**header, "path": str(path)}).encode(
                    "utf-8", "surrogateescape"))
                _send(proc.stdin, data)
                reply.update(json.loads(_receive(proc.stdout)))
            except (EOFError, OSError, ValueError):
                pass  # the worker died: reported below from its exit status

        worker = threading.Thread(target=exchange, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._stop()
            worker.join(5)
            raise LoadError(path, f"{what} took over {timeout:.0f} s (limit); skipped")
        if not reply:
            code = proc.poll()
            self._stop()
            why = "ran out of memory" if code in (None, 1, -9) else f"exit {code}"
            raise LoadError(path, f"{what} failed ({why}; limit {self.memory_mb} MB); skipped")
        if reply["status"] == "error":
            raise LoadError(path, reply["reason"])
        return reply

    def pdf_pages(self, path: Path, data: bytes,
                  on_ocr: OcrProgress | None = None) -> PdfText:
        """Page texts of a PDF; scanned pages are read with OCR when Tesseract is here."""
        bounds = limits()
        with self._lock:
            reply = self._ask(path, {"op": "extract", "ocr": bounds.ocr}, data, self.timeout,
                              "extraction")
            self._loaded = reply.get("key")
            result = PdfText(reply["pages"], reply["title"], labels=reply.get("labels", []),
                             headings=[PdfHeading(int(p), str(t), int(n))
                                       for p, t, n in reply.get("headings", [])])
            scanned: list[int] = reply.get("scanned", [])
            if scanned:
                self._ocr(path, data, result, scanned, on_ocr, bounds)
        if not any(p.strip() for p in result.pages):
            if not scanned:
                raise LoadError(path, "no extractable text (no text layer and no scanned "
                                      "page images)")
            raise LoadError(path, f"no text: {result.notes[0] if result.notes else ''}"
                                  .rstrip(": "))
        return result

    def _ocr(self, path: Path, data: bytes, result: PdfText, scanned: list[int],
             on_ocr: OcrProgress | None, bounds: Limits) -> None:
        """Read the scanned pages in small batches (one per worker thread), each batch under
        a time limit; what cannot be read becomes a note, the rest of the document stays."""
        plural = "s" if len(scanned) > 1 else ""
        if not bounds.ocr or ocr.tesseract_version(bounds.tesseract) is None:
            why = ("OCR is turned off (EVIDENCE_SEARCH_OCR=0)" if not bounds.ocr
                   else ocr.unavailable_reason())
            result.notes.append(f"{len(scanned)} scanned page{plural} not read: {why}")
            return
        todo = scanned[:max(0, bounds.ocr_max_pages)]
        if len(todo) < len(scanned):
            result.notes.append(
                f"OCR read the first {len(todo)} of {len(scanned)} scanned pages (limit "
                f"EVIDENCE_SEARCH_OCR_MAX_PAGES={bounds.ocr_max_pages}); pages "
                f"{scanned[len(todo)] + 1}-{scanned[-1] + 1} are not searchable")
        workers = ocr_workers()
        failed: dict[str, list[int]] = {}
        key = hashlib.sha256(data).hexdigest()
        for done in range(0, len(todo), workers):
            if on_ocr:
                on_ocr(done, len(todo))
            batch = todo[done:done + workers]
            try:
                if self._loaded != key:
                    self._loaded = self._ask(path, {"op": "load"}, data, self.timeout,
                                             "extraction")["key"]
                reply = self._ask(path, {"op": "ocr", "pages": batch, "dpi": bounds.ocr_dpi,
                                         "timeout": bounds.ocr_page_timeout,
                                         "workers": workers, "command": bounds.tesseract},
                                  b"", bounds.ocr_page_timeout + 30, "OCR")
            except LoadError as exc:
                failed.setdefault(exc.reason, []).extend(
                    i for i in batch if not result.pages[i].strip())
                continue
            for index, text, reason in reply["pages"]:
                if text:
                    result.pages[index] = text
                    result.ocr_pages.append(index + 1)
                elif not result.pages[index].strip():  # a short text layer stays as it was
                    failed.setdefault(reason, []).append(index)
        if on_ocr:
            on_ocr(len(todo), len(todo))
        for reason, pages in failed.items():
            result.notes.append(f"{_page_list(pages)}: {reason}")

    def render(self, path: Path, page: int, passage: str, width: int) -> dict[str, Any]:
        """A PDF page drawn for the reader (search.web.pdfpage.render_page) in the worker:
        the web process never parses an untrusted PDF itself. The reply holds the PageImage
        fields, the PNG base64-encoded; a LoadError says why it could not be drawn."""
        with self._lock:
            return self._ask(path, {"op": "render", "page": page, "passage": passage,
                                    "width": width}, b"", self.timeout, "drawing the page")

    def close(self) -> None:
        with self._lock:
            self._stop()


def ocr_workers() -> int:
    """Pages OCR'd side by side: one Tesseract thread each, one per core, at most two (more
    pages in flight only raise memory)."""
    return max(1, min(2, os.cpu_count() or 1))


def _page_list(indices: list[int]) -> str:
    pages = sorted(i + 1 for i in indices)
    shown = ", ".join(str(p) for p in pages[:8]) + (f" and {len(pages) - 8} more"
                                                    if len(pages) > 8 else "")
    return f"page{'s' if len(pages) > 1 else ''} {shown}"


_default: Extractor | None = None
_default_lock = threading.Lock()


def default_extractor() -> Extractor:
    global _default
    with _default_lock:
        if _default is None:
            _default = Extractor()
        return _default


_drawer: Extractor | None = None
READER_TIMEOUT = 30.0  # seconds to draw one page for the reader before the worker is replaced


def page_drawer() -> Extractor:
    """The worker that draws PDF pages for the reader: its own process, so a page view never
    waits behind an indexing job's extraction or OCR."""
    global _drawer
    with _default_lock:
        if _drawer is None:
            _drawer = Extractor(timeout=READER_TIMEOUT)
        return _drawer


def _serve(memory_mb: int) -> None:
    """The child: answer extract, load and OCR requests with JSON; see Extractor."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    held: dict[str, Any] = {}  # the PDF open for OCR: {"key": sha256, "pdf": PdfDocument}
    while True:
        try:
            header = json.loads(_receive(stdin))
            data = _receive(stdin)
        except EOFError:
            return
        try:
            reply = _handle(header, data, held, memory_mb)
        except LoadError as exc:
            reply = {"status": "error", "reason": exc.reason}
        except MemoryError:
            reply = {"status": "error",
                     "reason": f"needs more than {memory_mb} MB to extract (limit); skipped"}
        except Exception as exc:  # anything pypdf or pdfium throws must not end the worker
            reply = {"status": "error",
                     "reason": f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})"}
        _send(stdout, json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _handle(header: dict[str, Any], data: bytes, held: dict[str, Any],
            memory_mb: int) -> dict[str, Any]:
    from search.ingest.pdf import pdf_pages_unsandboxed

    path = Path(header["path"])
    if header["op"] == "render":  # the reader's page image (the worker reads the file)
        from search.web.pdfpage import ReaderError, render_page

        try:
            image = render_page(path, int(header["page"]), str(header["passage"]),
                                int(header["width"]), ocr=True)  # OCR may run here
        except ReaderError as exc:
            raise LoadError(path, str(exc)) from None
        return {"status": "ok", **{k: v for k, v in vars(image).items() if k != "png"},
                "png": base64.b64encode(image.png).decode("ascii")}
    if header["op"] == "ocr":
        pages = ocr.read_pages(held["pdf"], header["pages"], int(header["dpi"]),
                               float(header["timeout"]), int(header["workers"]),
                               str(header["command"]))
        return {"status": "ok", "pages": [[p.index, p.text, p.reason] for p in pages]}
    if header["op"] == "load":
        return {"status": "ok", "key": _hold(held, data)}
    read = pdf_pages_unsandboxed(path, data)
    pages = read.pages
    reply: dict[str, Any] = {"status": "ok", "pages": pages, "title": read.title,
                             "labels": read.labels, "scanned": [],
                             "headings": [[h.page, h.text, h.level] for h in read.headings]}
    if any(ocr.is_garbage(p) for p in pages):
        try:
            reply["key"] = _hold(held, data)
            reply["scanned"] = ocr.scanned_pages(held["pdf"], pages)
        except Exception:  # noqa: BLE001 - pdfium cannot open it: keep pypdf's text
            held.clear()
    return reply


def _hold(held: dict[str, Any], data: bytes) -> str:
    import pypdfium2 as pdfium

    held.clear()
    held["pdf"] = pdfium.PdfDocument(data)
    held["key"] = hashlib.sha256(data).hexdigest()
    return held["key"]


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else limits().pdf_memory_mb)
