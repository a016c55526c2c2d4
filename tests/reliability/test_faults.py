"""Damaged index files, a full disk, two writers at once."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from search import Index
from tests.conftest import copy_corpus
from tests.reliability.helpers import ROOT, add_bulk, cli, indexed


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    corpus = copy_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    Index(index_dir).refresh([corpus])
    return corpus, index_dir


def live_dir(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage\xff" * 100)


def sql(statement: str):
    def spoil(path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.execute(statement)
        db.close()
    return spoil


DAMAGE = {
    "truncated FAISS segment": ("seg-000001.faiss", truncate),
    "garbage FAISS segment": ("seg-000001.faiss", garbage),
    "deleted FAISS segment": ("seg-000001.faiss", Path.unlink),
    "truncated SQLite file": ("meta.sqlite", truncate),
    "garbage SQLite file": ("meta.sqlite", garbage),
    "deleted SQLite file": ("meta.sqlite", Path.unlink),
    "garbage manifest": ("meta.sqlite", sql("UPDATE manifest SET value = '{' "
                                            "WHERE key = 'dimension'")),
    "manifest without the model": ("meta.sqlite", sql("DELETE FROM manifest "
                                                      "WHERE key = 'model'")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_file_gives_a_clear_error_and_rebuild_recovers(built, damage: str):
    corpus, index_dir = built
    name, spoil = DAMAGE[damage]
    target = live_dir(index_dir) / name
    spoil(target)
    result = cli("query", "peer support", "--index", str(index_dir))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0, message  # one line
    assert name in message and "evidence-search index --rebuild" in message
    assert "Traceback" not in message
    fixed = cli("index", str(corpus), "--rebuild", "--index", str(index_dir), "-q")
    assert fixed.returncode == 0, fixed.stderr
    assert len(indexed(index_dir)) == 2


def test_disk_full_during_a_write_keeps_the_old_index(built):
    corpus, index_dir = built
    before = (live_dir(index_dir).name, indexed(index_dir))
    add_bulk(corpus, 3)
    # The writer may not create files over 60 KB: its copy of the database fails part way,
    # as on a full disk (SIGXFSZ ignored, so writes fail with EFBIG instead of killing it).
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000)); "
            "from search.cli import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run([sys.executable, "-c", code, "index", str(corpus), "--index",
                             str(index_dir), "-q"], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 2, result.stderr
    assert "could not write the index" in result.stderr
    assert "previous index is unchanged" in result.stderr
    assert (live_dir(index_dir).name, indexed(index_dir)) == before
    assert sorted(p.name for p in index_dir.glob("gen-*")) == [before[0]]  # nothing left over
    assert sorted(p.name for p in live_dir(index_dir).glob("seg-*")) == ["seg-000001.faiss"]
    assert cli("index", str(corpus), "--index", str(index_dir), "-q").returncode == 0
    assert len(indexed(index_dir)) == 5


def test_two_writers_at_once_wait_for_each_other(built, tmp_path: Path):
    corpus, index_dir = built
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(corpus, one)
    shutil.copytree(corpus, two)
    new = add_bulk(one, 4, tag="a") | add_bulk(two, 4, tag="b")
    procs = [subprocess.Popen([sys.executable, "-m", "search", "index", str(folder), "--index",
                               str(index_dir), "-q"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for folder in (one, two)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert any("another re-index is running; waiting" in err for _, err in outputs)
    docs = indexed(index_dir)
    assert {Path(d).name for d in new} <= {Path(d).name for d in docs}
    assert len(docs) == 2 + 2 + 2 + 8  # the seed corpus thrice (three folders) and 8 new
