"""SQLite's locks are POSIX advisory locks, held per process: closing any descriptor of a
database drops all of them, its connections' included. Another process closing its last
connection then takes itself for the last one and deletes the write-ahead log under this
one's readers (their next read: "disk I/O error"). Nothing here may open the file itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from search import Index
from search.store.local import catalogue
from search.store.local.layout import DATABASE, live_generation
from tests.conftest import copy_corpus

OTHER_PROCESS = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                 "c.execute('SELECT count(*) FROM manifest').fetchone(); c.close()")


def test_checking_and_reading_ahead_keep_this_processs_locks(tmp_path: Path):
    index = Index(tmp_path / "index")
    index.refresh([copy_corpus(tmp_path / "corpus")])
    database = tmp_path / "index" / live_generation(tmp_path / "index") / DATABASE
    wal = database.with_name(DATABASE + "-wal")
    assert index.search("peer support after a traumatic incident", k=1)  # a reader is open
    assert wal.exists()
    catalogue.check_file(database, index.directory)  # each generation's open runs it
    assert index.prefetch() is not None and index.prefetch().files >= 2
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(database)], check=True,
                   timeout=60)
    assert wal.exists()  # the other process saw this one's connection and left the log
    assert index.search("How many Met officers are in regular psychological monitoring?",
                        k=1)
