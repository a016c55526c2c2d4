"""Indexing on Ray (a real local Ray instance) builds the index local indexing builds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from search import Index
from tests.conftest import PDFS, ROOT, copy_corpus


def test_indexing_on_ray_matches_local_indexing(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    shutil.copy(PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf",
                corpus / "paged.pdf")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n not really a PDF")
    local, on_ray = Index(tmp_path / "local"), Index(tmp_path / "ray")
    want = local.refresh([corpus])
    got = on_ray.refresh([corpus], ray=True)  # starts a private Ray instance, then stops it
    assert sorted(got.added) == sorted(want.added) and len(got.added) == 3
    assert got.failed and [Path(p).name for p, _ in got.failed] == ["broken.pdf"]
    assert got.failed[0][1] == want.failed[0][1]  # the same reason, found on a Ray worker
    with local.snapshot() as a, on_ray.snapshot() as b:
        ids_a, vectors_a = a.live_vectors()
        ids_b, vectors_b = b.live_vectors()
        assert ids_a.tolist() == ids_b.tolist()
        rows_a, rows_b = a.chunks(ids_a.tolist()), b.chunks(ids_b.tolist())
        assert rows_a == rows_b  # passages, offsets, pages and sections
        cosine = np.sum(vectors_a * vectors_b, axis=1)
        assert cosine.min() >= 0.999
        sent_a, sent_b = a.sentences(ids_a.tolist()), b.sentences(ids_b.tolist())
        assert sent_a.keys() == sent_b.keys()
        for i in sent_a:
            assert sent_a[i].spans == sent_b[i].spans
            assert np.sum(sent_a[i].vectors * sent_b[i].vectors, axis=1).min() >= 0.999
    question = "How many Met officers are in regular psychological monitoring?"
    assert [h.citation for h in on_ray.search(question, k=3)] == \
        [h.citation for h in local.search(question, k=3)]


def test_a_ray_address_that_does_not_answer_is_one_line_and_loses_nothing(tmp_path: Path):
    corpus = copy_corpus(tmp_path / "corpus")
    index = Index(tmp_path / "index")
    index.refresh([corpus])
    before = index.stats().chunks
    (corpus / "new.md").write_text("# Rota\n\nCall handlers asked for protected breaks.\n")
    result = subprocess.run(
        [sys.executable, "-m", "search", "index", str(corpus), "--index",
         str(tmp_path / "index"), "--ray", "127.0.0.1:1", "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --ray 127.0.0.1:1: no Ray cluster")
    assert "ray start --head" in lines[0]
    assert Index(tmp_path / "index").stats().chunks == before
