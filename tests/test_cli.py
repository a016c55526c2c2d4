"""The command line: query with citations, --json, info, and where the index lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from search import Index
from tests.conftest import ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300, env={**os.environ, **(env or {})})


def test_query_prints_ranked_cited_passages(corpus_index: Index):
    result = run("query", "How many Met officers are in regular psychological monitoring?",
                 "-k", "3", "--index", str(corpus_index.directory))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1. [")
    assert "p. 7 — Metropolitan Police Service › 2" in result.stdout
    assert "Circa 11,000" in result.stdout


def test_query_json_lines_carry_hit_fields(corpus_index: Index):
    result = run("query", "Wellbeing cafes for call handlers", "-k", "4", "--json",
                 env={"EVIDENCE_SEARCH_INDEX": str(corpus_index.directory)})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4
    for key in ("text", "score", "doc_id", "title", "path", "page", "section", "start", "end",
                "citation"):
        assert key in rows[0]
    cafes = [r for r in rows if "Wellbeing Cafes" in r["text"]]
    assert cafes and cafes[0]["page"] == 5


def test_info_reports_documents_chunks_model_and_size(corpus_index: Index):
    result = run("--index", str(corpus_index.directory), "info")
    assert result.returncode == 0, result.stderr
    for label in ("documents: 2", "chunks:", "model: all-MiniLM-L6-v2", "built at:",
                  "size on disk:"):
        assert label in result.stdout
    assert "London Assembly Fire Committee written evidence (Jan 2026)  [8 p." in result.stdout
    as_json = json.loads(run("info", "--json", "--index", str(corpus_index.directory)).stdout)
    assert as_json["documents"] == 2 and as_json["chunks"] == corpus_index.stats().chunks


def test_missing_index_says_how_to_build_one(tmp_path):
    result = run("query", "rest breaks", "--index", str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "evidence-search index" in result.stderr and "Traceback" not in result.stderr
