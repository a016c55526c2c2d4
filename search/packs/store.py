"""PackStore: evidence packs in one SQLite file beside the index, safe for several tabs.

Every call opens its own connection (WAL, busy_timeout) and runs one short transaction; a
call that reads then writes takes the write lock first (BEGIN IMMEDIATE), so two PackStore
instances or threads editing one pack interleave whole operations and positions stay dense.
Ids are never reused (AUTOINCREMENT): a stale tab naming a removed passage gets a PackError,
never someone else's passage.
"""

from __future__ import annotations

import json
import operator
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search.packs.rules import (
    MAX_NAME_CHARS,
    MAX_NOTE_CHARS,
    MAX_PACK_PASSAGES,
    PackConflict,
    PackError,
    PackNotFound,
    whole_citation,
)
from search.records import Hit, KeptPassage, Pack

SCHEMA_VERSION = 3  # 2: passages keep their marked sentences (highlights); 3: printed pages
MAX_HIGHLIGHTS = 4
BUSY_TIMEOUT_MS = 15_000  # how long a write waits for another tab's transaction

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS packs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS passages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pack_id INTEGER NOT NULL REFERENCES packs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        text TEXT NOT NULL,
        citation TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        title TEXT NOT NULL,
        path TEXT NOT NULL,
        page INTEGER,
        page_end INTEGER,
        section TEXT NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        question TEXT NOT NULL,
        mode TEXT NOT NULL,
        kept_at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        doc_sha256 TEXT NOT NULL,
        ocr INTEGER NOT NULL,
        highlights TEXT NOT NULL DEFAULT '[]',
        page_label TEXT,
        page_end_label TEXT,
        UNIQUE (pack_id, doc_id, start, "end"))""",
    "CREATE INDEX IF NOT EXISTS passages_in_order ON passages (pack_id, position)",
)
_COLUMNS = ("pack_id, position, text, citation, doc_id, title, path, page, page_end, section, "
            'start, "end", question, mode, kept_at, note, doc_sha256, ocr, highlights, '
            "page_label, page_end_label")
# What each older schema lacks, added in place (user_version says which it is).
_UPGRADES = {1: ("ALTER TABLE passages ADD COLUMN highlights TEXT NOT NULL DEFAULT '[]'",),
             2: ("ALTER TABLE passages ADD COLUMN page_label TEXT",
                 "ALTER TABLE passages ADD COLUMN page_end_label TEXT")}
_PACK_SELECT = ("SELECT p.id, p.name, p.created_at, p.updated_at, "
                "(SELECT COUNT(*) FROM passages s WHERE s.pack_id = p.id) AS count FROM packs p")
_NOTE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class PackStore:
    """The packs of one index, in the SQLite file at `path` (made on the first write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False  # schema checked by this instance
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PackStore({str(self.path)!r})"

    # Packs

    def packs(self) -> list[Pack]:
        """Every pack, the most recently changed first."""
        with self._read() as conn:
            if conn is None:
                return []
            rows = conn.execute(_PACK_SELECT + " ORDER BY p.updated_at DESC, p.id DESC")
            return [_pack(row) for row in rows]

    def create(self, name: str) -> Pack:
        name = clean_name(name)
        with self._write() as conn:
            _refuse_taken(conn, name)
            stamp = now()
            cursor = conn.execute("INSERT INTO packs (name, name_key, created_at, updated_at) "
                                  "VALUES (?, ?, ?, ?)", (name, name_key(name), stamp, stamp))
            return _pack_row(conn, cursor.lastrowid)

    def get(self, pack_id: int) -> Pack:
        pack_id = _whole(pack_id, "pack id")
        with self._read() as conn:
            if conn is None:
                raise PackNotFound(f"no pack with id {pack_id}")
            return _pack_row(conn, pack_id)

    def find(self, name: str) -> Pack | None:
        """The pack with this name, compared as names are kept unique (case, spacing)."""
        if not isinstance(name, str):
            return None
        key = name_key(" ".join(name.split()))
        with self._read() as conn:
            if conn is None or not key:
                return None
            row = conn.execute(_PACK_SELECT + " WHERE p.name_key = ?", (key,)).fetchone()
            return _pack(row) if row else None

    def rename(self, pack_id: int, name: str) -> Pack:
        pack_id, name = _whole(pack_id, "pack id"), clean_name(name)
        with self._write() as conn:
            _pack_row(conn, pack_id)
            _refuse_taken(conn, name, pack_id)
            conn.execute("UPDATE packs SET name = ?, name_key = ?, updated_at = ? WHERE id = ?",
                         (name, name_key(name), now(), pack_id))
            return _pack_row(conn, pack_id)

    def delete(self, pack_id: int) -> None:
        """The pack and every passage in it."""
        pack_id = _whole(pack_id, "pack id")
        with self._write() as conn:
            _pack_row(conn, pack_id)
            conn.execute("DELETE FROM passages WHERE pack_id = ?", (pack_id,))
            conn.execute("DELETE FROM packs WHERE id = ?", (pack_id,))

    # Passages

    def keep(self, pack_id: int, hit: Hit, question: str, mode: str = "",
             doc_sha256: str = "") -> KeptPassage:
        """Append a search hit to the pack; a passage already in it is returned unchanged."""
        return self.keep_many(pack_id, [(hit, question, mode, doc_sha256)])[0]

    def keep_many(self, pack_id: int,
                  kept: Sequence[tuple[Hit, str, str, str]]) -> list[KeptPassage]:
        """Append (hit, question, mode, doc_sha256) tuples in one transaction, in order; one
        KeptPassage per tuple (the existing one for a passage already kept). Refused whole
        when the new passages would take the pack past MAX_PACK_PASSAGES."""
        pack_id = _whole(pack_id, "pack id")
        rows = [_passage_values(entry, n) for n, entry in enumerate(kept)]
        with self._write() as conn:
            pack = _pack_row(conn, pack_id)
            found: dict[tuple[str, int, int], KeptPassage] = {}
            new: dict[tuple[str, int, int], tuple[Any, ...]] = {}
            for values in rows:
                key = (values[2], values[8], values[9])
                if key in found or key in new:
                    continue
                old = conn.execute('SELECT * FROM passages WHERE pack_id = ? AND doc_id = ? '
                                   'AND start = ? AND "end" = ?', (pack_id, *key)).fetchone()
                if old is not None and values[12] and old["doc_sha256"] != values[12]:
                    # kept before its document changed: keeping it again takes the new text
                    conn.execute(
                        "UPDATE passages SET text = ?, citation = ?, title = ?, path = ?, "
                        "page = ?, page_end = ?, section = ?, doc_sha256 = ?, ocr = ?, "
                        "highlights = ?, page_label = ?, page_end_label = ? WHERE id = ?",
                        (*values[:2], *values[3:8], *values[12:17], old["id"]))
                    found[key] = _passage_row(conn, old["id"])
                elif old is not None:
                    found[key] = _passage(old)
                else:
                    new[key] = values
            if new:
                _refuse_overflow(pack, len(new))
                stamp = now()
                conn.executemany(
                    f"INSERT INTO passages ({_COLUMNS}) VALUES "
                    f"({', '.join('?' * 21)})",
                    [(pack_id, pack.count + n, *values[:12], stamp, "", *values[12:])
                     for n, values in enumerate(new.values())])
                added = conn.execute("SELECT * FROM passages WHERE pack_id = ? AND position >= ?"
                                     " ORDER BY position", (pack_id, pack.count))
                for row in added:
                    item = _passage(row)
                    found[(item.doc_id, item.start, item.end)] = item
                _touch(conn, pack_id)
            return [found[(values[2], values[8], values[9])] for values in rows]

    def kept_spans(self, pack_id: int) -> list[tuple[str, int, int]]:
        """Which passages the pack holds, as (doc_id, start, end) in pack order, without their
        text: what the page needs to show Kept."""
        pack_id = _whole(pack_id, "pack id")
        with self._read() as conn:
            if conn is None:
                raise PackNotFound(f"no pack with id {pack_id}")
            _pack_row(conn, pack_id)
            return [(r[0], int(r[1]), int(r[2])) for r in conn.execute(
                'SELECT doc_id, start, "end" FROM passages WHERE pack_id = ? ORDER BY position',
                (pack_id,))]

    def holds(self, pack_id: int, doc_id: str, start: int, end: int) -> bool:
        """Whether the pack already holds this passage (keeping it again keeps it once)."""
        with self._read() as conn:
            return conn is not None and conn.execute(
                'SELECT 1 FROM passages WHERE pack_id = ? AND doc_id = ? AND start = ? '
                'AND "end" = ?', (_whole(pack_id, "pack id"), doc_id, start, end)
            ).fetchone() is not None

    def items(self, pack_id: int, offset: int = 0, limit: int | None = None
              ) -> list[KeptPassage]:
        """The pack's passages in order; `offset` and `limit` page through a long pack."""
        pack_id, offset = _whole(pack_id, "pack id"), _whole(offset, "offset")
        if offset < 0:
            raise PackError(f"offset must be 0 or more (got {offset})")
        if limit is not None and _whole(limit, "limit") < 0:
            raise PackError(f"limit must be 0 or more (got {limit})")
        with self._read() as conn:
            if conn is None:
                raise PackNotFound(f"no pack with id {pack_id}")
            _pack_row(conn, pack_id)
            rows = conn.execute("SELECT * FROM passages WHERE pack_id = ? ORDER BY position "
                                "LIMIT ? OFFSET ?", (pack_id, -1 if limit is None else limit,
                                                     offset))
            return [_passage(row) for row in rows]

    def item(self, item_id: int) -> KeptPassage:
        item_id = _whole(item_id, "passage id")
        with self._read() as conn:
            if conn is None:
                raise PackError(_GONE)
            return _passage_row(conn, item_id)

    def remove(self, item_id: int) -> None:
        """Take a passage out of its pack; the ones after it move up."""
        item_id = _whole(item_id, "passage id")
        with self._write() as conn:
            item = _passage_row(conn, item_id)
            conn.execute("DELETE FROM passages WHERE id = ?", (item_id,))
            conn.execute("UPDATE passages SET position = position - 1 "
                         "WHERE pack_id = ? AND position > ?", (item.pack_id, item.position))
            _touch(conn, item.pack_id)

    def move(self, item_id: int, position: int) -> KeptPassage:
        """Put a passage at a 0-based position (clamped to the pack); the others shift."""
        item_id, position = _whole(item_id, "passage id"), _whole(position, "position")
        with self._write() as conn:
            return _move(conn, _passage_row(conn, item_id), position)

    def step(self, item_id: int, step: int) -> KeptPassage:
        """Move a passage `step` places from where it is *now* (-1 up, +1 down): what a tab
        showing an older order means by ↑ and ↓."""
        item_id, step = _whole(item_id, "passage id"), _whole(step, "step")
        with self._write() as conn:
            item = _passage_row(conn, item_id)
            return _move(conn, item, max(0, item.position + step))

    def set_note(self, item_id: int, note: str, was: str | None = None) -> KeptPassage:
        """Write a note. `was`: the note as the writer last saw it; when another tab changed
        it since, nothing is written and PackConflict carries the note as it is now."""
        item_id, note = _whole(item_id, "passage id"), clean_note(note)
        with self._write() as conn:
            item = _passage_row(conn, item_id)
            if was is not None and clean_note(was) != item.note:
                raise PackConflict("this note was changed in another tab or window: "
                                   "reload to see it", item)
            conn.execute("UPDATE passages SET note = ? WHERE id = ?", (note, item_id))
            _touch(conn, item.pack_id)
            return _passage_row(conn, item_id)

    # Connections

    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode (transactions are explicit), schema ready."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise PackError(f"cannot open the packs file {self.path}: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._ready:
                with self._ready_lock:
                    _migrate(conn, self.path)
                    self._ready = True
        except sqlite3.Error as exc:
            conn.close()
            raise PackError(f"cannot use the packs file {self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection | None]:
        """One consistent snapshot, or None when no pack was ever written (no file made)."""
        if not self.path.exists():
            yield None
            return
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            try:
                conn.execute(begin)
            except sqlite3.OperationalError as exc:
                raise PackError(f"the packs file is busy ({exc}): try again") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise PackError(f"the packs file {self.path} failed ({exc}): nothing was "
                                    "changed; try again") from exc
                raise
        finally:
            conn.close()


_GONE = "that passage is no longer in the pack"


def now() -> str:
    """ISO 8601 UTC to the microsecond, so 'newest first' holds for quick successive edits."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def clean_name(name: str) -> str:
    """A pack name as stored: whitespace collapsed; refused when empty, too long or holding
    control characters. Markup and path characters stay: names are escaped where shown."""
    if not isinstance(name, str):
        raise PackError(f"pack name must be text (got {type(name).__name__})")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PackError("pack name is empty: give the pack a name")
    bad = next((ch for ch in cleaned if unicodedata.category(ch) in ("Cc", "Cs", "Cf")), None)
    if bad is not None:  # Cf: bidi overrides and invisible marks that disguise a name
        raise PackError(f"pack name holds a control character ({ascii(bad)}): remove it")
    if len(cleaned) > MAX_NAME_CHARS:
        raise PackError(f"pack name is {len(cleaned)} characters long: at most "
                        f"{MAX_NAME_CHARS} are allowed")
    return cleaned


def name_key(name: str) -> str:
    """How names are compared for uniqueness: case and compatibility forms folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def clean_note(note: str) -> str:
    """A note as stored: control characters other than newline and tab dropped (\\r\\n
    becomes \\n), refused beyond MAX_NOTE_CHARS."""
    if not isinstance(note, str):
        raise PackError(f"note must be text (got {type(note).__name__})")
    cleaned = _NOTE_CONTROLS.sub("", note)
    if len(cleaned) > MAX_NOTE_CHARS:
        raise PackError(f"note is {len(cleaned):,} characters long: at most "
                        f"{MAX_NOTE_CHARS:,} are allowed")
    return cleaned


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema, or check it: a file from a newer version is not touched."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise PackError(f"the packs file {path} was written by a newer version "
                        f"(schema {version}, this one reads {SCHEMA_VERSION}): upgrade")
    if version == SCHEMA_VERSION:
        return
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in _SCHEMA:
                conn.execute(statement)
        else:
            for step in range(version, SCHEMA_VERSION):
                for statement in _UPGRADES[step]:
                    conn.execute(statement)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _whole(value: Any, field: str) -> int:
    """An id, position, offset or limit as an int; bools and text are refused."""
    if isinstance(value, bool):
        raise PackError(f"{field} must be a whole number (got {value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise PackError(f"{field} must be a whole number (got {value!r})") from None
    if not -2**63 <= number < 2**63:  # what SQLite can hold; beyond, no such row anyway
        raise PackError(f"{field} is out of range (got {number})")
    return number


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise PackError(f"{field} must be text (got {type(value).__name__})")
    return value


def _page(value: Any, field: str) -> int | None:
    return None if value is None else _whole(value, field)


MAX_LABEL_CHARS = 40


def _label(value: Any, field: str) -> str | None:
    """A printed page number ("17", "iii", "S-1"): text, cut at MAX_LABEL_CHARS (it comes
    from the PDF; a long one is no reason to refuse the passage), or None."""
    if value is None:
        return None
    text = " ".join(_text(value, field).split())[:MAX_LABEL_CHARS]
    return text or None


def _passage_values(entry: tuple[Hit, str, str, str], n: int) -> tuple[Any, ...]:
    """One (hit, question, mode, doc_sha256) checked before anything is written, as the
    column values text, citation, doc_id, title, path, page, page_end, section, start, end,
    question, mode, doc_sha256, ocr, highlights, page_label, page_end_label (kept_at and note
    are added at insert)."""
    try:
        hit, question, mode, sha = entry
    except (TypeError, ValueError):
        raise PackError(f"passage {n + 1}: expected (hit, question, mode, doc_sha256)") from None
    try:
        text, start, end = hit.text, hit.start, hit.end
        fields = (hit.citation, hit.doc_id, hit.title, hit.path, hit.page, hit.page_end,
                  hit.section, getattr(hit, "ocr", False))
    except AttributeError as exc:
        raise PackError(f"passage {n + 1}: not a search hit ({exc})") from None
    citation, doc_id, title, path, page, page_end, section, ocr = fields
    text = _text(text, "passage text")
    if not text.strip():
        raise PackError(f"passage {n + 1}: the passage text is empty")
    start, end = _whole(start, "passage start"), _whole(end, "passage end")
    if not 0 <= start <= end:
        raise PackError(f"passage {n + 1}: start {start} and end {end} are not a span")
    return (text, _text(citation, "citation"), _text(doc_id, "doc_id"), _text(title, "title"),
            _text(path, "path"), _page(page, "page"), _page(page_end, "page_end"),
            _text(section, "section"), start, end,
            " ".join(_NOTE_CONTROLS.sub(" ", _text(question, "question")).split()),
            _text(mode, "mode").strip(), _text(sha, "doc_sha256").strip(), int(bool(ocr)),
            json.dumps(_highlights(getattr(hit, "highlights", ()), len(text), n)),
            _label(getattr(hit, "page_label", None), "page_label"),
            _label(getattr(hit, "page_end_label", None), "page_end_label"))


def _highlights(spans: Any, length: int, n: int) -> list[list[int]]:
    """Marked sentences as [start, end] pairs inside the passage, at most MAX_HIGHLIGHTS."""
    try:
        pairs = [(_whole(a, "highlight start"), _whole(b, "highlight end")) for a, b in spans]
    except (TypeError, ValueError):
        raise PackError(f"passage {n + 1}: highlights must be (start, end) pairs") from None
    if len(pairs) > MAX_HIGHLIGHTS or any(not 0 <= a < b <= length for a, b in pairs):
        raise PackError(f"passage {n + 1}: highlights must be at most {MAX_HIGHLIGHTS} spans "
                        f"inside the passage's {length} characters")
    return [[a, b] for a, b in pairs]


def _refuse_taken(conn: sqlite3.Connection, name: str, pack_id: int | None = None) -> None:
    row = conn.execute("SELECT id, name FROM packs WHERE name_key = ?",
                       (name_key(name),)).fetchone()
    if row is not None and row["id"] != pack_id:
        raise PackError(f"a pack named '{row['name']}' already exists: choose another name")


def _refuse_overflow(pack: Pack, adding: int) -> None:
    if pack.count + adding <= MAX_PACK_PASSAGES:
        return
    if pack.count >= MAX_PACK_PASSAGES:
        raise PackError(f"pack '{pack.name}' is full ({MAX_PACK_PASSAGES:,} passages): "
                        "start a new pack")
    raise PackError(f"pack '{pack.name}' has room for {MAX_PACK_PASSAGES - pack.count:,} more "
                    f"passages, not {adding:,} (at most {MAX_PACK_PASSAGES:,}): nothing was "
                    "kept; start a new pack")


def _move(conn: sqlite3.Connection, item: KeptPassage, position: int) -> KeptPassage:
    """Inside a write: `item` to `position` (clamped), the passages between shifted by one."""
    count = conn.execute("SELECT COUNT(*) FROM passages WHERE pack_id = ?",
                         (item.pack_id,)).fetchone()[0]
    target = min(max(position, 0), count - 1)
    if target == item.position:
        return item
    if target < item.position:
        conn.execute("UPDATE passages SET position = position + 1 WHERE pack_id = ? "
                     "AND position >= ? AND position < ?", (item.pack_id, target, item.position))
    else:
        conn.execute("UPDATE passages SET position = position - 1 WHERE pack_id = ? "
                     "AND position > ? AND position <= ?", (item.pack_id, item.position, target))
    conn.execute("UPDATE passages SET position = ? WHERE id = ?", (target, item.id))
    _touch(conn, item.pack_id)
    return _passage_row(conn, item.id)


def _touch(conn: sqlite3.Connection, pack_id: int) -> None:
    conn.execute("UPDATE packs SET updated_at = ? WHERE id = ?", (now(), pack_id))


def _pack_row(conn: sqlite3.Connection, pack_id: int | None) -> Pack:
    row = conn.execute(_PACK_SELECT + " WHERE p.id = ?", (pack_id,)).fetchone()
    if row is None:
        raise PackNotFound(f"no pack with id {pack_id}")
    return _pack(row)


def _passage_row(conn: sqlite3.Connection, item_id: int) -> KeptPassage:
    row = conn.execute("SELECT * FROM passages WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise PackNotFound(_GONE)
    return _passage(row)


def _pack(row: sqlite3.Row) -> Pack:
    return Pack(id=row["id"], name=row["name"], created_at=row["created_at"],
                updated_at=row["updated_at"], count=row["count"])


def _passage(row: sqlite3.Row) -> KeptPassage:
    return KeptPassage(
        id=row["id"], pack_id=row["pack_id"], position=row["position"], text=row["text"],
        citation=whole_citation(row["citation"], row["section"]), doc_id=row["doc_id"],
        title=row["title"], path=row["path"],
        page=row["page"], page_end=row["page_end"], section=row["section"],
        start=row["start"], end=row["end"], question=row["question"], mode=row["mode"],
        kept_at=row["kept_at"], note=row["note"], doc_sha256=row["doc_sha256"],
        ocr=bool(row["ocr"]),
        highlights=tuple((int(a), int(b)) for a, b in json.loads(row["highlights"] or "[]")),
        page_label=row["page_label"], page_end_label=row["page_end_label"])
