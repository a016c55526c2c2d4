"""Which runtime embeds passages on this CPU: measured, not assumed.

The same model is fastest on different runtimes on different CPUs (on an AMX Xeon MiniLM ran
faster on PyTorch bf16 than on OpenVINO bf16, mpnet the other way round; on an AMD EPYC
without AMX OpenVINO won for both). So the first time a model indexes on a machine, each
runtime that gives its vectors is timed on a few passages and the fastest is kept, recorded
in `<cache>/runtime-choice.json` under the model and the CPU (name, bf16/AMX/VNNI flags,
threads, library versions); later runs read the record (plain JSON: delete it to measure
again). Only runtimes whose vectors agree with fp32 PyTorch's are timed (encoders.check).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from search import config
from search.config import QUALITY_MODEL, default_precision
from search.embed.encoders import Encoder, load_encoder

log = logging.getLogger(__name__)
RECORD = "runtime-choice.json"
SAMPLE = 12  # passages timed per runtime (after one warm-up batch)
QUESTIONS = ["What peer support do officers get after a traumatic incident?", "EMDR therapy",
             "How much does the occupational health contract cost each year?",
             "where can crews rest between jobs", "section 136 detentions", "Who chairs it?",
             "How are call handlers supported after distressing calls?", "stress risk"]
# int8 passage vectors are admitted only for models whose search quality it was measured not
# to hurt (docs/EVALUATION.md: SciFact nDCG@10 and the dev split with int8 against bf16).
INT8_MODELS = frozenset({QUALITY_MODEL})


@dataclass(frozen=True)
class Choice:
    """What was measured for one model on one CPU, and what won."""

    runtime: str  # load_encoder's runtime name
    precision: str
    label: str  # e.g. "openvino int8"
    passages_per_second: dict[str, float]  # texts per second: passages, or questions
    cpu: str
    measured_at: str


@lru_cache(maxsize=1)
def cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name (else the machine type) and its flags, from /proc/cpuinfo: what
    the runtime choice, the question bundle and the tests that depend on VNNI key on."""
    name, flags = platform.machine(), frozenset[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and name == platform.machine():
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return name, flags


@lru_cache(maxsize=1)
def cpu_signature() -> str:
    """This CPU as the choice depends on it: its name, the flags that select kernels, and the
    versions of the runtimes."""
    name, flags = cpu_info()
    wanted = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")
    versions = []
    for module in ("torch", "openvino"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except ImportError:
            continue
    return " | ".join([name, " ".join(f for f in wanted if f in flags) or "no bf16/vnni",
                       *versions])


def candidates(model: str, precision: str, role: str = "index") -> list[tuple[str, str]]:
    """(runtime, precision) pairs worth timing. precision "fp32" (EVIDENCE_SEARCH_PRECISION=
    fp32) keeps the model's exact vectors: no bf16, no int8. Questions are timed on ONNX
    Runtime and OpenVINO only (PyTorch is the slowest for one short text everywhere measured)
    and never in int8, so that they keep the vectors passages were compared with."""
    if role == "query":
        out = [("onnx", "fp32"), ("openvino", "fp32")]
        if precision == "bf16":
            out.append(("openvino", "bf16"))
        return out
    out = [("torch", precision), ("openvino", precision)]
    if precision == "bf16":
        out.insert(0, ("torch", "fp32"))
    if default_precision() != "fp32" and model in INT8_MODELS and cpu_has_int8():
        out.append(("openvino-int8", "fp32"))
    return out


@lru_cache(maxsize=1)
def cpu_has_int8() -> bool:
    """int8 dot-product instructions (VNNI or AMX): where int8 can beat bf16 and fp32."""
    return any(flag in cpu_signature() for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def choose(model: str, st_model: Any, location: Path, precision: str, threads: int,
           role: str = "index") -> Encoder:
    """The fastest encoder for this model on this CPU and role ("index": passages in
    batches; "query": one question at a time), measured once and remembered."""
    key = (f"{model} @ {location} | {cpu_signature()} | {threads} threads | {precision}"
           + (" | questions" if role == "query" else ""))
    record = _read()
    known = record.get(key)
    if isinstance(known, dict) and known.get("runtime"):
        try:
            return _load(st_model, location, known["runtime"], known["precision"], threads,
                         measuring=False)
        except Exception as exc:  # noqa: BLE001 - measure again below
            log.warning("%s: recorded runtime %s failed to load (%s); measuring again",
                        model, known.get("label"), exc)
    timings: dict[str, float] = {}
    best: tuple[float, Encoder | None, str, str] = (-1.0, None, "torch", "fp32")
    texts = QUESTIONS if role == "query" else _sample(st_model)
    for runtime, prec in candidates(model, precision, role):
        try:
            encoder = _load(st_model, location, runtime, prec, threads)
        except Exception as exc:  # noqa: BLE001 - a runtime that does not load is skipped
            log.warning("%s: %s %s unusable (%s: %s)", model, runtime, prec,
                        type(exc).__name__, exc)
            continue
        speed = _speed(encoder, texts, batch=1 if role == "query" else 16)
        timings[encoder.runtime] = round(speed, 2)
        if speed > best[0]:
            best = (speed, encoder, runtime, prec)
    _, encoder, runtime, prec = best
    if encoder is None:  # nothing loaded: plain PyTorch, unrecorded
        return load_encoder(st_model, location, "torch", "fp32")
    choice = Choice(runtime, prec, encoder.runtime, timings, cpu_signature(),
                    time.strftime("%Y-%m-%dT%H:%M:%S"))
    record[key] = asdict(choice)
    _write(record)
    log.info("%s: %s embedded with %s (measured %s per second)", model,
             "questions" if role == "query" else "passages", encoder.runtime, timings)
    return encoder


def _load(st_model: Any, location: Path, runtime: str, precision: str, threads: int,
          measuring: bool = True) -> Encoder:
    if measuring and runtime == "torch" and precision == "bf16":
        st_model = copy.deepcopy(st_model)  # the cast must not touch the fp32 reference
    return load_encoder(st_model, location, runtime, precision, threads)


def _sample(st_model: Any) -> list[str]:
    from search.embed.openvino_runtime import calibration_texts

    tokenizer, limit = st_model.tokenizer, int(st_model.max_seq_length) - 2
    out = []
    for text in calibration_texts()[:SAMPLE]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:limit]
        out.append(tokenizer.decode(ids))
    return out


def _speed(encoder: Encoder, texts: list[str], rounds: int = 2, batch: int = 16) -> float:
    """Texts per second, the best of `rounds` (another process's burst only slows one);
    batch 1 times one question at a time, as a search embeds it."""
    encoder.encode(texts[:2], batch_size=batch)  # warm-up: first calls compile and allocate
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            encoder.encode(texts[start:start + batch], batch_size=batch)
        best = max(best, len(texts) / max(time.perf_counter() - started, 1e-9))
    return best


def _path() -> Path:
    return config.cache_dir() / RECORD


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(record: dict[str, Any]) -> None:
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: measured again next time, nothing lost
        log.warning("could not record the runtime choice in %s (%s)", path, exc)
