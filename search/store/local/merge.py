"""Merging the local engine's vector segments, as search engines merge theirs: planned and
committed under the writer lock, built outside it (minutes at 1M vectors) while searches and
re-indexes go on. A merged segment above a size threshold becomes an HNSW graph; vectors of
deleted chunks are dropped."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from search.config import VectorSettings
from search.records import MergeReport
from search.store.base import IndexCorrupt
from search.store.local import catalogue, lexical
from search.store.local import segments as seglib
from search.store.local.layout import (
    DATABASE,
    MERGE_LOCK,
    exclusive,
    live_generation,
    rebuild_hint,
    writer_lock,
)
from search.store.local.segments import Segment, SegmentError
from search.store.local.writer import (
    MERGING_SUFFIX,
    RETIRE_GRACE_SECONDS,
    expire_retired,
    list_segment,
    next_segment_name,
    remove_segment_files,
    write_segment,
)

WORN = 0.2  # a segment (or the index) with over this share of its vectors deleted is rewritten


def merge_plan(listed: Sequence[tuple[str, str, int]], tombstones: int,
               settings: VectorSettings, full: bool = False,
               dead: Mapping[str, int] | None = None) -> list[str]:
    """Which segments to merge now: all when asked (or when over a fifth of the vectors
    are deleted); an exact (flat) segment over a fifth deleted (`dead`: tombstones per
    segment), even alone, so that a small segment whose passages all went is dropped (an
    approximate one waits for the index's fifth: rewritten alone it could come back a
    smaller kind); all exact ones once together they reach the HNSW threshold; the
    smallest ones when there are too many segments (IVF-PQ ones aside). Empty when
    nothing needs doing."""
    names = [n for n, _, _ in listed]
    total = sum(v for _, _, v in listed)
    if full or (tombstones and tombstones > WORN * total):
        return names if len(names) > 1 or tombstones else []
    dead = dead or {}
    worn = {n for n, kind, v in listed if kind == seglib.FLAT and dead.get(n, 0) > WORN * v}
    chosen: set[str] = set(worn)
    flat = [(n, v) for n, kind, v in listed if kind == seglib.FLAT]
    if len(flat) > 1 and sum(v for _, v in flat) >= settings.approx_above:
        chosen |= {n for n, _ in flat}
    # IVF-PQ segments are as large as segments get: ten of them are searched faster than
    # one merged (all vectors in memory for minutes), so only the others count
    unsealed = [row for row in listed if row[1] != seglib.IVFPQ]
    if len(unsealed) > settings.max_segments:
        smallest = sorted(unsealed, key=lambda row: (row[2], row[0]))
        chosen |= {n for n, _, _ in smallest[: len(unsealed) - settings.max_segments // 2]}
    return sorted(chosen) if len(chosen) > 1 or worn else []


def needs_merge(directory: Path, settings: VectorSettings | None = None) -> bool:
    """Cheap check (three small queries) whether `merge` has anything to do. Per segment it
    bounds the tombstones it holds (catalogue.DeadCount); `merge` counts exactly and
    records the count, so that overlapping bounds start one merge, not one a write."""
    name = live_generation(directory)
    if name is None or not (directory / name / DATABASE).is_file():
        return False
    try:
        db = catalogue.connect_readonly(directory / name / DATABASE)
        try:
            listed = catalogue.segment_rows(db)
            dead = catalogue.counts(db)[3]
            known = catalogue.dead_counts(db) if dead else {}
        finally:
            db.close()
    except sqlite3.Error:
        return False
    bound = {n: count.at_most(dead) for n, count in known.items()}
    return bool(merge_plan(listed, dead, settings or VectorSettings.from_env(), dead=bound))


@dataclass
class _MergePlan:
    generation: str
    chosen: list[str]  # segments to merge
    kinds: dict[str, str]
    dead: np.ndarray  # tombstoned ids when planned
    dimension: int
    segment: str  # name reserved for the merged segment


def merge(directory: Path, *, full: bool = False,
          settings: VectorSettings | None = None) -> MergeReport | None:
    """Merge segments as `merge_plan` says, dropping deleted vectors; a merged segment at or
    above the threshold is built as HNSW. Only planning and the final commit hold the writer
    lock: a re-index runs while the merged segment is built (minutes at 1M vectors), like a
    search engine's background merges. One merge at a time."""
    settings = settings or VectorSettings.from_env()
    started = time.perf_counter()
    if not directory.is_dir():
        return None
    with exclusive(directory / MERGE_LOCK):
        plan = _plan_merge(directory, settings, full)
        if plan is None:
            return None
        path = directory / plan.generation
        written: list[Path] = []
        committed = False
        try:
            try:
                parts = [seglib.read(path, n, plan.kinds[n], plan.dimension)
                         for n in plan.chosen]
            except SegmentError as exc:
                raise IndexCorrupt(f"{exc}; {rebuild_hint(directory)}") from exc
            ids = np.concatenate([p.ids for p in parts])
            vectors = np.concatenate([p.all_vectors() for p in parts])
            del parts
            keep = ~np.isin(ids, plan.dead)
            merged, written = write_segment(path, plan.segment, ids[keep], vectors[keep],
                                             settings)
            del vectors
            committed = _commit_merge(directory, plan, merged, ids[~keep])
        finally:
            with contextlib.suppress(OSError):
                (path / f"{plan.segment}{MERGING_SUFFIX}").unlink()
            if not committed:
                for file in written:
                    with contextlib.suppress(OSError):
                        file.unlink()
    if not committed:
        return None  # a rebuild replaced the generation meanwhile: nothing left to merge
    return MergeReport(merged=len(plan.chosen), vectors=merged.size, kind=merged.kind,
                       dropped=int((~keep).sum()),
                       seconds=round(time.perf_counter() - started, 2))


def _plan_merge(directory: Path, settings: VectorSettings, full: bool) -> _MergePlan | None:
    """Under the writer lock, briefly: what to merge, and a reserved name for the result (a
    placeholder file, so that a writer meanwhile picks another name and leaves it alone)."""
    with writer_lock(directory):
        name = live_generation(directory)
        if name is None:
            return None
        path = directory / name
        db = catalogue.connect_writer(path / DATABASE)
        try:
            manifest = catalogue.read_manifest(db, path, directory)
            listed = catalogue.segment_rows(db)
            dead = catalogue.tombstone_ids(db)
            whole = full or len(dead) > WORN * sum(v for _, _, v in listed)
            held = ({} if whole or not len(dead)
                    else _dead_held(path, db, listed, dead, manifest.dimension))
            chosen = merge_plan(listed, len(dead), settings, full, dead=held)
            if not chosen:
                return None
            segment = next_segment_name(path, db)
        finally:
            db.close()
        (path / f"{segment}{MERGING_SUFFIX}").touch()
        return _MergePlan(name, chosen, {n: kind for n, kind, _ in listed}, dead,
                          manifest.dimension, segment)


def _dead_held(path: Path, db: sqlite3.Connection, listed: Sequence[tuple[str, str, int]],
               dead: np.ndarray, dimension: int) -> dict[str, int]:
    """Tombstones per exact segment, counted where it matters: one whose bound is over a
    fifth of its size has its ids read (bounds it lacked recorded), and the count kept with
    the bound it was taken at (catalogue.DeadCount). Approximate ones are not rewritten
    alone (merge_plan), so their ids are never read here."""
    known = catalogue.dead_counts(db)
    held: dict[str, int] = {}
    for name, kind, vectors in listed:
        if kind != seglib.FLAT:
            continue
        count = known.get(name, catalogue.DeadCount(None, None, None))
        held[name] = count.at_most(len(dead))
        if held[name] <= WORN * vectors:
            continue
        try:
            ids = seglib.read(path, name, kind, dimension).ids
        except SegmentError as exc:
            raise IndexCorrupt(f"{exc}; {rebuild_hint(path.parent)}") from exc
        held[name] = int(np.isin(ids, dead).sum())
        bound = count.bound
        if bound is None:  # recorded now; the tombstones within them, from the sorted ids
            catalogue.set_id_bounds(db, name, ids)
            bound = int(np.searchsorted(dead, ids.max(), "right")
                        - np.searchsorted(dead, ids.min(), "left")) if len(ids) else 0
        catalogue.set_dead_count(db, name, held[name], bound)
    return held


def _commit_merge(directory: Path, plan: _MergePlan, merged: Segment,
                  dropped: np.ndarray) -> bool:
    """Under the writer lock: swap the merged segment in for its parts in one transaction.
    Deletions made while it was built stay as tombstones (the merged segment holds those
    ids); only the tombstones of vectors it dropped go. False if a rebuild came between."""
    with writer_lock(directory):
        if live_generation(directory) != plan.generation:
            return False
        path = directory / plan.generation
        db = catalogue.connect_writer(path / DATABASE)
        try:
            db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(plan.chosen))
            still = db.execute(f"SELECT count(*) FROM segments WHERE name IN ({marks})",
                               plan.chosen).fetchone()[0]
            if still != len(plan.chosen):
                raise IndexCorrupt(f"{path}: segments {', '.join(plan.chosen)} changed during "
                                   "a merge; nothing was merged")
            manifest = catalogue.read_manifest(db, path, directory)
            # Tombstones of dropped vectors go, and their passages leave the lexical index
            # first, once deleted longer ago than a search can run: a search that began before
            # the deleting write may still read its version, which shows them (a merge right
            # after a re-index once emptied such searches). Younger ones stay pending (hidden
            # from searches, catalogue.hidden_ids) and go in a later write or merge. When the
            # lexical index is behind, all stay.
            prepared = lexical.in_step(path, manifest.version)
            if prepared:
                lexical.prepare(path, [], catalogue.take_lexical_pending(
                    db, time.time() - RETIRE_GRACE_SECONDS, among=dropped))
            # a passage still in the lexical index stays in lexical_pending, which hides it there
            if merged.size:
                list_segment(db, merged)
            db.executemany("DELETE FROM segments WHERE name = ?", [(n,) for n in plan.chosen])
            db.executemany("INSERT OR REPLACE INTO retired VALUES (?, ?)",
                           [(n, time.time()) for n in plan.chosen])
            db.executemany("DELETE FROM tombstones WHERE id = ?", [(int(i),) for i in dropped])
            manifest = replace(manifest, version=manifest.version + 1)
            catalogue.write_manifest(db, manifest)
            expired = expire_retired(db)
            db.execute("COMMIT")
        except BaseException:
            catalogue.rollback(db)
            raise
        finally:
            db.close()
        if prepared:
            lexical.finish(path, manifest.version)
        remove_segment_files(path, expired)
    return True
