"""Bad files get one clear line each, the rest indexes, and nothing indexed is lost."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from search import Index
from tests.conftest import FIRE, PDFS, ROOT, copy_corpus

BAD = {
    "needs-password.pdf": ("pypdf-resources/encrypted-file.pdf", "needs a password"),
    "aes-needs-password.pdf": ("pypdf-resources/encryption/r4-aes-user-password.pdf",
                               "needs a password"),
    "broken.pdf": ("sample-files/017-unreadable-meta-data/unreadablemetadata.pdf",
                   "corrupt or unreadable PDF"),
    "scanned.pdf": ("sample-files/019-grayscale-image/grayscale-image.pdf",  # a photo, OCR'd
                    "no text: page 1: OCR found no readable words"),
}


def make_bad_corpus(root: Path) -> dict[str, str]:
    """A corpus of good documents plus one of every kind of bad file; returns name -> reason."""
    copy_corpus(root)
    reasons = {}
    for name, (source, reason) in BAD.items():
        shutil.copy(PDFS / source, root / name)
        reasons[name] = reason
    (root / "zero-bytes.pdf").write_bytes(b"")
    reasons["zero-bytes.pdf"] = "empty file"
    (root / "not-really.pdf").write_bytes(b"MZ\x90\x00 this is an executable, not a PDF")
    reasons["not-really.pdf"] = "not a PDF"
    (root / "blank.txt").write_text("  \n\n \t\n")
    reasons["blank.txt"] = "empty file"
    (root / "latin1.txt").write_bytes("Caf\xe9 for crews".encode("latin-1"))
    reasons["latin1.txt"] = "not UTF-8"
    (root / "minutes.docx").write_bytes(b"PK\x03\x04 docx")
    reasons["minutes.docx"] = "not a Word document (not a zip file)"
    (root / "slides.pptx").write_bytes(b"PK\x03\x04 pptx")
    reasons["slides.pptx"] = "unsupported file type '.pptx'"
    shutil.copy(PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf", root / "good.pdf")
    shutil.copy(PDFS / "pypdf-resources/encryption/r6-empty-password.pdf",
                root / "empty-password.pdf")  # encrypted, opens with the empty password
    return reasons


def test_each_bad_file_gets_its_reason_and_the_rest_indexes(tmp_path: Path, store_at):
    reasons = make_bad_corpus(tmp_path / "corpus")
    index = Index(store_at(tmp_path / "index"))
    report = index.refresh([tmp_path / "corpus"])
    failed = {Path(p).name: why for p, why in report.failed}
    assert set(failed) == set(reasons)
    for name, reason in reasons.items():
        assert reason in failed[name], (name, failed[name])
    indexed = {Path(d.doc_id).name for d in index.documents()}
    assert indexed == {FIRE, "2019-04_mayor-of-london_improving-the-mets-response-to-mental-health"
                       ".txt", "good.pdf", "empty-password.pdf"}


def test_cli_prints_one_line_per_failure_and_exits_1(tmp_path: Path, store_at):
    reasons = make_bad_corpus(tmp_path / "corpus")
    result = subprocess.run(
        [sys.executable, "-m", "search", "index", str(tmp_path / "corpus"),
         "--store", store_at(tmp_path / "index"), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("failed: ")]
    assert len(lines) == len(reasons)
    for name, reason in reasons.items():
        line = next(x for x in lines if f"/{name}: " in x)
        assert reason in line
    assert "4 added" in result.stdout and f"{len(reasons)} failed" in result.stdout


def test_a_file_that_turns_bad_keeps_its_last_good_version(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    shutil.copy(PDFS / "sample-files/004-pdflatex-4-pages/pdflatex-4-pages.pdf", corpus / "r.pdf")
    index = Index(store_at(tmp_path / "index"))
    index.refresh([corpus])
    before = {d.doc_id: d.chunks for d in index.documents()}
    (corpus / "r.pdf").write_bytes(b"%PDF-1.4\n garbage that is no longer a PDF")
    (corpus / FIRE).write_bytes(b"\xff\xfe\x00broken encoding \xff")
    report = index.refresh([corpus])
    assert {Path(p).name for p, _ in report.failed} == {"r.pdf", FIRE}
    assert {d.doc_id: d.chunks for d in index.documents()} == before
    assert any("Circa 11,000" in h.text
               for h in index.search("psychological monitoring of officers", k=5))


def test_missing_path_is_reported_not_fatal(tmp_path: Path, store_at):
    corpus = copy_corpus(tmp_path / "corpus")
    report = Index(store_at(tmp_path / "index")).refresh([corpus, tmp_path / "nowhere"])
    assert report.failed == [(str(tmp_path / "nowhere"), "no such file or directory")]
    assert len(report.added) == 2


@pytest.mark.parametrize("query", ["", "   "])
def test_cli_empty_query_is_an_error_not_a_crash(tmp_path: Path, query: str):
    result = subprocess.run([sys.executable, "-m", "search", "query", query, "--index",
                             str(tmp_path / "none")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ")
    assert "Traceback" not in result.stderr
