"""The shipped reader weights: checked by sha256, loaded through ONNX Runtime, scoring sanely.

Real weights, no mocks; each test is a few ONNX runs on short inputs (well under 10 s).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from search.reader import MODEL_NAME, OnnxReader, Reader, ReaderWeightsError, load_reader
from search.reader.model import WEIGHTS
from search.reader.windows import sentence_spans, window

QUESTION = "What is the capital city of France?"
ANSWER = "Paris is the capital and largest city of France, on the river Seine."
UNRELATED = "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar."


@pytest.fixture(scope="module")
def reader() -> OnnxReader:
    return load_reader(threads=1)


def test_loads_once_and_is_a_reader(reader: OnnxReader) -> None:
    assert isinstance(reader, Reader)
    assert reader.name == MODEL_NAME
    assert load_reader(threads=1) is reader


def test_one_finite_float_per_passage_and_deterministic(reader: OnnxReader) -> None:
    passages = [ANSWER, UNRELATED, "France.", ""]
    first = reader.score(QUESTION, passages)
    assert first.shape == (4,) and first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, reader.score(QUESTION, passages))
    # Padding is masked, so a passage's score barely depends on its batch mates; int8 dynamic
    # quantisation picks activation scales per batch, hence a small tolerance, not equality.
    # Without VNNI, ONNX Runtime's AVX2 u8s8 kernels pair products in saturating 16-bit adds:
    # 0.12 apart was seen on an AVX2-only AMD EPYC, under 0.1 with VNNI.
    alone = reader.score(QUESTION, [ANSWER])
    np.testing.assert_allclose(alone[0], first[0], atol=0.1 if _has_vnni() else 0.2)


def _has_vnni() -> bool:
    from search.embed.runtime_choice import cpu_info

    return bool({"avx512_vnni", "avx_vnni"} & cpu_info()[1])


def test_answering_passage_scores_higher(reader: OnnxReader) -> None:
    scores = reader.score(QUESTION, [UNRELATED, ANSWER])
    assert scores[1] > scores[0]


def test_empty_list_gives_empty_array(reader: OnnxReader) -> None:
    out = reader.score(QUESTION, [])
    assert isinstance(out, np.ndarray) and out.shape == (0,)


def test_tampered_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    data = bytearray((copy / "reader.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "reader.onnx").write_bytes(bytes(data))
    with pytest.raises(ReaderWeightsError, match="reader.onnx: sha256 mismatch"):
        OnnxReader(copy, threads=1)


def test_missing_checksums_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "weights"
    shutil.copytree(WEIGHTS, copy)
    (copy / "SHA256SUMS").unlink()
    with pytest.raises(ReaderWeightsError, match="SHA256SUMS: missing"):
        OnnxReader(copy, threads=1)


def test_window_keeps_best_sentences_in_reading_order() -> None:
    text = "First one here. Second one here! Third one here? Fourth."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans][:2] == ["First one here.", "Second one here!"]
    assert window(text, [spans[2], spans[0], spans[1]], 2) == "First one here. Third one here?"
    assert window(text, [], 2) == text


def test_a_question_longer_than_the_window_is_scored_not_refused():
    from search.reader import load_reader

    long_question = "what support is there " * 200
    scores = load_reader().score(long_question, ["Peer support is offered.", "Cafes"])
    assert scores.shape == (2,) and np.isfinite(scores).all()
