"""Property-based tests: on any Unicode input, loaders and chunker never raise, chunk offsets
always point at the chunk text, and no body text is lost between chunks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.ingest.chunker import chunk_document
from search.ingest.loaders import LoadError, load_file
from search.ingest.structure import build_document

# Fixed examples in CI (a green run stays green); HYPOTHESIS_RANDOM=1 explores afresh.
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")),
                    deadline=None, database=None,
                    derandomize=os.environ.get("HYPOTHESIS_RANDOM") is None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

line = st.one_of(
    st.text(min_size=0, max_size=120),
    st.builds(lambda t: f"# {t}", st.text(min_size=1, max_size=40)),
    st.builds(lambda t: f"- {t}", st.text(min_size=1, max_size=80)),
    st.builds(lambda n, t: f"{n}. {t}?", st.integers(1, 30), st.text(min_size=1, max_size=80)),
    st.builds(lambda t: f"**{t}**", st.text(min_size=1, max_size=40)),
    st.sampled_from(["LONDON ASSEMBLY", "January 2026", "", "Page 3", "Contents\t4"]),
)
documents = st.lists(line, min_size=1, max_size=40).map("\n".join)


def load_text(text: str, suffix: str = ".md"):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"doc{suffix}"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            raw = load_file(path)
        except LoadError as exc:
            assert exc.reason
            return None
        return build_document(raw, "doc", "doc")


@SETTINGS
@given(text=documents, budget=st.integers(min_value=16, max_value=200))
def test_chunks_point_at_their_text_and_cover_the_body(embedder, text: str, budget: int):
    doc = load_text(text)
    if doc is None:
        return
    for page in doc.pages:
        assert 0 <= page.start <= page.end <= len(doc.text)
    chunks = chunk_document(doc, embedder.count_tokens, budget)
    covered = [False] * len(doc.text)
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert embedder.count_tokens([chunk.text])[0] <= budget or \
            len(chunk.text.split()) == 1  # a single word longer than the budget stays whole
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    for block in doc.blocks:
        if block.kind in ("para", "item"):
            lost = [doc.text[i] for i in range(block.start, block.end)
                    if not covered[i] and not doc.text[i].isspace()]
            assert not lost, (doc.text[block.start:block.end], lost)


@SETTINGS
@given(raw=st.binary(max_size=2000))
def test_text_loader_never_crashes_on_bytes(raw: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.txt"
        path.write_bytes(raw)
        try:
            build_document(load_file(path), "doc", "doc")
        except LoadError as exc:
            assert exc.reason


plain_line = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Nd"),
                                            blacklist_characters="*_#-•–▪●◦\u2028\u2029\x85"),
                     min_size=1, max_size=80)


@SETTINGS
@given(lines=st.lists(plain_line, min_size=1, max_size=30, unique=True))
def test_loader_keeps_every_character_of_plain_text(lines: list[str]):
    text = "\n\n".join(lines)
    doc = load_text(text, ".txt")
    if doc is None:
        assert not text.strip()
        return
    assert "".join(doc.text.split()) == "".join(text.split())
