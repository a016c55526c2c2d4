"""Uploads: names sanitised, content checked, size bounded, written only inside the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.web.uploads import safe_name, save_upload


@pytest.mark.parametrize("name, expected", [
    ("../../x.pdf", "x.pdf"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("C:\\Users\\me\\report.PDF", "report.pdf"),
    ("evil\x00name.pdf", "evilname.pdf"),
    ("line\nbreak.md", "linebreak.md"),
    (".hidden.txt", "hidden.txt"),
    ("...", "upload"),
    ("<script>.txt", "_script_.txt"),
])
def test_names_are_sanitised(name: str, expected: str):
    assert safe_name(name) == expected


def write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / "incoming" / name.replace("/", "_")
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_content_must_match_the_type(tmp_path: Path):
    corpus = tmp_path / "corpus"
    exe = write(tmp_path, "tool.pdf", b"MZ\x90\x00\x03 not a pdf")
    assert "not a PDF" in save_upload(exe, "tool.pdf", corpus).reason
    binary = write(tmp_path, "b.txt", b"abc\x00def")
    assert "NUL" in save_upload(binary, "b.txt", corpus).reason
    latin = write(tmp_path, "l.txt", "café".encode("latin-1"))
    assert "UTF-8" in save_upload(latin, "l.txt", corpus).reason
    other = write(tmp_path, "x.exe", b"MZ")
    assert "unsupported" in save_upload(other, "x.exe", corpus).reason
    assert not (corpus / "uploads").exists() or not any((corpus / "uploads").iterdir())


def test_size_is_bounded(tmp_path: Path):
    big = write(tmp_path, "big.txt", b"a" * 2048)
    result = save_upload(big, "big.txt", tmp_path / "corpus", max_bytes=1024)
    assert result.path is None and "too large" in result.reason


def test_saved_inside_the_corpus_with_unique_names(tmp_path: Path):
    corpus = tmp_path / "corpus"
    a = write(tmp_path, "a.txt", b"first version\n")
    b = write(tmp_path, "b.txt", b"second version\n")
    first = save_upload(a, "../../../notes.txt", corpus)
    second = save_upload(b, "notes.txt", corpus)
    again = save_upload(a, "notes.txt", corpus)
    assert first.path == corpus.resolve() / "uploads" / "notes.txt"
    assert second.path == corpus.resolve() / "uploads" / "notes-2.txt"
    assert again.path == first.path  # the same bytes are not stored twice
    assert sorted(p.name for p in tmp_path.rglob("notes*")) == ["notes-2.txt", "notes.txt"]


def test_a_link_asks_for_a_checked_search():
    from search.web.app import link_search

    known = ["corpus/a.txt", "corpus/b.pdf"]
    assert link_search({}, known) is None and link_search({"q": "  "}, known) is None
    assert link_search({"q": " peer   support ", "k": "3", "mode": "lexical",
                        "docs": "corpus/b.pdf,../etc/passwd"}, known) == (
        "peer support", 3, "lexical", ["corpus/b.pdf"], "")
    assert link_search({"q": "x", "k": "500", "mode": "<script>"}, known) == (
        "x", 20, "hybrid", [], "")
    assert link_search({"q": "x", "section": "  Key   findings "}, known)[4] == "Key findings"
    commas = ["corpus/minutes, 3 May.txt", "corpus/a.txt"]
    assert link_search({"q": "x", "docs": ["corpus/minutes, 3 May.txt", "corpus/a.txt"]},
                       commas)[3] == commas  # repeated docs=, ids with commas kept whole
    assert link_search({"q": "x", "docs": "corpus/minutes, 3 May.txt"}, commas)[3] == \
        ["corpus/minutes, 3 May.txt"]
    assert link_search({"q": "x", "k": "many"}, known)[1] == 5
