"""The "quality" model (all-mpnet-base-v2): assembled from its five PyPI parts, verified by
hash, cached, loaded offline; the model aliases; bfloat16 against fp32. Real model, real part
files (the wheels `make install` downloaded and kept), no mocks."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from search import Index
from search.cli import main as cli_main
from search.config import FAST_MODEL, QUALITY_MODEL, Settings, canonical_model, default_model
from search.embed import models
from search.embed.embedder import Embedder, cpu_has_bf16, precision_for, resolve_model
from tests.conftest import CORPUS, FIRE

TEXTS = ["Peer support for officers after a traumatic incident.",
         "Ambulance staff sickness absence rose in 2023, mostly from stress and anxiety.",
         "The cafeteria menu changes every Tuesday."]


@pytest.fixture(scope="module")
def parts() -> list[Path]:
    """The part wheels kept by `make install` (fetched with pip only when missing)."""
    return models.download_parts()


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    with pytest.MonkeyPatch.context() as patch:  # nothing may reach for the hub
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        return Embedder("quality")


def passages(count: int = 4) -> list[str]:
    """Real passages from the seed corpus, a few hundred characters each."""
    text = (CORPUS / FIRE).read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]
    return [p[:1200] for p in paragraphs[:count]]


def test_aliases_resolve_to_canonical_names_and_folders():
    assert canonical_model("fast") == FAST_MODEL == "all-MiniLM-L6-v2"
    assert canonical_model("quality") == canonical_model("Quality") == QUALITY_MODEL
    assert canonical_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert Settings(model="quality").model == "all-mpnet-base-v2"  # what a manifest records
    assert Settings(model="fast") == Settings(model=FAST_MODEL)
    assert resolve_model("fast") == resolve_model(FAST_MODEL)
    assert Path(resolve_model("fast"), "config.json").is_file()  # the packaged MiniLM
    folder = models.installed()
    assert folder is not None, "run `make install` first"
    for name in ("quality", QUALITY_MODEL, f"sentence-transformers/{QUALITY_MODEL}"):
        assert resolve_model(name) == str(folder)
    assert resolve_model("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert resolve_model("/some/local/model") == "/some/local/model"


def test_env_model_alias_is_canonical(monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_MODEL", "quality")
    assert default_model() == QUALITY_MODEL


def test_missing_quality_model_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(models.ModelNotInstalled) as caught:
        resolve_model("quality")
    message = str(caught.value)
    assert "make install" in message and "python -m search.embed.models install" in message
    assert "\n" not in message
    with pytest.raises(models.ModelNotInstalled, match="make install"):
        Embedder("quality")


def test_install_assembles_verifies_and_then_skips(parts, tmp_path):
    root = tmp_path / "models"
    folder = models.install(parts=parts, root=root)
    assert folder == root / QUALITY_MODEL
    assert (folder / "model.safetensors").stat().st_size == 437_971_872
    assert not list(folder.rglob("desktop.ini"))
    assert sorted(p.name for p in root.iterdir()) == [f".{QUALITY_MODEL}.lock", QUALITY_MODEL]
    started = time.perf_counter()
    assert models.install(parts=[], root=root) == folder  # verified: no parts even looked at
    assert time.perf_counter() - started < 0.5
    (folder / "model.safetensors").touch()  # changed since it was hashed: no longer trusted
    assert models.installed(root=root) is None


def _pieces(parts: list[Path], into: Path) -> list[Path]:
    """The five byte-cut zip pieces, out of their wheels."""
    into.mkdir()
    out = []
    for wheel in parts:
        with zipfile.ZipFile(wheel) as archive:
            member = next(m for m in archive.namelist() if ".zip.0" in m)
            out.append(into / Path(member).name)
            out[-1].write_bytes(archive.read(member))
    return out


def test_install_refuses_a_corrupted_part_and_leaves_nothing(parts, tmp_path):
    pieces = _pieces(parts, tmp_path / "pieces")
    with open(pieces[2], "r+b") as handle:  # one byte flipped, mid-weights
        handle.seek(50_000_000)
        byte = handle.read(1)
        handle.seek(50_000_000)
        handle.write(bytes([byte[0] ^ 0x01]))
    root = tmp_path / "models"
    with pytest.raises(models.ModelInstallError, match=r"^refusing all-mpnet-base-v2: .*corrupt"
                       r".*nothing was installed$") as caught:
        models.install(parts=pieces, root=root)
    assert "\n" not in str(caught.value)
    assert [p.name for p in root.iterdir()] == [f".{QUALITY_MODEL}.lock"]  # no folder, no temp
    assert models.installed(root=root) is None
    with pytest.raises(models.ModelInstallError, match="parts 5 not found"):
        models.install(parts=pieces[:4], root=root)


def test_install_refuses_weights_with_another_hash(parts, tmp_path):
    other = dataclasses.replace(models.MPNET, sha256="0" * 64)
    root = tmp_path / "models"
    with pytest.raises(models.ModelInstallError,
                       match=f"model.safetensors has sha256 {models.MPNET.sha256}, expected "
                             f"{'0' * 64}"):
        models.install(other, parts=parts, root=root)
    assert [p.name for p in root.iterdir()] == [f".{QUALITY_MODEL}.lock"]


def test_quality_loads_offline_and_embeds_768d_unit_vectors(quality):
    assert quality.name == QUALITY_MODEL
    assert quality.dimension == 768 and quality.max_seq_length == 384
    assert quality.max_chunk_tokens() >= Settings().chunk_tokens  # 384 - 2 - 48 = 334
    vectors = quality.encode(TEXTS)
    assert vectors.shape == (3, 768) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    question = quality.encode(["support for police after trauma"])[0]
    assert question @ vectors[0] > question @ vectors[2] + 0.2


def test_index_records_the_model_behind_the_alias(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("Peer support is offered after a traumatic incident.\n")
    assert cli_main(["index", str(corpus), "--model", "quality", "--index",
                     str(tmp_path / "index"), "-q"]) == 0
    stats = Index(tmp_path / "index").stats()
    assert (stats.model, stats.dimension) == (QUALITY_MODEL, 768)


@pytest.mark.skipif(not cpu_has_bf16(), reason="no native bfloat16 on this CPU")
@pytest.mark.parametrize("name", ["fast", "quality"])
def test_bf16_vectors_agree_with_fp32(name, quality):
    texts = passages() + TEXTS
    fp32 = quality if name == "quality" else Embedder(name)
    bf16 = Embedder(name, precision="bf16")
    assert bf16.precision == "bf16"
    reference, vectors = fp32.encode(texts, batch_size=8), bf16.encode(texts, batch_size=8)
    cosines = np.sum(reference * vectors, axis=1)
    assert cosines.min() >= 0.99, cosines
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_precision_env(monkeypatch):
    monkeypatch.setenv("EVIDENCE_SEARCH_PRECISION", "fp32")
    assert precision_for("quality", "index") == "fp32"
    monkeypatch.setenv("EVIDENCE_SEARCH_PRECISION", "bf16")
    assert precision_for("fast", "query") == ("bf16" if cpu_has_bf16() else "fp32")
    monkeypatch.setenv("EVIDENCE_SEARCH_PRECISION", "half")
    with pytest.raises(ValueError, match="EVIDENCE_SEARCH_PRECISION"):
        precision_for("fast", "query")
    with pytest.raises(ValueError, match="precision"):
        Embedder("fast", precision="fp16")


def test_index_accepts_the_alias_of_the_model_it_was_built_with(tmp_path):
    from search import Index
    from tests.conftest import copy_corpus

    corpus = copy_corpus(tmp_path / "corpus")
    Index(tmp_path / "index").refresh([corpus])
    hits = Index(tmp_path / "index", model="fast").search("peer support after trauma", k=1)
    assert hits and hits[0].citation


@pytest.mark.skipif(not cpu_has_bf16(), reason="no native bfloat16 on this CPU")
def test_bf16_vectors_stay_right_under_an_openmp_thread_limit():
    """OMP_THREAD_LIMIT below torch's thread count once made bf16 vectors garbage (cosine
    ~0.5 to fp32); the embedder now runs torch within the limit."""
    script = ("import numpy as np; from search.embed.embedder import Embedder; "
              "t=['Peer support after a traumatic incident.', 'Hello world']; "
              "a=Embedder('fast').encode(t); b=Embedder('fast', precision='bf16').encode(t); "
              "print(float((a*b).sum(1).min()))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "OMP_THREAD_LIMIT": "1"}, timeout=300, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) >= 0.99


def test_passages_run_on_the_runtime_measured_fastest_with_pytorchs_vectors(monkeypatch,
                                                                             tmp_path):
    """Indexing times each runtime that gives the fp32 PyTorch model's vectors on this CPU
    and keeps the fastest, recorded in the cache (read, not measured, next time);
    EVIDENCE_SEARCH_PASSAGE_RUNTIME names one instead; a bad value is one line."""
    import json

    from search.embed.embedder import EMBEDDERS, get_embedder

    monkeypatch.setenv("EVIDENCE_SEARCH_CACHE", str(tmp_path))
    texts = passages() + TEXTS
    reference = Embedder("fast").encode(texts, batch_size=8)
    EMBEDDERS.clear()
    try:
        fast = get_embedder("fast", "index")
        record = json.loads((tmp_path / "runtime-choice.json").read_text())
        (choice,) = record.values()
        timed = choice["passages_per_second"]
        assert fast.runtime == choice["label"] == max(timed, key=timed.get)
        assert {"torch fp32", f"openvino {'bf16' if cpu_has_bf16() else 'fp32'}"} <= set(timed)
        cosines = np.sum(fast.encode(texts, batch_size=8) * reference, axis=1)
        assert cosines.min() >= 0.999, cosines  # MiniLM is not admitted to int8
        monkeypatch.setenv("EVIDENCE_SEARCH_PASSAGE_RUNTIME", "openvino")
        assert get_embedder("fast", "index").runtime.startswith("openvino")
        monkeypatch.setenv("EVIDENCE_SEARCH_PASSAGE_RUNTIME", "torch")
        assert get_embedder("fast", "index").runtime.startswith("torch")  # not frozen
        monkeypatch.setenv("EVIDENCE_SEARCH_PASSAGE_RUNTIME", "tpu")
        with pytest.raises(ValueError, match="EVIDENCE_SEARCH_PASSAGE_RUNTIME: 'auto', "
                                             "'openvino', 'openvino-int8', 'torch', not 'tpu'"):
            get_embedder("fast", "index")
    finally:
        EMBEDDERS.clear()
