"""Vector segments: immutable FAISS files, each holding the vectors of some chunks.

A small segment is exact (inner product over float32). A segment of at least
`VectorSettings.approx_above` vectors is approximate — an HNSW graph over 8-bit codes by
default, IVF inverted lists as the option — with the exact vectors beside it as float16,
memory-mapped and read only for the few candidates of a query: the approximate index finds
candidates, the exact vectors re-score them, so scores stay true cosines. HNSW was chosen by
measurement on real embeddings (56k SciFact passages and sentences, real questions): recall@10
0.997 against IVF's 0.962; with efConstruction 120 it also holds on synthetic near-duplicate
mixtures at 1M (docs/PERFORMANCE.md).

    seg-000004.faiss     IndexIDMap2 over IndexFlatIP, IndexIVFScalarQuantizer or IndexHNSWSQ
                         (ids = chunk ids, ascending); or, for a very large segment, an
                         IndexIVFPQ holding the chunk ids itself
    seg-000004.f16.npy   exact vectors of an approximate segment, rows in id order

A segment of at least `VectorSettings.pq_above` vectors is IVF-PQ: 4-bit product-quantised
codes of dimension/8 bytes (48 for 384-d, against 384 for 8-bit codes and ~256 more for an
HNSW graph's links), so ten million vectors take ~0.6 GB of memory instead of ~6.4 GB; its wider
candidate list (`pq_rerank`) is re-scored from the float16 rows like the others. It holds
ids itself rather than through IndexIDMap2, whose reverse map costs ~40 bytes a vector.

Only store.py decides where segments live and which are live.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from search.config import VectorSettings

FLAT, IVF, HNSW, IVFPQ = "flat", "ivf", "hnsw", "ivfpq"
SUFFIX, EXACT_SUFFIX = ".faiss", ".f16.npy"
PQ_MIN = 10_000  # fewer vectors cannot train 256 codes per part (FAISS: 39 points each)
EXACT_FILTER_MAX = 20_000  # a filter this selective is answered exactly from float16 vectors


class SegmentError(Exception):
    """A segment file that cannot be read; the message names it."""


@dataclass
class Segment:
    name: str
    kind: str
    index: faiss.Index
    ids: np.ndarray  # chunk ids held, ascending (row i of the segment holds ids[i])
    exact: np.ndarray | ExactRows | None  # float16 rows of an approximate segment

    @property
    def size(self) -> int:
        return len(self.ids)

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(held, rows): which of `ids` this segment holds, and their row numbers."""
        if not len(self.ids):
            return np.zeros(len(ids), dtype=bool), np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
        held = self.ids[pos] == ids
        return held, pos[held]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of those of `ids` this segment holds (others dropped)."""
        return self.locate(ids)[1]

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Exact vectors (float32) of these rows."""
        if isinstance(self.exact, ExactRows):
            return self.exact.take(rows)
        if self.exact is not None:
            return np.asarray(self.exact[rows], dtype=np.float32)
        flat = faiss.downcast_index(self.index.index)
        return np.vstack([flat.reconstruct(int(r)) for r in rows]) if len(rows) else \
            np.zeros((0, self.index.d), dtype=np.float32)

    def all_vectors(self) -> np.ndarray:
        if isinstance(self.exact, ExactRows):
            return self.exact.everything()
        if self.exact is not None:
            return np.asarray(self.exact, dtype=np.float32)
        flat = faiss.downcast_index(self.index.index)
        return flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else \
            np.zeros((0, self.index.d), dtype=np.float32)

    def search(self, query: np.ndarray, k: int, settings: VectorSettings,
               deleted: faiss.IDSelector | None, allowed: np.ndarray | None
               ) -> list[tuple[int, float]]:
        """Best k (chunk id, cosine) of this segment. `allowed`: only these ids (already
        free of deleted ones); `deleted`: a selector of ids to skip."""
        if not self.size or k <= 0:
            return []
        q = query.reshape(1, -1).astype(np.float32)
        if allowed is not None:
            rows = self.rows(allowed)
            if not len(rows):
                return []
            if self.kind != FLAT and len(rows) <= EXACT_FILTER_MAX:
                return _top(self.ids[rows], self.vectors(rows) @ q[0], k)
            selector: faiss.IDSelector | None = faiss.IDSelectorBatch(self.ids[rows])
        else:
            selector = deleted
        if self.kind == FLAT:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
            with one_thread():
                scores, ids = self.index.search(q, min(k, self.size), params=params)
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True)
                    if i >= 0]
        depth = max(k, settings.pq_rerank if self.kind == IVFPQ else settings.rerank)
        found, _ = self.approximate(q, depth, settings, selector)
        return self.rescore(found, q[0], k)

    def approximate(self, q: np.ndarray, depth: int, settings: VectorSettings,
                    selector: faiss.IDSelector | None) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, approximate scores) of an approximate segment's best `depth`
        candidates for the (1, d) query, best first."""
        depth = min(depth, self.size)
        if self.kind == IVF:
            params = faiss.SearchParametersIVF(nprobe=settings.nprobe)
        elif self.kind == IVFPQ:
            params = faiss.SearchParametersIVF(nprobe=settings.pq_nprobe)
        else:
            params = faiss.SearchParametersHNSW(efSearch=max(settings.ef_search, depth))
        if selector is not None:
            params.sel = selector
        with one_thread():
            scores, ids = self.index.search(q, depth, params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def rescore(self, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Best k of these held chunk ids by their exact vectors' cosine with the query."""
        rows = self.rows(np.sort(ids))  # in file order: neighbouring rows share pages
        return _top(self.ids[rows], self.vectors(rows) @ query, k)


def search_all(parts: list[Segment], query: np.ndarray, k: int, settings: VectorSettings,
               deleted: faiss.IDSelector | None, allowed: np.ndarray | None
               ) -> list[tuple[int, float]]:
    """Best k (chunk id, cosine) over segments. IVF-PQ segments pool their approximate
    candidates and only the pool's best `pooled_depth` are re-scored exactly: ten 1M
    segments re-scoring 300 each read 3,000 float16 rows a question, where the pool's best
    hold nearly all of the exact top 10 (docs/SCALING.md)."""
    pooled: list[Segment] = []
    found: list[tuple[int, float]] = []
    for part in parts:
        if allowed is None and part.kind == IVFPQ and part.size and k > 0:
            pooled.append(part)
        else:
            found += part.search(query, k, settings, deleted, allowed)
    if pooled:  # one segment alone: its own top pq_rerank, as Segment.search would
        q = query.reshape(1, -1).astype(np.float32)
        depth = max(k, settings.pq_rerank)
        approx = [p.approximate(q, depth, settings, deleted) for p in pooled]
        owner = np.concatenate([np.full(len(ids), n) for n, (ids, _) in enumerate(approx)])
        ids = np.concatenate([ids for ids, _ in approx])
        scores = np.concatenate([s for _, s in approx])
        best = np.argsort(-scores, kind="stable")[:pooled_depth(settings, k, len(pooled))]
        for n, part in enumerate(pooled):
            mine = best[owner[best] == n]
            if len(mine):
                found += part.rescore(ids[mine], q[0], k)
    found.sort(key=lambda item: (-item[1], item[0]))
    return found[:k]


def pooled_depth(settings: VectorSettings, k: int, segments: int) -> int:
    """Candidates re-scored across `segments` IVF-PQ segments: `pq_rerank` for the first,
    `pq_rerank_more` for each one more."""
    return max(k, settings.pq_rerank + settings.pq_rerank_more * (segments - 1))


class ExactRows:
    """The float16 file of a segment, read a few rows at a time with pread: a query reads
    ~50 scattered rows, and reading them (rather than mapping the file) keeps them out of the
    process's memory — a mapping would fault in read-ahead pages around every row."""

    BULK = 2_000  # more rows than this are read through a temporary mapping

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            self.offset = handle.tell()
        if fortran or dtype != np.float16 or len(shape) != 2:
            raise ValueError(f"expected a C-order float16 matrix, found {dtype} {shape}")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.row_bytes = self.shape[1] * 2
        if os.path.getsize(path) < self.offset + self.shape[0] * self.row_bytes:
            raise ValueError("truncated")
        self.fd = os.open(path, os.O_RDONLY)

    def take(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) > self.BULK:
            mapped = np.load(self.path, mmap_mode="r")
            return np.asarray(mapped[rows], dtype=np.float32)
        size = self.row_bytes
        buffer = bytearray(len(rows) * size)
        view = memoryview(buffer)
        for n, row in enumerate(rows.tolist()):
            os.preadv(self.fd, [view[n * size:(n + 1) * size]], self.offset + row * size)
        return np.frombuffer(buffer, np.float16).reshape(-1, self.shape[1]).astype(np.float32)

    def everything(self) -> np.ndarray:
        return np.load(self.path).astype(np.float32)

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One question searches on the calling thread alone. FAISS would split it across
    OpenMP threads, which wait for each other: with the other core busy (another search, a
    re-index) a flat search of 12k vectors took 24 ms on two threads and 3.5 on one (AMD
    EPYC, AVX2). OpenMP's thread count is per calling thread, so builds keep both cores."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def build(name: str, ids: np.ndarray, vectors: np.ndarray, settings: VectorSettings) -> Segment:
    """A segment over these vectors: exact when small, approximate + float16 when large."""
    order = np.argsort(ids, kind="stable")
    ids = np.ascontiguousarray(ids[order], dtype=np.int64)
    vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
    dimension = vectors.shape[1]
    if len(ids) >= max(settings.pq_above, PQ_MIN):
        return Segment(name, IVFPQ, _ivf_pq(ids, vectors, settings), ids,
                       vectors.astype(np.float16))
    if len(ids) >= settings.approx_above:
        inner: faiss.Index
        if settings.approx_kind == HNSW:
            inner = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_8bit,
                                      settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = settings.ef_construction
            train = 200_000
        else:
            nlist = ivf_lists(len(ids))
            quantizer = faiss.IndexFlatIP(dimension)
            inner = faiss.IndexIVFScalarQuantizer(quantizer, dimension, nlist,
                                                  faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
            inner.own_fields = True
            quantizer.this.disown()
            train = 50 * nlist  # FAISS asks for at least 39 points per list
        rng = np.random.default_rng(0)
        inner.train(vectors[rng.choice(len(vectors), min(len(vectors), train), replace=False)])
        index = faiss.IndexIDMap2(inner)
        index.own_fields = True
        inner.this.disown()
        index.add_with_ids(vectors, ids)
        kind = HNSW if settings.approx_kind == HNSW else IVF
        return Segment(name, kind, index, ids, vectors.astype(np.float16))
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if len(ids):
        index.add_with_ids(vectors, ids)
    return Segment(name, FLAT, index, ids, None)


def pq_parts(dimension: int, settings: VectorSettings) -> int:
    """Parts of a product-quantised vector, four bits each: twice the bytes asked for (the
    setting, else dimension/8), rounded down to a divisor of the dimension (FAISS splits a
    vector into equal parts)."""
    wanted = 2 * (settings.pq_bytes or max(1, dimension // 8))
    return max(m for m in range(1, min(wanted, dimension) + 1) if dimension % m == 0)


def _ivf_pq(ids: np.ndarray, vectors: np.ndarray, settings: VectorSettings) -> faiss.Index:
    """IVF over 4-bit PQ codes scanned with SIMD lookups (FAISS's fast-scan): at 1M real
    mixtures, 48 bytes a vector, it found 0.971 of the exact top 10 after re-scoring 300, in
    2.5 ms, where 8-bit codes of the same size took 5.6 ms for 0.957 (docs/SCALING.md)."""
    dimension = vectors.shape[1]
    nlist = pq_lists(len(ids))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFPQFastScan(quantizer, dimension, nlist,
                                     pq_parts(dimension, settings), 4,
                                     faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()
    # 39 points per list for the coarse k-means; ten rounds, not 25: the lists only route
    # candidates to exact re-scoring
    train = min(len(ids), max(64 * nlist, 65_536))
    index.cp.niter = 10
    rng = np.random.default_rng(0)
    index.train(vectors[np.sort(rng.choice(len(vectors), train, replace=False))])
    for start in range(0, len(ids), 200_000):  # in slices: FAISS copies what it adds
        index.add_with_ids(vectors[start:start + 200_000], ids[start:start + 200_000])
    return index


def _ivf_ids(index: faiss.Index) -> np.ndarray:
    """The ids an IVF index holds, ascending (read from its inverted lists)."""
    ivf = faiss.extract_index_ivf(index)
    lists = ivf.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
             for n in range(ivf.nlist) if lists.list_size(n)]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def pq_lists(n: int) -> int:
    """Inverted lists of an IVF-PQ segment: about √n (1,000 at 1M), a quarter of IVF's:
    adding a million vectors costs a quarter as much, and visiting `pq_nprobe` of them reads
    a wider share of a segment whose candidates are re-scored exactly anyway."""
    return int(max(1, min(65_536, np.sqrt(n), n // 39)))


def ivf_lists(n: int) -> int:
    """Inverted lists for n vectors: about 4·√n (the usual rule), with the 39 training
    points per list FAISS asks for."""
    return int(max(1, min(65_536, 4 * np.sqrt(n), n // 39)))


def write(segment: Segment, directory: Path) -> list[Path]:
    """Write a segment's files (temporary names, flushed, then renamed); returns them."""
    written = []
    final = directory / (segment.name + SUFFIX)
    tmp = final.with_name(final.name + ".tmp")
    try:
        faiss.write_index(segment.index, str(tmp))
    except RuntimeError as exc:  # FAISS reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise OSError(errno.EIO, f"write failed ({str(exc).strip().splitlines()[-1]})",
                      str(tmp)) from exc
    _fsync_file(tmp)
    if segment.exact is not None:
        exact = directory / (segment.name + EXACT_SUFFIX)
        exact_tmp = exact.with_name(exact.name + ".tmp")
        with open(exact_tmp, "wb") as handle:
            np.save(handle, segment.exact)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(exact_tmp, exact)
        written.append(exact)
    os.replace(tmp, final)
    written.append(final)
    return written


def read(directory: Path, name: str, kind: str, dimension: int) -> Segment:
    """Load a segment; SegmentError names the file when it is missing or damaged."""
    path = directory / (name + SUFFIX)
    if not path.is_file():
        raise SegmentError(f"{path}: missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "read failed"
        raise SegmentError(f"{path}: unreadable FAISS index ({first})") from exc
    if index.d != dimension:
        raise SegmentError(f"{path}: dimension {index.d}, the index has {dimension}")
    try:
        if kind == IVFPQ:
            ids = _ivf_ids(index).astype(np.int64)
        else:
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)  # read_index: IDMap2
    except (RuntimeError, AttributeError) as exc:  # a file of another kind than listed
        raise SegmentError(f"{path}: not the {kind} segment the index lists") from exc
    exact = None
    if kind != FLAT:
        exact_path = directory / (name + EXACT_SUFFIX)
        try:
            exact = ExactRows(exact_path)
        except (OSError, ValueError) as exc:
            raise SegmentError(f"{exact_path}: missing or unreadable ({exc})") from exc
        if exact.shape != (len(ids), dimension):
            raise SegmentError(f"{exact_path}: shape {exact.shape} does not match {path}")
    return Segment(name, kind, index, ids, exact)


def files_of(name: str) -> tuple[str, str]:
    return name + SUFFIX, name + EXACT_SUFFIX


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
